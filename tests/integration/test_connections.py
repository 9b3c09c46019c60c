"""Cluster connections through the API: bad input refused naming the field, nothing stored;
credentials encrypted at rest and never returned; who may see and remove what.

Tests without a cluster run on SQLite and PostgreSQL; the rest use the session's real Ray
head (behind a token-checking proxy where credentials matter) or Slurm cluster.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from suanli.adapters.backends.base import BackendState
from suanli.adapters.backends.fake import FakeBackend
from suanli.adapters.db.tables_connections import ClusterConnectionRow
from suanli.adapters.secrets import KEY_ENV, SecretBox, SecretKeyError, load_secret_box
from suanli.bootstrap import bootstrap
from suanli.config import load_settings
from suanli.services.orphans import CANCEL_ATTEMPTS_MAX
from tests.helpers import City, build_city, fund, make_app
from tests.integration.clusters import RayHead, SlurmCluster, bearer_proxy, free_port


@pytest.fixture(autouse=True)
def english_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the English wording of bilingual messages (the default is zh-CN;
    both languages are checked for every operation in tests/e2e/test_api_language.py)."""
    monkeypatch.setenv("SUANLI_LANGUAGE", "en")


TOKEN = "ray-token-7f3c9e"  # what a provider gives suanli; must never leave it in clear


@pytest.fixture
def city(tmp_path: Path, database_url: str) -> Iterator[City]:
    app = make_app(tmp_path, database_url)
    yield build_city(app)
    app.close()


def add(city: City, token: str, **body: Any) -> Any:
    return city.post(token, "/v1/connections", {"name": "c", **body})


def approve(city: City, connection_id: str) -> dict[str, Any]:
    reply = city.post(city.operator, f"/v1/connections/{connection_id}/approve", {})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def connection_rows(city: City) -> list[Any]:
    with city.app.db.session() as session:
        return list(session.execute(sa.text("SELECT * FROM cluster_connections")).mappings())


def slurm_options(log_dir: Path, **changes: Any) -> dict[str, Any]:
    options = {"partition": "debug", "gres_type": "h100", "log_dir": str(log_dir)}
    return {**options, "run_as": "suanlijob", **changes}


# -- bad input, no cluster needed (both engines) ------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"kind": "kubernetes", "address": "https://k8s:6443"}, 422, "kind"),
        ({"kind": "nomad", "address": "http://x"}, 422, "kind"),
        ({"kind": "ray", "address": "10.0.0.5:8265"}, 422, "address"),
        ({"kind": "ray", "address": "http://x", "options": {"colour": 1}}, 422, "options.colour"),
        ({"kind": "ray", "address": "http://x", "credentials": {"pw": "x"}}, 422, "credentials.pw"),
        ({"kind": "slurm", "options": {"partition": "debug"}}, 422, "options.gres_type"),
        (
            {"kind": "ray", "address": "http://x", "options": {"accelerator_names": {"Z9": "z"}}},
            422,
            "options.accelerator_names",
        ),
    ],
)
def test_malformed_connections_are_refused_naming_the_field(
    city: City, body: dict[str, Any], status: int, field: str
) -> None:
    reply = add(city, city.provider, **body)
    assert (reply.status_code, reply.json()["field"]) == (status, field), reply.text
    assert connection_rows(city) == []


def test_an_unreachable_ray_address_is_a_502_naming_the_address_and_nothing_is_stored(
    city: City,
) -> None:
    address = f"http://127.0.0.1:{free_port()}"
    reply = add(city, city.provider, kind="ray", address=address, credentials={"token": TOKEN})
    assert reply.status_code == 502, reply.text
    assert reply.json()["field"] == "address" and "cannot reach" in reply.json()["message"]
    assert TOKEN not in reply.text
    assert connection_rows(city) == []


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_an_unreachable_cluster_is_named_once_with_its_cause_once(
    city: City, tmp_path: Path, language: str
) -> None:
    """A closed port on this machine: the refusal says where and why, each once (before:
    'cannot reach the ray cluster at X: Ray cluster at X is unreachable: [Errno 111] ...')."""
    port = free_port()
    ray = f"http://127.0.0.1:{port}"
    reply = city.post(
        city.provider, "/v1/connections", {"name": "c", "kind": "ray", "address": ray},
        headers={"Accept-Language": language},
    )  # fmt: skip
    assert reply.status_code == 502, reply.text
    message = reply.json()["message"]
    assert message.count(ray) == 1 and message.count("Connection refused") == 1, message
    words = ("无法连接", "集群") if language == "zh-CN" else ("reach", "cluster")
    assert all(message.count(word) == 1 for word in words), message
    assert "unreachable" not in message, message
    assert connection_rows(city) == []


