"""One cluster, one key: the spellings of an address that name the same cluster agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.adapters.backends.cluster_identity import check_ray_address, cluster_key
from suanli.errors import InvalidInput

CONF = """# a Slurm cluster
ClusterName=hz
SlurmctldHost=ctl-a(10.0.0.5)
SlurmctldPort=6817
NodeName=n1 Gres=gpu:h100:8
"""


def test_ray_addresses_that_name_one_head_give_one_key() -> None:
    keys = {
        cluster_key("ray", address, {})
        for address in ("http://127.0.0.1:8265", "http://localhost:8265/", "HTTP://LOCALHOST:8265")
    }
    assert len(keys) == 1
    assert cluster_key("ray", "http://127.0.0.1:8266", {}) not in keys


def test_a_copy_of_a_slurm_conf_names_the_same_controller(tmp_path: Path) -> None:
    original = tmp_path / "a" / "slurm.conf"
    copy = tmp_path / "b" / "slurm.conf"
    for path in (original, copy):
        path.parent.mkdir()
        path.write_text(CONF)
    options = {"partition": "gpu"}
    assert cluster_key("slurm", str(original), options) == cluster_key("slurm", str(copy), options)
    assert cluster_key("slurm", str(original), {"partition": "cpu"}) != cluster_key(
        "slurm", str(copy), options
    )
    assert "hz@10.0.0.5:6817/gpu" in cluster_key("slurm", str(original), options)


def test_numeric_spellings_of_a_host_give_the_key_of_the_address_the_resolver_reaches() -> None:
    """Before: `127.1`, `0x7f000001`... gave their own keys, so a second provider could claim
    a head another one had connected as http://127.0.0.1:8265."""
    spellings = (
        "127.0.0.1", "127.1", "127.0.1", "0x7f000001", "0X7F.1", "2130706433", "0177.0.0.1",
        "127.0.0.01", "127.0.0.1.", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "0", "0.0.0.0",
        "[::]", "[::1]", "[0:0:0:0:0:0:0:1]", "localhost", "LOCALHOST.", "ip6-localhost",
    )  # fmt: skip
    keys = {cluster_key("ray", f"http://{host}:8265", {}) for host in spellings}
    assert keys == {"ray:127.0.0.1:8265"}
    assert cluster_key("ray", "http://127.0.0.1:08265/", {}) == "ray:127.0.0.1:8265"
    assert cluster_key("ray", "http://[2001:DB8:0::1]:80", {}) == "ray:2001:db8::1:80"
    for other in ("127.0.0.2", "10.0.0.5", "256.0.0.1", "1.2.3.4.5", "ray.example"):
        assert cluster_key("ray", f"http://{other}:8265", {}) not in keys


@pytest.mark.parametrize(
    "address",
    ["http://127.0.0.1:99999", "http://127.0.0.1:-1", "http://[zz]:80", "http://[::1", "http://",
     "", "not a url", "http://h:" + "9" * 5_000, "http://" + "1" * 5_000, "http://h:²"],
)  # fmt: skip
def test_any_stored_address_gets_a_key_without_raising(address: str) -> None:
    """The key is computed for rows of any age (the migration that added it too)."""
    assert cluster_key("ray", address, {}).startswith("ray:")


@pytest.mark.parametrize(
    ("address", "plain"),
    [
        ("http://127.1:8265", None), ("http://0:8265", None), ("http://[::ffff:1.2.3.4]:1", None),
        ("http://a:b@h:1", None), ("http://h:1/x", None), ("http://h:1?x", None),
        ("http://h:70000", None), ("http://[zz]:1", None), ("http://1.2.3.256:1", None),
        ("http://127.0.0.1:8265", "ok"), ("https://ray.example.com:8443/", "ok"),
        ("http://[2001:db8::1]:8265", "ok"), ("http://0.0.0.0:8265", "ok"),
    ],
)  # fmt: skip
def test_only_plain_ray_addresses_pass_the_check(address: str, plain: str | None) -> None:
    if plain is None:
        with pytest.raises(InvalidInput) as refused:
            check_ray_address(address)
        assert refused.value.field == "address"
        assert len(refused.value.text_en) < 300 and refused.value.text_zh != refused.value.text_en
    else:
        check_ray_address(address)
