"""One cluster, one key: the spellings of an address that name the same cluster agree."""

from __future__ import annotations

from pathlib import Path

from suanli.adapters.backends.cluster_identity import cluster_key

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