@pytest.mark.skipif(shutil.which("scontrol") is None, reason="Slurm's client commands missing")
@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_an_unreachable_slurm_controller_is_named_once_with_its_cause_once(
    city: City, tmp_path: Path, language: str
) -> None:
    """A slurm.conf whose controller port is closed: Slurm's own line says it could not
    contact the controller, and nothing around it says so again."""
    conf = tmp_path / "slurm.conf"
    # MessageTimeout=1: Slurm's client gives up on the closed port at once, with the same
    # line, instead of retrying for 9 s under the default (10 s)
    conf.write_text(
        f"ClusterName=closed\nSlurmctldHost=localhost\nSlurmctldPort={free_port()}\n"
        "MessageTimeout=1\nNodeName=n1 CPUs=1 State=UNKNOWN\nPartitionName=debug Nodes=n1\n"
    )
    body = {"name": "c", "kind": "slurm", "address": str(conf), "options": slurm_options(tmp_path)}
    reply = city.post(city.provider, "/v1/connections", body, {"Accept-Language": language})
    assert reply.status_code == 502, reply.text
    message = reply.json()["message"]
    assert message.count(str(conf)) == 1, message
    said = message.replace(str(conf), "<conf>").lower()  # the test's folder names "unreachable"
    assert said.count("contact slurm controller") == 1, message
    assert "unreachable" not in said and said.count("无法连接") <= 1, message
    assert connection_rows(city) == []


def test_a_stored_health_error_is_read_in_the_readers_language(city: City) -> None:
    """The check runs in one language (the poll: the server's), its readers speak either:
    the error is kept in both and shown in each reader's (before: in the checker's only)."""
    address = f"http://127.0.0.1:{free_port()}"  # a closed port: the check fails for real
    with city.app.db.session() as session:  # as if added and approved through the API
        session.add(
            ClusterConnectionRow(
                id="conn_closed", provider_id=city.provider_id, name="closed", kind="ray",
                address=address, options={}, healthy=True, last_error="", capacity={},
                created_at=datetime.now(UTC), review_state="approved",
                cluster_key=f"ray:{address}",
            )
        )  # fmt: skip
    path = "/v1/connections/conn_closed"
    checked = city.post(city.provider, f"{path}/check", {}, {"Accept-Language": "en"})
    assert checked.status_code == 200 and checked.json()["healthy"] is False, checked.text
    read = {
        language: city.client.get(
            path, headers={**city.headers(city.provider), "Accept-Language": language}
        ).json()["last_error"]
        for language in ("zh-CN", "en")
    }
    refused = "[Errno 111] Connection refused"
    assert read["en"] == f"Ray cluster at {address} is unreachable: {refused}", read
    assert read["zh-CN"] == f"无法连接 {address} 的 Ray 集群：“{refused}”", read
    operator = {**city.headers(city.operator), "Accept-Language": "zh"}
    listed = city.client.get("/v1/connections", headers=operator)
    assert listed.json()["items"][0]["last_error"] == read["zh-CN"]  # lists render it too
    with city.app.db.session() as session:  # a row from before keeps its one text
        row = session.get(ClusterConnectionRow, "conn_closed")
        assert row is not None
        row.last_error = "down since Tuesday"
    assert city.get(city.provider, path).json()["last_error"] == "down since Tuesday"


