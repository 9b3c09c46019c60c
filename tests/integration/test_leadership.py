"""The scheduler lease and its fence on real PostgreSQL: one leader, and a deposed one writes
nothing (the multi-process failover itself: tests/e2e/test_replicas.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from suanli.adapters.db.ledger_repo import LedgerRepository
from suanli.adapters.db.tables import JobRow
from suanli.services import ledger
from suanli.services.leadership import Leadership, NotLeader
from suanli.services.runtime import _compare_and_set_placed
from tests.helpers import City, build_city, fund, make_app, python_command
from tests.unit.test_ledger_domain import hold

JOB = {"name": "one", "command": python_command("print(1)"), "cards": 1, "max_run_time_s": 60}


@pytest.fixture
def city(tmp_path: Path, postgres_schema_url: str) -> Iterator[City]:
    app = make_app(tmp_path, postgres_schema_url)
    built = build_city(app)
    fund(app, built.enterprise_id)
    yield built
    app.close()


def lease(city: City, name: str) -> Leadership:
    return Leadership(city.app.db, name, ttl_s=30, renew_s=1)


def expire_the_lease(city: City) -> None:
    with city.app.db.engine.begin() as connection:
        connection.execute(text("UPDATE scheduler_leases SET expires_at_s = 0"))


def test_one_leader_at_a_time_and_each_takeover_raises_the_epoch(city: City) -> None:
    first, second = lease(city, "first"), lease(city, "second")
    first.step()
    second.step()
    assert (first.leading(), second.leading()) == (True, False)
    epoch = first.epoch
    assert epoch is not None
    expire_the_lease(city)  # as if the first had stopped renewing a lease-time ago
    second.step()
    assert second.leading() and second.epoch == epoch + 1
    first.step()  # its renewal finds a newer epoch: it steps down
    assert not first.leading()
    second.release()
    first.step()  # a released lease is taken at once, no waiting out the ttl
    assert first.leading() and first.epoch == epoch + 2


def test_a_deposed_leader_places_nothing_and_the_new_one_places_the_job(city: City) -> None:
    runtime = city.app.runtime
    job_id = city.post(city.enterprise, "/v1/jobs", JOB).json()["id"]
    old, new = lease(city, "old"), lease(city, "new")
    old.step()
    expire_the_lease(city)
    new.step()  # the old one has not noticed yet: it still believes it leads
    assert old.leading() and new.leading()
    runtime.leadership = old
    with pytest.raises(NotLeader):
        runtime.tick()
    assert city.get(city.enterprise, f"/v1/jobs/{job_id}").json()["state"] == "queued"
    runtime.leadership = new
    placements = runtime.tick()
    assert [p.job_id for p in placements] == [job_id]
    assert city.get(city.enterprise, f"/v1/jobs/{job_id}").json()["state"] in ("placed", "running")


def test_queued_to_placed_is_a_compare_and_set_only_one_reader_wins(city: City) -> None:
    job_id = city.post(city.enterprise, "/v1/jobs", JOB).json()["id"]
    db = city.app.db
    with db.session() as stale:
        stale_job = stale.get(JobRow, job_id)
        assert stale_job is not None
        with db.session() as fresh:
            fresh_job = fresh.get(JobRow, job_id)
            assert fresh_job is not None
            assert _compare_and_set_placed(fresh, fresh_job)
        assert not _compare_and_set_placed(stale, stale_job)


class _HourAgo:
    def now(self) -> datetime:
        return datetime.now(UTC) - timedelta(hours=1)


def _available_fen(city: City, account_id: str) -> int:
    with city.app.db.engine.connect() as connection:
        return LedgerRepository(connection).account(account_id).balance.available_fen


def test_a_deposed_leaders_housekeeping_writes_nothing_and_the_new_one_sweeps(
    city: City,
) -> None:
    """Hold expiry is a write of the loop too: each of its transactions checks the lease."""
    wallet = ledger.wallet_id(city.enterprise_id)
    stale = hold("stale-hold", wallet, ledger.CLEARING_ACCOUNT_ID, 700, timeout_s=60)
    with city.app.db.session() as session:
        ledger.submit(session, _HourAgo(), [stale])  # its timeout passed 59 minutes ago
    before = _available_fen(city, wallet)
    runtime = city.app.runtime
    old, new = lease(city, "old"), lease(city, "new")
    old.step()
    expire_the_lease(city)
    new.step()
    assert old.leading() and new.leading()  # the old one has not noticed yet
    runtime.leadership = old
    with pytest.raises(NotLeader):
        runtime.housekeep_if_due()
    assert _available_fen(city, wallet) == before  # the hold is still held
    assert old.epoch is None  # the refused write told it that it no longer leads
    runtime.leadership = new
    runtime._last_housekeeping_at = None  # due again
    runtime.housekeep_if_due()
    assert _available_fen(city, wallet) == before + 700


def test_a_fenced_database_checks_in_every_unit_of_work(city: City) -> None:
    checked: list[object] = []
    fenced = city.app.db.fenced(checked.append)
    with fenced.session() as first, fenced.session() as second:
        assert checked == [first, second]
    with city.app.db.session():
        assert len(checked) == 2  # the plain database is not fenced
