"""Enterprise jobs through the live platform on a provider's real Ray and Slurm clusters.

A provider attaches the session's Ray head and Slurm cluster over the API and lists a pool on
each; jobs go through quote, hold, the scheduling loop (`runtime.tick()`), the engine, metering
from the engine's own times and settlement in the ledger. The last tests take a cluster down
mid-job and bring it back up for the tests after them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from suanli.adapters.backends.base import BackendState
from suanli.domain.money import price_card_seconds
from tests.helpers import City, build_city, fund, make_app
from tests.integration.clusters import RayHead, SlurmCluster


@pytest.fixture(autouse=True)
def english_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the English wording of bilingual messages (the default is zh-CN;
    both languages are checked for every operation in tests/e2e/test_api_language.py)."""
    monkeypatch.setenv("SUANLI_LANGUAGE", "en")


pytestmark = [pytest.mark.ray, pytest.mark.slurm]

RAY_PRICE_FEN = 3000  # cheaper, so a job either engine could run goes to Ray first
SLURM_PRICE_FEN = 3600
GRACE_S = 1.0  # backend_lost_grace_s: how long an unreachable cluster's jobs wait
POLL_INTERVAL_S = 0.5
WAIT_S_MAX = 90.0
TICK_PAUSE_S = 0.1
FINISHED = ("succeeded", "failed", "cancelled", "timed_out")
SERVE_START_S = 30.0
ROUND_TRIPS = 3  # trivial jobs per engine for the printed round-trip figure