def test_slurm_paths_on_the_suanli_host_are_checked_before_asking_slurm(
    city: City, tmp_path: Path
) -> None:
    missing_conf = add(
        city, city.provider, kind="slurm", address=str(tmp_path / "nope.conf"),
        options=slurm_options(tmp_path),
    )  # fmt: skip
    assert (missing_conf.status_code, missing_conf.json()["field"]) == (422, "address")
    # Slurm's clients echo a file they cannot parse: only files named slurm.conf are read.
    (tmp_path / "secret.key").write_text("do-not-show\n")
    (tmp_path / "slurm.conf").symlink_to(tmp_path / "secret.key")
    for elsewhere in ("/etc/passwd", str(tmp_path / "secret.key"), str(tmp_path / "slurm.conf")):
        probe = add(
            city, city.provider, kind="slurm", address=elsewhere, options=slurm_options(tmp_path)
        )
        assert (probe.status_code, probe.json()["field"]) == (422, "address")
        assert "do-not-show" not in probe.text and "root:" not in probe.text
    missing_logs = add(city, city.provider, kind="slurm", options=slurm_options(tmp_path / "x"))
    assert (missing_logs.status_code, missing_logs.json()["field"]) == (422, "options.log_dir")
    assert connection_rows(city) == []


def test_options_that_act_on_the_suanli_host_are_refused_through_the_api(
    city: City, tmp_path: Path
) -> None:
    as_root = add(
        city, city.provider, kind="slurm", options=slurm_options(tmp_path, allow_root=True)
    )
    assert (as_root.status_code, as_root.json()["field"]) == (422, "options.allow_root")
    binaries = add(city, city.provider, kind="slurm", options=slurm_options(tmp_path, bin_dir="/x"))
    assert (binaries.status_code, binaries.json()["field"]) == (422, "options.bin_dir")
    root_user = add(
        city, city.provider, kind="slurm", options=slurm_options(tmp_path, run_as="root")
    )
    assert root_user.status_code == 422 and "root" in root_user.json()["message"]


def test_only_providers_and_the_operator_touch_connections(city: City) -> None:
    body = {"kind": "ray", "address": "http://127.0.0.1:1"}
    assert add(city, city.enterprise, **body).status_code == 403
    assert city.get(city.enterprise, "/v1/connections").status_code == 403
    other = add(city, city.provider, provider_id="org_someone_else", **body)
    assert other.status_code == 403
    no_provider = add(city, city.operator, **body)
    assert (no_provider.status_code, no_provider.json()["field"]) == (422, "provider_id")
    assert city.get(city.provider, "/v1/connections/conn_missing").status_code == 404


def test_a_pool_must_name_a_connection_of_its_own_provider(city: City) -> None:
    pool = {
        "name": "p", "accelerator_model": "H100-SXM", "nodes": 1, "cards_per_node": 8,
        "region": "浙江/杭州", "price_fen_per_card_hour": 100, "backend": "ray",
    }  # fmt: skip
    missing = city.post(city.provider, "/v1/pools", pool)
    assert (missing.status_code, missing.json()["field"]) == (422, "connection_id")
    unknown = city.post(city.provider, "/v1/pools", {**pool, "connection_id": "conn_x"})
    assert (unknown.status_code, unknown.json()["field"]) == (422, "connection_id")


def test_the_operator_pages_through_the_connections_waiting_for_its_review(city: City) -> None:
    now = datetime.now(UTC)
    with city.app.db.session() as session:  # as if added through the API (no cluster needed)
        for index, (owner, state) in enumerate(
            [(city.provider_id, "pending"), (city.provider_id, "approved")]
            + [(city.provider_id, "pending")] * 2
        ):
            session.add(
                ClusterConnectionRow(
                    id=f"conn_{index}", provider_id=owner, name=f"c{index}", kind="ray",
                    address=f"http://c{index}.invalid", options={}, healthy=True, last_error="",
                    capacity={}, created_at=now + timedelta(seconds=index), review_state=state,
                    cluster_key=f"ray:c{index}.invalid:80",
                )
            )  # fmt: skip
    first = city.get(city.operator, "/v1/connections?review_state=pending&limit=2").json()
    assert (first["total"], [c["id"] for c in first["items"]]) == (3, ["conn_0", "conn_2"])
    assert {c["provider_name"] for c in first["items"]} == {"prov-a"}
    rest = city.get(city.operator, "/v1/connections?review_state=pending&offset=2").json()
    assert [c["id"] for c in rest["items"]] == ["conn_3"]
    assert city.get(city.operator, "/v1/connections").json()["total"] == 4
    assert city.get(city.other_provider, "/v1/connections?review_state=pending").json() == {
        "items": [], "total": 0, "offset": 0, "limit": 50,
    }  # fmt: skip
    wrong = city.get(city.operator, "/v1/connections?review_state=maybe")
    assert (wrong.status_code, wrong.json()["field"]) == (422, "review_state")
    rejected = city.post(city.operator, "/v1/connections/conn_0/reject", {"reason": "no"})
    assert rejected.status_code == 200, rejected.text
    after = city.get(city.operator, "/v1/connections?review_state=pending").json()
    assert [c["id"] for c in after["items"]] == ["conn_2", "conn_3"]


