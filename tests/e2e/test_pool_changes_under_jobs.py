"""A provider changes a pool while jobs are on it, its shape and its price, and a job ends while a
cancel is pending (real SQLite, real local backend). One provider's change must neither stop
the scheduling of other pools nor reprice a job already placed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from suanli.adapters.db.tables import JobRow, PoolRow
from tests.e2e.test_api_compute import JOB, run_until_done
from tests.helpers import City, build_city, fund, make_app, python_command

FUNDS_FEN = 10_000_000
SLEEPER = dict(JOB, command="sleep 30")


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    app = make_app(tmp_path)
    built = build_city(app)
    fund(app, built.enterprise_id, amount_fen=FUNDS_FEN)
    yield built
    app.close()


def submit(city: City, body: dict, token: str | None = None) -> str:
    reply = city.post(token or city.enterprise, "/v1/jobs", body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def patch_pool(city: City, pool_id: str, change: dict) -> Any:
    return city.client.patch(
        f"/v1/pools/{pool_id}", json=change, headers=city.headers(city.operator)
    )


def state_of(city: City, job_id: str) -> str:
    return str(city.get(city.enterprise, f"/v1/jobs/{job_id}").json()["state"])


def cancel(city: City, job_id: str) -> None:
    assert city.post(city.enterprise, f"/v1/jobs/{job_id}/cancel", None).status_code == 200
    run_until_done(city, job_id, city.enterprise)


def wallet_fen(city: City) -> tuple[int, int]:
    """The enterprise wallet's (posted, available) fen: a hold lowers only what is available."""
    accounts = city.get(city.enterprise, f"/v1/wallets/{city.enterprise_id}/balances").json()
    (wallet,) = [account for account in accounts if account["kind"] == "enterprise_wallet"]
    return int(wallet["posted_fen"]), int(wallet["available_fen"])


def test_a_reshape_that_keeps_the_total_is_refused_under_a_running_job(city: City) -> None:
    job_id = submit(city, dict(SLEEPER, cards=8))
    city.app.runtime.tick()
    assert state_of(city, job_id) in ("placed", "running")
    for change in ({"nodes": 2, "cards_per_node": 4}, {"cards_per_node": 4}):
        refused = patch_pool(city, city.pool_id, change)
        assert (refused.status_code, refused.json()["field"]) == (409, "pool_id"), change
    pool = city.get(city.operator, f"/v1/pools/{city.pool_id}").json()
    assert (pool["nodes"], pool["cards_per_node"]) == (1, 8)  # nothing half-changed
    grown = patch_pool(city, city.pool_id, {"nodes": 2})  # node 0 keeps its 8 cards
    assert grown.status_code == 200, grown.text
    cancel(city, job_id)
    reshaped = patch_pool(city, city.pool_id, {"nodes": 4, "cards_per_node": 4})
    assert reshaped.status_code == 200, reshaped.text


def test_a_pool_its_jobs_no_longer_fit_is_skipped_and_other_pools_still_schedule(
    city: City,
) -> None:
    held = submit(city, dict(SLEEPER, cards=8))
    city.app.runtime.tick()
    assert state_of(city, held) in ("placed", "running")
    other_pool = city.post(city.operator, "/v1/pools", {
        "name": "l40s", "accelerator_model": "L40S", "nodes": 1, "cards_per_node": 4,
        "region": "浙江/杭州", "price_fen_per_card_hour": 100, "provider_id": city.provider_id,
    }).json()["id"]  # fmt: skip
    with city.app.db.session() as session:  # a pool changed under its job behind the API's back
        row = session.get(PoolRow, city.pool_id)
        assert row is not None
        row.nodes, row.cards_per_node = 2, 4
    elsewhere = submit(city, dict(SLEEPER, cards=2, accelerators=["L40S"]))
    same_pool = submit(city, dict(SLEEPER, cards=2, accelerators=["H100-SXM"]))
    city.app.runtime.tick()  # raised before: the whole round failed on the one pool
    assert state_of(city, elsewhere) in ("placed", "running")
    assert city.get(city.enterprise, f"/v1/jobs/{elsewhere}").json()["pool_id"] == other_pool
    assert state_of(city, same_pool) == "queued"  # nothing new lands on the inconsistent pool
    for job_id in (held, elsewhere, same_pool):
        cancel(city, job_id)


def test_usage_is_priced_at_the_price_when_the_job_was_placed(city: City) -> None:
    before = wallet_fen(city)
    body = dict(JOB, command=python_command("import time; time.sleep(2)"))
    job_id = submit(city, body)
    city.app.runtime.tick()
    assert state_of(city, job_id) in ("placed", "running")
    dearer = patch_pool(city, city.pool_id, {"price_fen_per_card_hour": 7200})
    assert dearer.status_code == 200, dearer.text
    assert run_until_done(city, job_id, city.enterprise)["state"] == "succeeded"
    usage = city.get(city.enterprise, f"/v1/jobs/{job_id}/usage").json()
    job = city.get(city.enterprise, f"/v1/jobs/{job_id}").json()
    assert usage["price_fen_per_card_hour"] == job["price_fen_per_card_hour"] == 3600
    assert usage["amount_fen"] == round(usage["card_seconds"] * 3600 / 3600) > 0
    after = wallet_fen(city)
    assert before[0] - after[0] == usage["amount_fen"] == before[1] - after[1]  # as charged


