"""What a provider types into a new connection is checked before suanli contacts the cluster:
every bad address, oversized value or refusal is a 4xx naming its field, nothing is stored,
and nothing is sent anywhere (build_backend, the only way to a cluster, is never called)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from suanli.adapters.backends.fake import FakeBackend
from suanli.adapters.db.tables_connections import ClusterConnectionRow
from suanli.adapters.secrets import SECRET_BYTES_MAX
from suanli.errors import PermissionDenied
from suanli.services import connections
from suanli.services.common import Page, Principal
from tests.helpers import City, build_city, make_app

PORT = 18717  # nothing listens there: a fake backend stands in for the cluster
HEAD = f"http://127.0.0.1:{PORT}"


@pytest.fixture
def city(tmp_path: Path, database_url: str) -> Iterator[City]:
    app = make_app(tmp_path, database_url)
    yield build_city(app)
    app.close()


@pytest.fixture
def clusters_asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Addresses a backend was built for: a fake Ray head with 8 H100, reached at any address."""
    asked: list[str] = []

    def build(record: Any) -> FakeBackend:
        asked.append(record.address)
        return FakeBackend(kind="ray", free_cards={"H100-SXM": 8})

    monkeypatch.setattr(connections, "build_backend", build)
    return asked


def add(city: City, token: str, language: str = "en", **body: Any) -> Any:
    headers = {"Accept-Language": language}
    return city.post(token, "/v1/connections", {"name": "c", "kind": "ray", **body}, headers)


def stored(city: City) -> int:
    with city.app.db.session() as session:
        return int(session.scalar(sa.text("SELECT count(*) FROM cluster_connections")))


# -- addresses ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "address",
    [
        # ports that do not parse (were 500: ValueError Port out of range / could not be cast)
        f"{HEAD[:-6]}:99999",
        f"{HEAD[:-6]}:-1",
        f"{HEAD[:-6]}:abc",
        f"{HEAD[:-6]}:0",
        "http://127.0.0.1:",
        # hosts that do not parse (were 500: AddressValueError)
        "http://[zz]:80",
        "http://[::1:80",
        "http://1.2.3.4.5:80",
        "http://ray head:80",
        "http://:80",
        # other spellings of 127.0.0.1 and of this host (were 201: a second claim on one head)
        f"http://127.0.0.01:{PORT}",
        f"http://127.1:{PORT}",
        f"http://0x7f000001:{PORT}",
        f"http://2130706433:{PORT}",
        f"http://0177.0.0.1:{PORT}",
        f"http://[::ffff:127.0.0.1]:{PORT}",
        f"http://0:{PORT}",
        f"http://127.0.0.1.:{PORT}",
        # a password, and a query or fragment or path that would replace the API's paths
        f"http://raysvc:S3cretPW@127.0.0.1:{PORT}",
        f"http://raysvc@127.0.0.1:{PORT}",
        f"{HEAD}/some/path?x=1#f",
        f"{HEAD}/?a",
        f"{HEAD}#f",
        f"{HEAD}/some/path",
    ],
)
def test_a_ray_address_that_is_not_plain_is_a_422_naming_it_before_any_network_call(
    city: City, clusters_asked: list[str], address: str
) -> None:
    for language in ("en", "zh-CN"):
        reply = add(city, city.provider, language, address=address)
        assert (reply.status_code, reply.json()["field"]) == (422, "address"), reply.text
        assert "S3cretPW" not in reply.text
    assert clusters_asked == [] and stored(city) == 0


def test_a_password_in_the_address_is_refused_pointing_at_credentials(
    city: City, clusters_asked: list[str]
) -> None:
    reply = add(city, city.provider, address=f"http://raysvc:S3cretPW@127.0.0.1:{PORT}")
    assert reply.status_code == 422 and "credentials" in reply.json()["message"], reply.text


def test_a_numeric_spelling_is_refused_naming_the_plain_one(
    city: City, clusters_asked: list[str]
) -> None:
    for address, plain in ((f"http://0x7f000001:{PORT}", "127.0.0.1"), ("http://0:80", "0.0.0.0")):
        reply = add(city, city.provider, address=address)
        assert f"write the host as {plain}" in reply.json()["message"], reply.text


def test_every_spelling_of_a_claimed_head_is_a_409_for_another_provider(
    city: City, clusters_asked: list[str]
) -> None:
    first = add(city, city.provider, address=HEAD)
    assert first.status_code == 201, first.text
    for address in (
        HEAD,
        f"{HEAD}/",
        f"http://localhost:{PORT}",
        f"http://LOCALHOST.:{PORT}/",
        f"http://0.0.0.0:{PORT}",  # the unspecified address reaches this host
        f"http://[::1]:{PORT}",
        f"http://[::]:{PORT}",
        f"https://127.0.0.1:{PORT}",
        f"http://127.0.0.1:0{PORT}",
    ):
        reply = add(city, city.other_provider, address=address, name="mine")
        assert (reply.status_code, reply.json()["field"]) == (409, "address"), (address, reply.text)
    assert stored(city) == 1


def test_a_plain_address_still_connects(city: City, clusters_asked: list[str]) -> None:
    reply = add(city, city.provider, address=f"{HEAD}/")
    assert reply.status_code == 201, reply.text
    assert clusters_asked == [f"{HEAD}/"]