# -- the secret key ---------------------------------------------------------------------------
def test_the_key_file_is_made_private_on_first_use_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    sealed = load_secret_box(tmp_path).seal({"token": TOKEN})
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert TOKEN not in sealed
    assert load_secret_box(tmp_path).open(sealed) == {"token": TOKEN}
    os.chmod(key_file, 0o644)
    with pytest.raises(SecretKeyError, match="chmod 600"):
        load_secret_box(tmp_path)


def test_the_environment_key_wins_and_a_wrong_key_cannot_decrypt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.fernet import Fernet

    monkeypatch.delenv(KEY_ENV, raising=False)
    sealed = load_secret_box(tmp_path).seal({"token": TOKEN})
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        load_secret_box(tmp_path).open(sealed)
    with pytest.raises(SecretKeyError):
        SecretBox(b"not a key")
    assert "hidden" in repr(load_secret_box(tmp_path))


# -- against the real Ray head (both engines) ---------------------------------------------------
@pytest.fixture
def guarded_ray(ray_cluster: RayHead) -> Iterator[str]:
    """The session's Ray head behind a proxy that wants `Bearer TOKEN`."""
    with bearer_proxy(ray_cluster.address, token=TOKEN) as address:
        yield address


@pytest.mark.ray
def test_credentials_are_encrypted_at_rest_and_never_returned(city: City, guarded_ray: str) -> None:
    reply = add(city, city.provider, kind="ray", address=guarded_ray, credentials={"token": TOKEN})
    assert reply.status_code == 201, reply.text
    created = reply.json()
    assert created["has_credentials"] is True and created["healthy"] is True
    assert created["capacity"] == {"H100-SXM": 8}  # accelerator_type:H100, named as the catalog
    assert created["options"]["accelerator_names"] == {"H100-SXM": "H100"}
    raw = connection_rows(city)
    assert len(raw) == 1 and raw[0]["credentials"] and TOKEN not in str(dict(raw[0]))
    for path in ("/v1/connections", f"/v1/connections/{created['id']}"):
        answer = city.get(city.provider, path)
        assert answer.status_code == 200 and TOKEN not in answer.text
    assert "credentials" not in city.get(city.provider, f"/v1/connections/{created['id']}").json()
    checked = city.post(city.provider, f"/v1/connections/{created['id']}/check", {})
    assert checked.json()["healthy"] is True, checked.text  # decrypted token reached the proxy
    assert TOKEN not in checked.text


@pytest.mark.ray
def test_a_wrong_token_is_refused_naming_the_credentials(city: City, guarded_ray: str) -> None:
    reply = add(city, city.provider, kind="ray", address=guarded_ray, credentials={"token": "bad"})
    assert (reply.status_code, reply.json()["field"]) == (422, "credentials"), reply.text
    assert connection_rows(city) == []


@pytest.mark.ray
def test_connections_are_private_to_their_provider_and_removal_takes_the_pools(
    city: City, ray_cluster: RayHead
) -> None:
    created = add(city, city.provider, kind="ray", address=ray_cluster.address).json()
    path = f"/v1/connections/{created['id']}"
    assert city.get(city.other_provider, path).status_code == 404
    assert city.get(city.other_provider, "/v1/connections").json()["total"] == 0
    assert city.get(city.operator, "/v1/connections").json()["total"] == 1
    pool = {
        "name": "ray-h100", "accelerator_model": "H100-SXM", "nodes": 1, "cards_per_node": 8,
        "region": "浙江/杭州", "price_fen_per_card_hour": 100, "backend": "ray",
        "connection_id": created["id"],
    }  # fmt: skip
    assert city.post(city.other_provider, "/v1/pools", pool).json()["field"] == "connection_id"
    assert city.post(city.provider, "/v1/pools", {**pool, "backend": "slurm"}).status_code == 422
    assert created["review_state"] == "pending"
    pending = city.post(city.provider, "/v1/pools", pool)
    assert (pending.status_code, pending.json()["field"]) == (422, "connection_id"), pending.text
    assert approve(city, created["id"])["review_state"] == "approved"
    pool_id = city.post(city.provider, "/v1/pools", pool).json()["id"]
    assert city.client.delete(path, headers=city.headers(city.other_provider)).status_code == 404
    removed = city.client.delete(path, headers=city.headers(city.operator))
    assert removed.json() == {"id": created["id"], "pools_removed": [pool_id]}
    # the provider reads, in its own audit log, that the operator removed its cluster
    audit = city.get(city.provider, "/v1/audit", params={"action": "connection.delete"}).json()
    assert [entry["object"] for entry in audit["items"]] == [created["id"]], audit
    assert city.get(city.provider, f"/v1/pools/{pool_id}").status_code == 404
    assert city.get(city.provider, path).status_code == 404


