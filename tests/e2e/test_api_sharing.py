"""Shares of a card over HTTP: quote, hold, placement, the job's environment and the metered
line, in exact fen (real SQLite, real local backend). The pool costs 3600 fen per card-hour."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from suanli.domain.money import price_milli_card_seconds
from tests.helpers import City, build_city, fund, make_app

SHARE = {"name": "infer", "command": "true", "card_milli": 250, "max_run_time_s": 3600}


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    app = make_app(tmp_path)
    built = build_city(app)
    fund(app, built.enterprise_id)
    yield built
    app.close()


def _finish(city: City, job_ids: list[str], timeout_s: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        city.app.runtime.tick()
        jobs = [city.get(city.enterprise, f"/v1/jobs/{job_id}").json() for job_id in job_ids]
        if all(job["state"] in ("succeeded", "failed", "cancelled") for job in jobs):
            return jobs
        time.sleep(0.1)
    raise AssertionError(f"jobs {job_ids} did not finish in {timeout_s}s")


def test_a_share_is_quoted_and_held_at_its_fraction_of_the_card_price(city: City) -> None:
    quote = city.post(city.enterprise, "/v1/jobs/quote", SHARE).json()
    # 250/1000 card × 3600 s × 3600 fen per card-hour = 900 fen
    assert (quote["min_fen"], quote["max_fen"]) == (900, 900)
    job = city.post(city.enterprise, "/v1/jobs", SHARE).json()
    assert job["hold_fen"] == 900 and job["spec"]["card_milli"] == 250


@pytest.mark.parametrize(
    "body",
    [
        dict(SHARE, card_milli=0),
        dict(SHARE, card_milli=1001),
        dict(SHARE, card_milli=-5),
        dict(SHARE, card_milli=500, cards=2),
    ],
)
def test_a_bad_card_milli_is_a_422_naming_the_field(city: City, body: dict) -> None:
    for path in ("/v1/jobs", "/v1/jobs/quote"):
        reply = city.post(city.enterprise, path, body)
        assert reply.status_code == 422, reply.text
        assert reply.json()["field"] == "card_milli"


def test_a_pool_that_is_not_shareable_refuses_shares_with_the_reason(city: City) -> None:
    patched = city.client.patch(
        f"/v1/pools/{city.pool_id}", json={"shareable": False}, headers=city.headers(city.operator)
    )
    assert patched.status_code == 200 and patched.json()["shareable"] is False
    reply = city.post(city.enterprise, "/v1/jobs", SHARE, headers={"Accept-Language": "en"})
    assert reply.status_code == 422
    assert reply.json()["field"] == "spec"
    assert "shareable: false take whole-card jobs only" in reply.json()["message"]
    whole = city.post(city.enterprise, "/v1/jobs", dict(SHARE, card_milli=None))
    assert whole.status_code == 201, whole.text


def test_shares_run_together_on_one_card_and_are_metered_in_milli(city: City) -> None:
    command = "echo milli=$SUANLI_CARD_MILLI cards=$SUANLI_CARDS; sleep 1"
    ids = [
        city.post(city.enterprise, "/v1/jobs", dict(SHARE, command=command, card_milli=m)).json()[
            "id"
        ]
        for m in (600, 400)
    ]
    city.app.runtime.tick()
    placed = [city.get(city.enterprise, f"/v1/jobs/{job_id}").json() for job_id in ids]
    assert [job["card_share"] for job in placed] == [
        {"node": 0, "card": 0, "milli": 600},
        {"node": 0, "card": 0, "milli": 400},
    ]
    pool = city.get(city.enterprise, f"/v1/pools/{city.pool_id}").json()
    assert pool["free_cards"] == 7 and pool["shareable"] is True
    for job, milli in zip(_finish(city, ids), (600, 400), strict=True):
        assert job["state"] == "succeeded"
        log = city.get(city.enterprise, f"/v1/jobs/{job['id']}/logs").json()["text"]
        assert f"milli={milli} cards=0" in log
        usage = city.get(city.enterprise, f"/v1/jobs/{job['id']}/usage").json()
        seconds = usage["milli_card_seconds"] // milli
        assert usage["card_milli"] == milli and seconds >= 1
        assert usage["milli_card_seconds"] == seconds * milli
        assert usage["card_seconds"] == seconds * milli // 1000
        assert usage["amount_fen"] == price_milli_card_seconds(seconds * milli, 3600)
        assert usage["amount_fen"] == (seconds * milli * 2 + 1000) // 2000  # half-up, once


def test_a_pool_declares_host_cpus_and_memory_and_jobs_asking_more_are_refused(
    city: City,
) -> None:
    body = {
        "name": "l40s",
        "accelerator_model": "L40S",
        "nodes": 1,
        "cards_per_node": 4,
        "region": "浙江/杭州/滨江",
        "price_fen_per_card_hour": 720,
        "provider_id": city.provider_id,
        "cpus_per_node": 8,
        "host_memory_gib_per_node": 64,
        "shareable": False,
    }
    pool = city.post(city.operator, "/v1/pools", body)
    assert pool.status_code == 201, pool.text
    assert (pool.json()["cpus_per_node"], pool.json()["shareable"]) == (8, False)
    wants = dict(SHARE, card_milli=None, accelerators=["L40S"], cpus=16, host_memory_gib=32)
    reply = city.post(city.enterprise, "/v1/jobs", wants, headers={"Accept-Language": "en"})
    assert reply.status_code == 422
    assert "16 CPU cores and 32 GiB host memory per node" in reply.json()["message"]
    chinese = city.post(city.enterprise, "/v1/jobs", wants).json()["message"]
    assert "每节点 16 个 CPU 核、32 GiB 主机内存" in chinese
    assert city.post(city.enterprise, "/v1/jobs", dict(wants, cpus=8)).status_code == 201
    bad = city.post(city.operator, "/v1/pools", dict(body, name="x", cpus_per_node=0))
    assert (bad.status_code, bad.json()["field"]) == (422, "cpus_per_node")