def test_a_password_stored_before_it_was_refused_is_never_shown(city: City) -> None:
    address = f"http://raysvc:S3cretPW@127.0.0.1:{PORT}"
    with city.app.db.session() as session:
        session.add(
            ClusterConnectionRow(
                id="conn_old", provider_id=city.provider_id, name="old", kind="ray",
                address=address, options={}, healthy=True, last_error="", capacity={},
                created_at=datetime.now(UTC), review_state="pending", cluster_key="ray:old",
            )
        )  # fmt: skip
    shown = f"http://raysvc:***@127.0.0.1:{PORT}"
    assert city.get(city.provider, "/v1/connections/conn_old").json()["address"] == shown
    for token, query in ((city.provider, ""), (city.operator, "?review_state=pending")):
        listed = city.get(token, f"/v1/connections{query}")
        assert "S3cretPW" not in listed.text and shown in listed.text, listed.text


# -- sizes --------------------------------------------------------------------------------------
def test_oversized_credentials_are_a_422_naming_them_before_the_cluster_sees_them(
    city: City, clusters_asked: list[str]
) -> None:
    """Before: 500 secret_key_error without a field, after the token had gone to the cluster."""
    room = SECRET_BYTES_MAX - len(json.dumps({"token": ""}))
    too_big = add(city, city.provider, address=HEAD, credentials={"token": "t" * (room + 1)})
    assert (too_big.status_code, too_big.json()["field"]) == (422, "credentials"), too_big.text
    assert len(too_big.text) < 1_000
    assert clusters_asked == [] and stored(city) == 0
    fits = add(city, city.provider, address=HEAD, credentials={"token": "t" * room})
    assert fits.status_code == 201, fits.text  # the limit is exactly what can be sealed


def test_an_oversized_option_is_a_422_naming_it_and_is_never_stored(
    city: City, clusters_asked: list[str]
) -> None:
    names = {"H100-SXM": "q" * 500_000}
    reply = add(city, city.provider, address=HEAD, options={"accelerator_names": names})
    assert (reply.status_code, reply.json()["field"]) == (422, "options.accelerator_names")
    assert len(reply.text) < 1_000
    reply = add(city, city.provider, address=HEAD, options={"timezone": "x" * 5_000})
    assert (reply.status_code, reply.json()["field"]) == (422, "options.timezone"), reply.text
    assert clusters_asked == [] and stored(city) == 0


@pytest.mark.parametrize("where", ["credentials", "options"])
def test_unknown_names_are_echoed_cut_short(
    city: City, clusters_asked: list[str], where: str
) -> None:
    """Before: a 100,000-character credential name came back whole in the message."""
    body: dict[str, Any] = {"address": HEAD, where: {"k" * 100_000: "v"}}
    huge = add(city, city.provider, **body)
    assert (huge.status_code, huge.json()["field"]) == (422, where), huge.text[:300]
    assert len(huge.text) < 1_000
    unknown = add(city, city.provider, **{**body, where: {"k" * 60: "v"}})
    assert unknown.status_code == 422 and len(unknown.text) < 1_000, unknown.text
    assert unknown.json()["field"] == f"{where}.{'k' * 60}"
    assert clusters_asked == [] and stored(city) == 0


def test_a_long_unknown_accelerator_name_is_echoed_cut_short(
    city: City, clusters_asked: list[str]
) -> None:
    reply = add(city, city.provider, address=HEAD, options={"accelerator_names": {"Z" * 4000: "z"}})
    assert (reply.status_code, reply.json()["field"]) == (422, "options.accelerator_names")
    assert "Z" * 100 not in reply.text, reply.text[:300]


# -- languages and refusals ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "value", "english"),
    [
        ("bin_dir", "/opt/slurm/bin", "only the operator may point suanli at other Slurm"),
        ("allow_root", True, "jobs never run as root through the API"),
    ],
)
def test_host_options_are_refused_in_the_readers_language(
    city: City, tmp_path: Path, option: str, value: object, english: str
) -> None:
    """Before: English only, whatever the reader's language (the default is zh-CN)."""
    options = {"partition": "gpu", "gres_type": "h100", "log_dir": str(tmp_path)}
    body = {"kind": "slurm", "options": {**options, "run_as": "jobs", option: value}}
    replies = {
        language: add(city, city.provider, language, **body).json() for language in ("zh-CN", "en")
    }
    assert {reply["field"] for reply in replies.values()} == {f"options.{option}"}
    assert english in replies["en"]["message"]
    assert english not in replies["zh-CN"]["message"]
    assert any("\u4e00" <= char <= "\u9fff" for char in replies["zh-CN"]["message"])


def test_every_refusal_of_the_caller_names_a_field(city: City) -> None:
    """Before: a provider claiming for another provider got a 403 without a field."""
    other = add(city, city.provider, address=HEAD, provider_id="org_someone_else")
    assert (other.status_code, other.json()["field"]) == (403, "provider_id"), other.text
    enterprise = add(city, city.enterprise, address=HEAD)
    assert (enterprise.status_code, enterprise.json()["field"]) == (403, "organisation")
    caller = Principal(user_id="u", org_id="org_e", org_kind="enterprise", role="admin")
    with city.app.db.session() as session:
        for call in (
            lambda: connections.list_connections(session, caller, Page(0, 10)),
            lambda: connections.get_connection(session, caller, "conn_x"),
            lambda: connections.review_connection(
                session, city.app.clock, caller, "conn_x", approve=True
            ),
        ):
            with pytest.raises(PermissionDenied) as refused:
                call()
            assert refused.value.field == "organisation"