@pytest.mark.ray
def test_a_cluster_belongs_to_one_provider_whatever_the_spelling_of_its_address(
    city: City, ray_cluster: RayHead
) -> None:
    first = add(city, city.provider, kind="ray", address=ray_cluster.address)
    assert first.status_code == 201, first.text
    respelled = ray_cluster.address.replace("127.0.0.1", "localhost") + "/"
    for address in (ray_cluster.address, respelled):
        reply = add(city, city.other_provider, kind="ray", address=address, name="mine")
        assert (reply.status_code, reply.json()["field"]) == (409, "address"), reply.text
        assert city.provider_id not in reply.text  # never says who holds it
    rejected = city.post(
        city.operator, f"/v1/connections/{first.json()['id']}/reject", {"reason": "not theirs"}
    )
    assert rejected.json()["review_state"] == "rejected"
    again = add(city, city.other_provider, kind="ray", address=respelled, name="mine")
    assert again.status_code == 201, again.text  # a rejected claim frees the cluster
    assert (
        city.post(city.provider, f"/v1/connections/{again.json()['id']}/approve", {}).status_code
        == 403
    )


# -- against the real Slurm cluster -------------------------------------------------------------
@pytest.mark.slurm
def test_a_slurm_partition_that_does_not_exist_is_refused_naming_it(
    tmp_path: Path, slurm_cluster: SlurmCluster
) -> None:
    app = make_app(tmp_path)
    city = build_city(app)
    options = slurm_options(slurm_cluster.log_dir, partition="nosuchpart")
    address = str(slurm_cluster.conf)
    reply = add(city, city.provider, kind="slurm", address=address, options=options)
    assert (reply.status_code, reply.json()["field"]) == (422, "options.partition"), reply.text
    wrong_gres = slurm_options(
        slurm_cluster.log_dir, gres_type="a100", accelerator_model="A100-80GB"
    )
    reply = add(city, city.provider, kind="slurm", address=address, options=wrong_gres)
    assert (reply.status_code, reply.json()["field"]) == (422, "options.gres_type"), reply.text
    assert connection_rows(city) == []
    app.close()


# -- health polling and lost jobs, with an in-memory cluster and a hand-driven clock -------------
class ManualClock:
    def __init__(self) -> None:
        self.at = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class FakeMarket:
    city: City
    clock: ManualClock
    cluster: FakeBackend
    pool_id: str

    def submit(self, **spec: Any) -> str:
        body = {"name": "j", "command": "true", "cards": 2, "max_run_time_s": 600, **spec}
        reply = self.city.post(self.city.enterprise, "/v1/jobs", body)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.city.get(self.city.enterprise, f"/v1/jobs/{job_id}").json())

    def pool_available(self) -> bool:
        return bool(
            self.city.get(self.city.provider, f"/v1/pools/{self.pool_id}").json()["available"]
        )

    def hold_state(self, job_id: str) -> str:
        with self.city.app.db.session() as session:
            query = sa.text("SELECT state FROM ledger_holds WHERE id = :id")
            return str(session.execute(query, {"id": f"job:{job_id}:hold"}).scalar_one())

    def start(self, job_id: str) -> None:
        self.cluster.start(f"fake-{job_id}", self.clock.now())

    def orphan_metrics(self) -> dict[str, int]:
        """suanli_orphan_runs by state, as the operator's /metrics scrape shows them."""
        reply = self.city.get(self.city.operator, "/metrics")
        assert reply.status_code == 200, reply.text
        found = re.findall(r'^suanli_orphan_runs\{state="(\w+)"\} ([0-9.]+)$', reply.text, re.M)
        return {state: int(float(value)) for state, value in found}


