"""One tenant's jobs never stop another tenant's work (invariant 11), attacked through the real
API, the real scheduling loop and the real local backend."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from suanli.adapters.backends.local import KILL_GRACE_S
from suanli.domain.scheduling.policies import QUEUE_SCAN_MAX
from suanli.services.ledger import run_check
from tests.e2e.test_hardening import (
    _org_of,
    _smuggle_queued_job,
    english_reason,
    job_spec,
    run_until,
)
from tests.helpers import City, build_city, fund, make_app

# More than a round examines: jobs beyond them are not looked at in that round.
FLOOD = QUEUE_SCAN_MAX + 4


@pytest.fixture
def city(tmp_path: Path, database_url: str) -> Iterator[City]:
    app = make_app(tmp_path, database_url)
    built = build_city(app)
    fund(app, built.enterprise_id, 10_000_000)
    fund(app, _org_of(built, built.other_enterprise), 10_000_000)
    yield built
    app.close()


def _submit(city: City, token: str, **spec: object) -> str:
    reply = city.post(token, "/v1/jobs", job_spec(**{"command": "true", **spec}))
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def test_jobs_no_pool_can_ever_take_fail_instead_of_filling_every_round(city: City) -> None:
    """Before: a job whose budget is under every price (1 fen for a minute) was accepted and
    stayed queued for ever. A round examines the oldest QUEUE_SCAN_MAX queued jobs, so a few
    hundred of them hid every later job of every tenant: nothing was placed again. (A budget of
    0 fen is refused at submit where no free pool fits: test_api_compute.py.)"""
    hopeless = [_submit(city, city.enterprise, name=f"h{n}", max_run_time_s=60, budget_fen=1)
                for n in range(FLOOD)]  # fmt: skip
    victim = _submit(city, city.other_enterprise, name="victim")
    done = run_until(city, city.other_enterprise, victim, {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    for job_id in (hopeless[0], hopeless[-1]):
        job = city.get(city.enterprise, f"/v1/jobs/{job_id}").json()
        assert job["state"] == "failed", job
        assert "budget_fen" in english_reason(city, job_id), job
        assert "不收费" in job["reason"], job
    usage = city.get(city.enterprise, f"/v1/jobs/{hopeless[0]}/usage")
    assert usage.status_code == 404, usage.text  # nothing ran, nothing was billed


def test_a_queued_job_whose_only_pool_is_deleted_fails_with_its_reason(city: City) -> None:
    """Before: it stayed queued for ever (and, a few hundred of them, hid everyone's jobs)."""
    body = {"name": "a100", "accelerator_model": "A100-SXM4-80GB", "nodes": 1,
            "cards_per_node": 8, "region": "浙江/杭州/余杭", "price_fen_per_card_hour": 1000,
            "provider_id": city.provider_id}  # fmt: skip
    pool = city.post(city.operator, "/v1/pools", body)
    assert pool.status_code == 201, pool.text
    orphan = _submit(city, city.enterprise, name="a100-only", accelerators=["A100-SXM4-80GB"])
    gone = city.client.delete(f"/v1/pools/{pool.json()['id']}", headers=city.headers(city.provider))
    assert gone.status_code == 204, gone.text
    healthy = _submit(city, city.other_enterprise, name="healthy")
    assert run_until(city, city.other_enterprise, healthy, {"succeeded"})["state"] == "succeeded"
    failed = run_until(city, city.enterprise, orphan, {"failed"})
    assert "A100" in english_reason(city, orphan), failed


def _processes_running(marker: str) -> list[int]:
    """Pids whose command line holds `marker` (read from /proc: no tool needed)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("leave", ["sleep {s} &", "setsid sleep {s} &", "(sleep {s} &) ; true"])
def test_processes_a_job_leaves_behind_end_with_it(
    city: City, database_url: str, leave: str
) -> None:
    """Before: a job that started `sleep … &` and exited ended `succeeded`, its cards were
    released to the next tenant, and its process ran on unbilled and past its limit."""
    if "postgres" in database_url:
        pytest.skip("the backend, not the database, is under test")
    if leave.startswith("setsid") and os.geteuid() != 0:
        pytest.skip("a setsid child leaves the group: found by its user, with a user per job")
    seconds = f"{9000 + len(leave)}.{os.getpid()}"
    job = _submit(city, city.enterprise, name="leaver", command=leave.format(s=seconds))
    done = run_until(city, city.enterprise, job, {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    deadline = time.monotonic() + 5
    while _processes_running(f"sleep {seconds}") and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _processes_running(f"sleep {seconds}")
    for pid in left:  # never leave them running, whatever the verdict
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"{leave!r} left {left} running after the job ended"


@pytest.mark.parametrize(
    ("field", "value"),
    [("job_class", ["llm-train-bf16"]), ("job_class", {"a": 1}), ("job_class", "x" * 10_000),
     ("preemptible", ["yes"]), ("restartable", {"a": 1})],
)  # fmt: skip
def test_a_stored_spec_of_the_wrong_type_fails_alone_and_the_round_goes_on(
    city: City, field: str, value: object
) -> None:
    """Before: JobSpec checked neither job_class's type nor the flags', so a stored job with
    job_class ["…"] read fine, then the policy hashed it into a cache key, raised TypeError,
    and no tenant's job was placed again while it stayed queued."""
    bad = _smuggle_queued_job(city, {field: value})
    healthy = _submit(city, city.other_enterprise, name="healthy")
    done = run_until(city, city.other_enterprise, healthy, {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    failed = run_until(city, city.enterprise, bad, {"failed"})
    assert field in english_reason(city, bad), failed


def test_a_job_that_ignores_sigterm_past_its_limit_ends_with_all_its_processes(
    city: City, database_url: str
) -> None:
    """Before: the time limit's SIGTERM ended the wrapper only; a command that ignores
    SIGTERM ran on, unbilled, after its job was recorded timed out."""
    if "postgres" in database_url:
        pytest.skip("the backend, not the database, is under test")
    seconds = f"9100.{os.getpid()}"
    command = f"trap '' TERM; sleep {seconds}"
    job = _submit(city, city.enterprise, name="stubborn", command=command, max_run_time_s=1)
    done = run_until(city, city.enterprise, job, {"timed_out", "failed", "succeeded"})
    assert done["state"] == "timed_out", done
    time.sleep(0.5)
    left = _processes_running(f"sleep {seconds}")
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"the timed-out job left {left} running"


def test_a_cancel_never_holds_the_loop_for_other_tenants_and_meters_to_the_stop(
    city: City, database_url: str
) -> None:
    """Before: the local backend's cancel waited in the loop's round for the run to stop, up
    to KILL_GRACE_S after SIGTERM and again after SIGKILL. A run whose leader outlives SIGTERM
    (the command ignores it and stops its wrapper) held every round that cancelled it about
    3 s, and no other tenant's job was placed meanwhile. Now the round signals and goes on;
    the run is killed at the first look past the grace and metered up to that stop."""
    if "postgres" in database_url:
        pytest.skip("the backend, not the database, is under test")
    seconds = f"9200.{os.getpid()}"
    command = f"trap '' TERM; kill -STOP $PPID; sleep {seconds}"
    stubborn = _submit(city, city.enterprise, name="stubborn", command=command,
                       max_run_time_s=600)  # fmt: skip
    assert run_until(city, city.enterprise, stubborn, {"running"})["state"] == "running"
    _wait_for(lambda: bool(_processes_running(f"sleep {seconds}")), "the stubborn run's sleep")
    cancelled = city.client.post(
        f"/v1/jobs/{stubborn}/cancel", headers=city.headers(city.enterprise)
    )
    assert cancelled.status_code == 200, cancelled.text
    asked_at = time.monotonic()
    victim = _submit(city, city.other_enterprise, name="victim", max_run_time_s=60)
    placed = city.app.runtime.tick()  # the round that asks the backend to stop the run
    took_s = time.monotonic() - asked_at
    assert victim in [placement.job_id for placement in placed], placed
    assert took_s < KILL_GRACE_S / 2, f"the round waited {took_s:.1f} s on the cancel"
    assert city.get(city.enterprise, f"/v1/jobs/{stubborn}").json()["state"] == "running"
    done = run_until(city, city.enterprise, stubborn, {"cancelled", "failed", "succeeded"})
    assert done["state"] == "cancelled", done
    left = _processes_running(f"sleep {seconds}")
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"the cancelled job left {left} running"
    _assert_metered_to_the_stop_and_charged_once(city, stubborn)


def _wait_for(ready: Callable[[], bool], what: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"{what} never came"
        time.sleep(0.05)


def _assert_metered_to_the_stop_and_charged_once(city: City, job_id: str) -> None:
    """The run ran at least KILL_GRACE_S past the cancel (it outlived SIGTERM): that time is
    metered, the hold captures exactly the metered amount, and every balance rebuilds."""
    usage = city.get(city.enterprise, f"/v1/jobs/{job_id}/usage")
    assert usage.status_code == 200, usage.text
    line = usage.json()
    assert line["card_seconds"] >= int(KILL_GRACE_S), line
    assert line["amount_fen"] == line["card_seconds"], line  # 3600 fen per card-hour
    with city.app.db.session() as session:
        hold = session.execute(
            sa.text("SELECT state, posted_fen FROM ledger_holds WHERE id = :id"),
            {"id": f"job:{job_id}:hold"},
        ).one()
    assert (hold.state, hold.posted_fen) == ("posted", line["amount_fen"]), hold
    report = run_check(city.app.db)
    assert report.ok, report.violations


def test_one_tenants_backlog_of_waiting_jobs_cannot_hide_another_tenants_job(
    city: City,
) -> None:
    """Before: a round examines QUEUE_SCAN_MAX queued jobs, the oldest; one tenant's backlog
    of that many jobs that must wait (whole-pool jobs behind a running one: 8 fen held each)
    hid another tenant's one-card job that could start at once beside them, under every
    policy, `fair` included, for as long as the backlog lasted."""
    running = _submit(city, city.enterprise, name="long", command="sleep 30", cards=4,
                      max_run_time_s=3600)  # fmt: skip
    assert run_until(city, city.enterprise, running, {"running"})["state"] == "running"
    for n in range(FLOOD):
        _submit(city, city.enterprise, name=f"wait-{n}", cards=8, max_run_time_s=1)
    victim = _submit(city, city.other_enterprise, name="victim", max_run_time_s=60)
    done = run_until(city, city.other_enterprise, victim, {"succeeded", "failed"})
    assert done["state"] == "succeeded", done
    city.client.post(f"/v1/jobs/{running}/cancel", headers=city.headers(city.enterprise))
    run_until(city, city.enterprise, running, {"cancelled"})


@pytest.fixture
def capped_city(tmp_path: Path, database_url: str) -> Iterator[City]:
    """A city where an enterprise may have QUEUE_CAP jobs queued at once."""
    app = make_app(tmp_path, database_url, max_queued_jobs_per_enterprise=QUEUE_CAP)
    built = build_city(app)
    fund(app, built.enterprise_id, 10_000_000)
    fund(app, _org_of(built, built.other_enterprise), 10_000_000)
    yield built
    app.close()


QUEUE_CAP = 5


def _queued(city: City, token: str) -> int:
    return int(city.get(token, "/v1/jobs", params={"state": "queued"}).json()["total"])


def test_an_enterprise_at_its_queued_jobs_limit_is_refused_and_others_are_not(
    capped_city: City,
) -> None:
    """Before: one enterprise could queue any number of jobs."""
    city = capped_city
    first = [_submit(city, city.enterprise, name=f"q{n}") for n in range(QUEUE_CAP)]
    in_english = {**city.headers(city.enterprise), "Accept-Language": "en"}
    refused = city.client.post("/v1/jobs", json=job_spec(name="over"), headers=in_english)
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["error"] == "queued_jobs_limit", body
    assert body["details"] == {"limit": QUEUE_CAP, "queued": QUEUE_CAP}, body
    assert f"limit of {QUEUE_CAP}" in body["message"], body
    chinese = city.post(city.enterprise, "/v1/jobs", job_spec(name="over")).json()["message"]
    assert f"上限 {QUEUE_CAP} 个" in chinese, chinese
    assert _queued(city, city.enterprise) == QUEUE_CAP  # nothing written, no hold taken
    _submit(city, city.other_enterprise, name="other")  # a limit per enterprise
    cancel = city.client.post(f"/v1/jobs/{first[0]}/cancel", headers=city.headers(city.enterprise))
    assert cancel.status_code == 200, cancel.text
    _submit(city, city.enterprise, name="room-again")


@pytest.mark.parametrize("pool", ["priced", "free"])
def test_concurrent_submits_never_queue_past_the_limit(capped_city: City, pool: str) -> None:
    """Sixteen submits at once of one enterprise, with room for five: five are queued and the
    rest refused, on PostgreSQL too (each submit counts under a lock on the organisation). A
    job on a free pool holds no money, so no lock of the hold orders those submits: without
    the organisation's lock, more than five were queued there. On a priced pool, the two
    locks taken in the wrong kind once deadlocked (FOR UPDATE against the job's foreign key)."""
    city = capped_city
    spec = job_spec(command="true")
    if pool == "free":
        free = {"name": "free", "accelerator_model": "A100-SXM4-80GB", "nodes": 1,
                "cards_per_node": 8, "region": "浙江/杭州/余杭", "price_fen_per_card_hour": 0,
                "provider_id": city.provider_id}  # fmt: skip
        assert city.post(city.operator, "/v1/pools", free).status_code == 201
        spec["accelerators"] = ["A100-SXM4-80GB"]
    barrier = threading.Barrier(16)

    def send(n: int) -> int:
        client = TestClient(city.client.app)
        barrier.wait(timeout=30)
        body = {**spec, "name": f"race-{n}"}
        return client.post("/v1/jobs", json=body, headers=city.headers(city.enterprise)).status_code

    with ThreadPoolExecutor(16) as threads:
        codes = sorted(threads.map(send, range(16)))
    assert codes == [201] * QUEUE_CAP + [429] * (16 - QUEUE_CAP), codes
    assert _queued(city, city.enterprise) == QUEUE_CAP