@dataclass
class Market:
    city: City
    ray_connection: str
    slurm_connection: str
    ray_pool: str
    slurm_pool: str

    def submit(self, **spec: Any) -> str:
        body = {"name": "job", "cards": 2, "max_run_time_s": 120, **spec}
        reply = self.city.post(self.city.enterprise, "/v1/jobs", body)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.city.get(self.city.enterprise, f"/v1/jobs/{job_id}").json())

    def pool_available(self, pool_id: str) -> bool:
        return bool(self.city.get(self.city.provider, f"/v1/pools/{pool_id}").json()["available"])

    def hold(self, job_id: str) -> tuple[str, int]:
        with self.city.app.db.session() as session:
            row = session.execute(
                sa.text("SELECT state, posted_fen FROM ledger_holds WHERE id = :id"),
                {"id": f"job:{job_id}:hold"},
            ).one()
        return str(row.state), int(row.posted_fen)

    def tick_until(self, done: Callable[[], bool], what: str) -> float:
        """Runs the scheduling loop until `done`; returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < WAIT_S_MAX:
            self.city.app.runtime.tick()
            if done():
                return time.monotonic() - started
            time.sleep(TICK_PAUSE_S)
        raise AssertionError(f"{what} not within {WAIT_S_MAX:g}s")

    def run(self, job_id: str) -> dict[str, Any]:
        self.tick_until(lambda: self.job(job_id)["state"] in FINISHED, f"job {job_id} finished")
        return self.job(job_id)


def attach(city: City, body: dict[str, Any]) -> str:
    reply = city.post(city.provider, "/v1/connections", body)
    assert reply.status_code == 201, reply.text
    assert reply.json()["healthy"] and reply.json()["capacity"]["H100-SXM"] > 0
    connection_id = str(reply.json()["id"])
    approved = city.post(city.operator, f"/v1/connections/{connection_id}/approve", {})
    assert approved.status_code == 200, approved.text
    return connection_id


def list_pool(city: City, connection_id: str, backend: str, price_fen: int, **extra: Any) -> str:
    body = {
        "name": f"h100-{backend}", "accelerator_model": "H100-SXM", "nodes": 1,
        "cards_per_node": 8, "region": "浙江/杭州/余杭", "price_fen_per_card_hour": price_fen,
        "backend": backend, "connection_id": connection_id, **extra,
    }  # fmt: skip
    reply = city.post(city.provider, "/v1/pools", body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


@pytest.fixture
def market(tmp_path: Path, ray_cluster: RayHead, slurm_cluster: SlurmCluster) -> Iterator[Market]:
    app = make_app(tmp_path, backend_lost_grace_s=GRACE_S)
    app.runtime.connection_poll_interval_s = POLL_INTERVAL_S
    city = build_city(app)
    fund(app, city.enterprise_id)
    # Only the provider's clusters sell H100 here: the operator's local pool leaves.
    city.client.delete(f"/v1/pools/{city.pool_id}", headers=city.headers(city.operator))
    ray = attach(city, {"name": "hz-ray", "kind": "ray", "address": ray_cluster.address})
    slurm = attach(
        city,
        {
            "name": "hz-slurm", "kind": "slurm", "address": str(slurm_cluster.conf),
            "options": {
                "partition": slurm_cluster.partition, "gres_type": "h100",
                "log_dir": str(slurm_cluster.log_dir), "run_as": slurm_cluster.job_user,
            },
        },
    )  # fmt: skip
    ray_pool = list_pool(city, ray, "ray", RAY_PRICE_FEN, software={"Ray": "2.60"})
    slurm_pool = list_pool(city, slurm, "slurm", SLURM_PRICE_FEN, software={"Slurm": "22.05"})
    yield Market(city, ray, slurm, ray_pool, slurm_pool)
    app.close()


def assert_metered_and_settled(
    market: Market, job: dict[str, Any], source: str, price: int
) -> None:
    usage = market.city.get(market.city.enterprise, f"/v1/jobs/{job['id']}/usage").json()
    assert usage["source"].startswith(source) and usage["cards"] == 2
    seconds = (_parse(usage["ended_at"]) - _parse(usage["started_at"])).total_seconds()
    assert usage["card_seconds"] == int(seconds) * 2 > 0  # the engine's own times, floored
    assert usage["amount_fen"] == price_card_seconds(usage["card_seconds"], price)
    assert market.hold(job["id"]) == ("posted", usage["amount_fen"])


def _parse(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ledger_is_consistent(city: City) -> bool:
    return bool(city.get(city.operator, "/v1/ledger/check").json()["ok"])


def test_an_enterprise_job_runs_on_each_cluster_metered_from_the_engine_and_settled(
    market: Market, record_round_trip: Callable[[str, float], None]
) -> None:
    on_ray = market.submit(name="on-ray", command="echo hello from ray; sleep 1", software=["Ray"])
    on_slurm = market.submit(
        name="on-slurm", command="echo hello from slurm; sleep 1", software=["Slurm"]
    )
    ray_job, slurm_job = market.run(on_ray), market.run(on_slurm)

    assert (ray_job["state"], ray_job["pool_id"]) == ("succeeded", market.ray_pool)
    assert (slurm_job["state"], slurm_job["pool_id"]) == ("succeeded", market.slurm_pool)
    assert_metered_and_settled(market, ray_job, "ray", RAY_PRICE_FEN)
    assert_metered_and_settled(market, slurm_job, "slurm", SLURM_PRICE_FEN)
    for job_id, greeting in ((on_ray, "hello from ray"), (on_slurm, "hello from slurm")):
        log = market.city.get(market.city.enterprise, f"/v1/jobs/{job_id}/logs").json()
        assert greeting in log["text"]
    assert ledger_is_consistent(market.city)
    for _ in range(ROUND_TRIPS):
        for engine, software in (("ray", "Ray"), ("slurm", "Slurm")):
            job_id = market.submit(name=f"echo-{engine}", command="echo hi", software=[software])
            seconds = market.tick_until(
                partial(job_in_state, market, job_id, "succeeded"), "trivial job"
            )
            record_round_trip(f"{engine} via the live platform (submit to settled)", seconds)


def test_a_pool_naming_an_accelerator_the_cluster_lacks_is_refused(market: Market) -> None:
    city = market.city
    for connection, backend in ((market.ray_connection, "ray"), (market.slurm_connection, "slurm")):
        body = {
            "name": f"a100-{backend}", "accelerator_model": "A100-80GB", "nodes": 1,
            "cards_per_node": 8, "region": "浙江/杭州", "price_fen_per_card_hour": 1,
            "backend": backend, "connection_id": connection,
        }  # fmt: skip
        reply = city.post(city.provider, "/v1/pools", body)
        assert (reply.status_code, reply.json()["field"]) == (422, "accelerator_model")
        assert "H100-SXM" in reply.json()["message"]  # says what the cluster does have


def test_a_ray_cluster_lost_mid_job_fails_one_job_uncharged_and_moves_a_restartable_one(
    market: Market, ray_cluster: RayHead
) -> None:
    pinned = market.submit(name="pinned", command="sleep 60", software=["Ray"])
    movable = market.submit(name="movable", command="echo ran; sleep 1", restartable=True)
    market.tick_until(
        lambda: all(market.job(j)["state"] == "running" for j in (pinned, movable)), "running"
    )
    assert market.job(movable)["pool_id"] == market.ray_pool  # the cheaper cluster first
    ray_cluster.crash()
    try:
        market.tick_until(lambda: not market.pool_available(market.ray_pool), "pool unavailable")
        market.tick_until(lambda: market.job(pinned)["state"] == "failed", "pinned job lost")
        moved = market.run(movable)
        assert not market.pool_available(market.ray_pool)
    finally:
        ray_cluster.start()
    failed = market.job(pinned)
    assert "lost by the provider, not charged" in failed["reason"]
    assert market.hold(pinned) == ("voided", 0)
    no_usage = market.city.get(market.city.enterprise, f"/v1/jobs/{pinned}/usage")
    assert no_usage.status_code == 404
    assert (moved["state"], moved["pool_id"]) == ("succeeded", market.slurm_pool)
    assert_metered_and_settled(market, moved, "slurm", SLURM_PRICE_FEN)
    market.tick_until(lambda: market.pool_available(market.ray_pool), "pool back")
    assert ledger_is_consistent(market.city)


def test_a_slurm_controller_lost_mid_job_fails_the_job_uncharged_until_it_returns(
    market: Market, slurm_cluster: SlurmCluster
) -> None:
    submitted_at = time.time()  # a save that already holds the job may come before it runs
    job_id = market.submit(name="slurm-long", command="sleep 60", software=["Slurm"])
    market.tick_until(lambda: market.job(job_id)["state"] == "running", "running")
    slurm_cluster.wait_state_saved(since=submitted_at)  # a crash now loses nothing in Slurm
    slurm_cluster.crash_controller()
    try:
        market.tick_until(lambda: not market.pool_available(market.slurm_pool), "unavailable")
        market.tick_until(lambda: market.job(job_id)["state"] == "failed", "job lost")
    finally:
        slurm_cluster.start_controller()
    assert "not charged" in market.job(job_id)["reason"]
    assert market.hold(job_id) == ("voided", 0)
    assert "cancelled when the cluster answers again" in market.job(job_id)["reason"]
    market.tick_until(lambda: market.pool_available(market.slurm_pool), "pool back")
    # The run survived in Slurm, unpaid: the platform cancels it there once Slurm answers.
    backend = market.city.app.backends.for_pool("slurm", market.slurm_connection)
    with market.city.app.db.session() as session:
        backend_job_id = session.execute(
            sa.text("SELECT backend_job_id FROM jobs WHERE id = :id"), {"id": job_id}
        ).scalar_one()
    market.tick_until(
        lambda: backend.status(str(backend_job_id)).state == BackendState.CANCELLED,
        "the surviving run cancelled by the platform",
    )
    assert ledger_is_consistent(market.city)


def job_in_state(market: Market, job_id: str, state: str) -> bool:
    return market.job(job_id)["state"] == state