LOST_GRACE_S = 30.0
FAKE_POOL = {
    "name": "fake-h100", "accelerator_model": "H100-SXM", "nodes": 1, "cards_per_node": 8,
    "region": "浙江/杭州", "price_fen_per_card_hour": 3600, "backend": "ray",
    "connection_id": "conn_fake",
}  # fmt: skip
ORPHAN_STATES = ("pending", "cancelled", "adopted", "abandoned", "absent")


def orphan_states(**counts: int) -> dict[str, int]:
    """The /metrics orphan gauge expected: every state present, zero unless given."""
    return {state: counts.get(state, 0) for state in ORPHAN_STATES}


@pytest.fixture
def fake_market(tmp_path: Path, database_url: str) -> Iterator[FakeMarket]:
    clock = ManualClock()
    settings = load_settings(
        data_dir=tmp_path / "data", database_url=database_url, backend_lost_grace_s=LOST_GRACE_S
    )
    app = bootstrap(settings, clock=clock)
    city = build_city(app)
    fund(app, city.enterprise_id)
    city.client.delete(f"/v1/pools/{city.pool_id}", headers=city.headers(city.operator))
    cluster = FakeBackend(kind="ray", free_cards={"H100-SXM": 8})
    with app.db.session() as session:  # as if added and checked through the API
        session.add(
            ClusterConnectionRow(
                id="conn_fake", provider_id=city.provider_id, name="fake", kind="ray",
                address="http://fake.invalid", options={}, healthy=True, last_error="",
                capacity={"H100-SXM": 8}, created_at=clock.now(), review_state="approved",
                cluster_key="ray:fake.invalid:80",
            )
        )  # fmt: skip
    app.backends.register("conn_fake", cluster)
    pool_id = city.post(city.provider, "/v1/pools", FAKE_POOL).json()["id"]
    yield FakeMarket(city, clock, cluster, pool_id)
    app.close()


def test_an_unreachable_cluster_stops_its_pool_and_its_lost_jobs_follow_the_rules(
    fake_market: FakeMarket,
) -> None:
    market, runtime = fake_market, fake_market.city.app.runtime
    started = market.submit(name="started")
    restartable = market.submit(name="restartable", restartable=True)
    never_started = market.submit(name="never-started")
    cancelled = market.submit(name="cancelled")
    runtime.tick()
    for job_id in (started, restartable, cancelled):
        market.start(job_id)
    runtime.tick()
    assert [market.job(j)["state"] for j in (started, never_started)] == ["running", "placed"]

    market.cluster.reachable = False
    market.city.post(market.city.enterprise, f"/v1/jobs/{cancelled}/cancel", {})
    runtime.tick()
    assert market.pool_available()  # the next poll is not due yet (5 s by the injected clock)
    market.clock.advance(runtime.connection_poll_interval_s)
    runtime.tick()
    assert not market.pool_available()
    market.clock.advance(LOST_GRACE_S - runtime.connection_poll_interval_s - 1)
    runtime.tick()
    assert market.job(started)["state"] == "running"  # still inside the grace period
    market.clock.advance(1)
    runtime.tick()

    assert market.job(started)["state"] == "failed" and market.hold_state(started) == "voided"
    assert market.job(cancelled)["state"] == "cancelled"
    assert market.hold_state(cancelled) == "voided"
    for job_id in (restartable, never_started):
        assert market.job(job_id)["state"] == "queued"  # not placed: the only pool is down
        assert market.hold_state(job_id) == "pending"
    assert "cancelled when the cluster answers again" in market.job(started)["reason"]
    assert market.orphan_metrics() == orphan_states(pending=4)
    market.cluster.reachable = True
    market.clock.advance(runtime.connection_poll_interval_s)
    runtime.tick()
    assert market.pool_available()
    # The four runs the cluster kept are cancelled there before anything is placed again.
    assert market.cluster.cancels == 4
    assert market.cluster.jobs[f"fake-{started}"].state == BackendState.CANCELLED
    assert market.orphan_metrics() == orphan_states(cancelled=4)
    assert {market.job(j)["state"] for j in (restartable, never_started)} == {"placed"}