@pytest.mark.parametrize("stored_before_caps", [False, True], ids=["capped", "uncapped"])
def test_a_job_whose_pool_got_dearer_than_its_hold_fails_uncharged(
    city: City, stored_before_caps: bool
) -> None:
    """A job's spec carries the price its hold covers: a pool dearer than that is not its
    pool, and a job no pool within its price can take fails with that reason. A job stored
    before specs carried the price (no cap) meets the launch check instead: never on credit."""
    before = wallet_fen(city)
    job_id = submit(city, dict(JOB))  # held at 3,600 fen per card-hour
    job = city.get(city.enterprise, f"/v1/jobs/{job_id}").json()
    assert job["spec"]["max_price_fen_per_card_hour"] == 3600
    assert wallet_fen(city)[1] < before[1]
    if stored_before_caps:
        with city.app.db.session() as session:
            row = session.get(JobRow, job_id)
            assert row is not None
            row.spec = {k: v for k, v in row.spec.items() if k != "max_price_fen_per_card_hour"}
    assert patch_pool(city, city.pool_id, {"price_fen_per_card_hour": 36_000}).status_code == 200
    city.app.runtime.tick()
    job = city.get(city.enterprise, f"/v1/jobs/{job_id}").json()
    assert job["state"] == "failed"
    why = ("价格", "冻结") if stored_before_caps else ("不高于 3600 分",)
    assert all(word in job["reason"] for word in why), job["reason"]
    assert city.get(city.enterprise, f"/v1/jobs/{job_id}/usage").status_code == 404
    assert wallet_fen(city) == before  # the hold was released in full
    dearer = submit(city, dict(JOB))  # a new quote at the new price runs
    assert run_until_done(city, dearer, city.enterprise)["state"] == "succeeded"


def test_the_default_price_cap_is_the_dearest_the_wallet_can_hold_for(city: City) -> None:
    """A provider lists a pool at the highest price allowed: every plain job could run there,
    and holding for it would refuse a small enterprise's job for want of funds. The job is
    held for the dearest price its wallet covers and never runs above it."""
    dear = city.post(city.operator, "/v1/pools", {
        "name": "gold", "accelerator_model": "H100-SXM", "nodes": 1, "cards_per_node": 8,
        "region": "浙江/杭州", "price_fen_per_card_hour": 10_000_000,
        "provider_id": city.provider_id,
    })  # fmt: skip
    assert dear.status_code == 201, dear.text
    small = city.post(city.operator, "/v1/organisations", {
        "name": "small", "kind": "enterprise", "region": "浙江/杭州",
    }).json()  # fmt: skip
    fund(city.app, small["organisation"]["id"], amount_fen=1_000)
    body = dict(JOB, command=python_command("print(1)"))
    job_id = submit(city, body, token=small["token"])
    job = city.get(small["token"], f"/v1/jobs/{job_id}").json()
    assert job["spec"]["max_price_fen_per_card_hour"] == 3600 and job["hold_fen"] == 120
    assert run_until_done(city, job_id, small["token"])["pool_id"] == city.pool_id
    capped = submit(city, dict(body, max_price_fen_per_card_hour=3600))  # asked for, rich
    assert city.get(city.enterprise, f"/v1/jobs/{capped}").json()["hold_fen"] == 120
    rich = submit(city, body)  # a rich wallet holds for the dearest pool that fits
    assert city.get(city.enterprise, f"/v1/jobs/{rich}").json()["hold_fen"] == 333_333
    for job_id in (capped, rich):
        cancel(city, job_id)
    too_low = city.post(city.enterprise, "/v1/jobs", dict(body, max_price_fen_per_card_hour=1))
    assert (too_low.status_code, too_low.json()["error"]) == (422, "unplaceable")
    assert "1 fen per card-hour" in city.client.post(
        "/v1/jobs", json=dict(body, max_price_fen_per_card_hour=1),
        headers={**city.headers(city.enterprise), "Accept-Language": "en"},
    ).json()["message"]  # fmt: skip


def test_a_job_that_ends_on_its_own_after_a_cancel_request_does_not_read_cancelling(
    city: City,
) -> None:
    job_id = submit(city, dict(JOB, command="true"))
    city.app.runtime.schedule_queue()  # placed and launched, not yet synced
    time.sleep(1.0)  # `true` has exited by now; the loop has not looked yet
    assert city.post(city.enterprise, f"/v1/jobs/{job_id}/cancel", None).status_code == 200
    job = run_until_done(city, job_id, city.enterprise)
    assert job["state"] == "succeeded"
    headers = {**city.headers(city.enterprise), "Accept-Language": "en"}
    reason = city.client.get(f"/v1/jobs/{job_id}", headers=headers).json()["reason"]
    assert reason == "cancel requested, but the job ended on its own first"