def test_a_lost_run_that_its_re_placed_job_took_over_is_not_cancelled(
    fake_market: FakeMarket,
) -> None:
    market, runtime = fake_market, fake_market.city.app.runtime
    job_id = market.submit(name="comeback", restartable=True)
    runtime.tick()
    market.start(job_id)
    runtime.tick()
    market.cluster.reachable = False
    for _ in range(int(LOST_GRACE_S / runtime.connection_poll_interval_s) + 1):
        market.clock.advance(runtime.connection_poll_interval_s)
        runtime.tick()
    assert market.job(job_id)["state"] == "queued"
    # Back, but the cancel fails once; meanwhile the job is placed again under the same run id
    # (as an engine adopting a still-live run on a submit retry would give).
    market.cluster.reachable, market.cluster.refuse_cancel = True, True
    market.clock.advance(runtime.connection_poll_interval_s)
    runtime.tick()
    assert market.job(job_id)["state"] == "placed"
    market.cluster.refuse_cancel = False
    market.clock.advance(runtime.connection_poll_interval_s)
    runtime.tick()
    assert market.cluster.cancels == 0
    assert market.orphan_metrics() == orphan_states(adopted=1)
    assert market.job(job_id)["state"] == "placed"


def test_a_cluster_that_keeps_refusing_to_cancel_a_lost_run_is_given_up_on(
    fake_market: FakeMarket,
) -> None:
    market, runtime = fake_market, fake_market.city.app.runtime
    job_id = market.submit(name="stubborn")
    runtime.tick()
    market.start(job_id)
    runtime.tick()
    assert market.job(job_id)["state"] == "running"
    market.cluster.reachable = False
    for _ in range(int(LOST_GRACE_S / runtime.connection_poll_interval_s) + 1):
        market.clock.advance(runtime.connection_poll_interval_s)
        runtime.tick()
    assert market.job(job_id)["state"] == "failed"
    market.cluster.reachable, market.cluster.refuse_cancel = True, True
    for attempt in range(1, CANCEL_ATTEMPTS_MAX + 1):
        market.clock.advance(runtime.connection_poll_interval_s)
        runtime.tick()
        pending = 0 if attempt == CANCEL_ATTEMPTS_MAX else 1
        expected = orphan_states(pending=pending, abandoned=1 - pending)
        assert market.orphan_metrics() == expected
    assert market.cluster.jobs[f"fake-{job_id}"].state == BackendState.RUNNING


def test_a_submit_to_a_cluster_that_stopped_answering_requeues_without_spending_attempts(
    fake_market: FakeMarket,
) -> None:
    market, runtime = fake_market, fake_market.city.app.runtime
    runtime.tick()  # the first poll: healthy
    market.cluster.reachable = False
    job_id = market.submit(name="unlucky")
    runtime.tick()
    job = market.job(job_id)
    assert job["state"] == "queued" and "unreachable" in job["reason"]
    assert not market.pool_available()
    with market.city.app.db.session() as session:
        query = sa.text("SELECT attempts FROM jobs WHERE id = :id")
        assert session.execute(query, {"id": job_id}).scalar_one() == 0
    market.cluster.reachable = True
    market.clock.advance(runtime.connection_poll_interval_s)
    runtime.tick()
    assert market.job(job_id)["state"] == "placed"
    # The submit never got through, so the lookup finds no run of it to cancel.
    assert market.cluster.cancels == 0
    assert market.orphan_metrics() == orphan_states(absent=1)


def test_a_run_whose_submit_reply_was_lost_is_found_and_cancelled_before_the_job_runs_again(
    fake_market: FakeMarket,
) -> None:
    market, runtime = fake_market, fake_market.city.app.runtime
    runtime.tick()
    market.cluster.lose_submit_replies = True
    job_id = market.submit(name="timed-out-submit")
    runtime.tick()
    assert market.job(job_id)["state"] == "queued"
    stray = market.cluster.jobs[f"fake-{job_id}"]  # the cluster took it; the platform never knew
    assert stray.state == BackendState.PENDING
    assert market.orphan_metrics() == orphan_states(pending=1)
    market.cluster.lose_submit_replies = False
    market.clock.advance(runtime.connection_poll_interval_s)
    runtime.tick()
    assert stray.state == BackendState.CANCELLED and market.cluster.cancels == 1
    assert market.orphan_metrics() == orphan_states(cancelled=1)
    assert market.job(job_id)["state"] == "placed"  # placed again, under a fresh run
    assert market.cluster.jobs[f"fake-{job_id}"].state == BackendState.PENDING


def test_the_run_a_re_placed_job_took_over_from_a_lost_submit_reply_is_kept(
    fake_market: FakeMarket,
) -> None:
    market, city, runtime = fake_market, fake_market.city, fake_market.city.app.runtime
    reply = city.post(city.provider, "/v1/pools", FAKE_POOL | {"name": "fake-h100-twin"})
    assert reply.status_code == 201, reply.text
    runtime.tick()
    market.cluster.lose_submit_replies = True
    job_id = market.submit(name="moved")
    runtime.tick()
    market.cluster.lose_submit_replies = False
    runtime.tick()  # the twin pool on the same cluster takes it; the engine reuses the run id
    assert market.job(job_id)["state"] == "placed"
    market.clock.advance(runtime.connection_poll_interval_s)
    runtime.tick()
    assert market.cluster.cancels == 0
    assert market.cluster.jobs[f"fake-{job_id}"].state == BackendState.PENDING
    assert market.orphan_metrics() == orphan_states(adopted=1)


def test_a_silent_cluster_costs_one_request_per_round_not_one_per_job(
    fake_market: FakeMarket,
) -> None:
    """A cluster that stops answering makes each request wait out the backend's timeout, so
    the loop asks it once per round: the rest of its jobs count as unreachable unasked."""
    market, runtime = fake_market, fake_market.city.app.runtime
    runtime.tick()  # the first poll: healthy
    market.cluster.reachable = False
    first = [market.submit(name=f"first-{i}") for i in range(2)]
    runtime.tick()
    assert market.cluster.calls.get("submit") == 1  # the second placement was not tried
    assert attempts(market, first) == [0, 0]

    market.cluster.reachable = True
    market.clock.advance(runtime.connection_poll_interval_s)
    runtime.tick()
    for job_id in first:
        market.start(job_id)
    runtime.tick()
    assert [market.job(job_id)["state"] for job_id in first] == ["running", "running"]

    market.cluster.reachable = False
    market.cluster.calls.clear()
    later = market.submit(name="later")
    runtime.tick()  # no poll is due: only this round's requests reach the cluster
    assert market.cluster.calls == {"status": 1}  # and no submit to a cluster just found silent
    with market.city.app.db.session() as session:
        query = sa.text("SELECT id FROM jobs WHERE lost_since IS NOT NULL")
        assert set(session.scalars(query)) == set(first)  # each one's grace period has begun
    assert market.job(later)["state"] == "queued" and attempts(market, [later]) == [0]


def attempts(market: FakeMarket, job_ids: list[str]) -> list[int]:
    with market.city.app.db.session() as session:
        query = sa.text("SELECT attempts FROM jobs WHERE id = :id")
        return [int(session.execute(query, {"id": job_id}).scalar_one()) for job_id in job_ids]


def test_the_periodic_poll_knocks_only_on_approved_clusters(city: City) -> None:
    """A provider's address is checked when added and when named; until the operator approves
    it, the loop's poll (every few seconds, forever) must not reach it."""
    from suanli.services.connections import poll_connections

    with city.app.db.session() as session:
        for state in ("pending", "rejected", "approved"):
            address = f"http://127.0.0.1:{free_port()}"
            session.add(
                ClusterConnectionRow(
                    id=f"conn_{state}", provider_id=city.provider_id, name=state, kind="ray",
                    address=address, options={}, healthy=True, last_error="", capacity={},
                    created_at=datetime.now(UTC), review_state=state,
                    cluster_key=f"ray:{address}",
                )
            )  # fmt: skip
    app = city.app
    polled = poll_connections(app.db, app.runtime.backends, app.clock)
    assert [reading.connection_id for reading in polled] == ["conn_approved"]
    named = poll_connections(app.db, app.runtime.backends, app.clock, ["conn_pending"])
    assert [reading.connection_id for reading in named] == ["conn_pending"]  # a named check
    with city.app.db.session() as session:
        checked = {
            row.id: row.last_checked_at is not None
            for row in session.scalars(sa.select(ClusterConnectionRow))
        }
    assert checked == {"conn_pending": True, "conn_rejected": False, "conn_approved": True}
