"""The live scheduling loop and the simulator share the policy code: the same small workload
replayed through both gives the same placements at the same times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from suanli.adapters.backends.fake import FakeBackend
from suanli.adapters.db.tables import JobRow, PoolRow
from suanli.bootstrap import App, bootstrap
from suanli.config import load_settings
from suanli.services import jobs as job_service
from suanli.services.common import Principal
from suanli.services.organisations import create_organisation, create_user_with_token
from suanli.services.pools import pool_views
from suanli.services.runtime import queued_job
from suanli.simulation.engine import simulate
from suanli.simulation.workload import Fleet, Workload
from tests.helpers import fund

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
# (arrival s, owner index, cards, cards per node, run time s, priority)
WORKLOAD = [
    (0, 0, 8, 8, 50, 50),
    (0, 1, 4, 4, 30, 50),
    (5, 2, 8, 8, 40, 50),
    (5, 0, 2, 2, 20, 50),
    (10, 1, 16, 8, 30, 50),
    (12, 2, 1, 1, 60, 80),
    (20, 0, 4, 4, 10, 50),
    (25, 1, 8, 8, 20, 20),
    (30, 2, 2, 2, 15, 50),
    (31, 0, 8, 8, 25, 50),
    (40, 1, 4, 4, 35, 50),
    (41, 2, 1, 1, 5, 50),
]
# name, nodes, cards per node, fen per card-hour: one model, so run times need no translation
POOLS = [("cheap", 1, 8, 1000), ("mid", 2, 8, 1500), ("dear", 1, 4, 2600)]


class ManualClock:
    def __init__(self) -> None:
        self.at = START

    def now(self) -> datetime:
        return self.at


def live_app(tmp_path: Path, policy: str) -> tuple[App, ManualClock, FakeBackend, list[Principal]]:
    clock = ManualClock()
    app = bootstrap(load_settings(data_dir=tmp_path, scheduler_policy=policy), clock=clock)
    fake = FakeBackend()
    app.backends.register("fake-cluster", fake)
    owners = []
    with app.db.session() as session:
        provider = create_organisation(session, clock, name="p", kind="provider")
        for index in range(3):
            org = create_organisation(session, clock, name=f"e{index}", kind="enterprise")
            issued = create_user_with_token(session, clock, org_id=org.id, name="u")
            owners.append(Principal(issued.user_id, org.id, "enterprise"))
        for name, nodes, per_node, price in POOLS:
            session.add(
                PoolRow(
                    id=f"pool-{name}",
                    provider_id=provider.id,
                    name=name,
                    accelerator_model="H100-SXM",
                    nodes=nodes,
                    cards_per_node=per_node,
                    region="浙江/杭州",
                    price_fen_per_card_hour=price,
                    software={},
                    labels={},
                    backend="fake",
                    connection_id="fake-cluster",
                    created_at=START,
                )
            )
    for owner in owners:
        fund(app, owner.org_id)
    return app, clock, fake, owners


def run_live(app: App, clock: ManualClock, fake: FakeBackend, owners: list[Principal]) -> dict:
    arrivals = sorted(enumerate(WORKLOAD), key=lambda item: (item[1][0], item[0]))
    ends: dict[str, float] = {}  # backend id -> end time (s since START)
    started: dict[str, tuple[str, float]] = {}
    names: dict[str, str] = {}
    next_arrival = 0
    for _ in range(200):  # bounded: one iteration per event time
        pending = [arrivals[next_arrival][1][0]] if next_arrival < len(arrivals) else []
        times = pending + list(ends.values())
        if not times:
            break
        now_s = min(times)
        clock.at = START + timedelta(seconds=now_s)
        for backend_id in [b for b, end in ends.items() if end <= now_s]:
            fake.finish(backend_id, clock.at)
            del ends[backend_id]
        while next_arrival < len(arrivals) and arrivals[next_arrival][1][0] == now_s:
            index, row = arrivals[next_arrival]
            names[submit(app, clock, owners, index, row)] = f"w{index}"
            next_arrival += 1
        for _ in range(5):  # the simulator also re-runs the policy within one instant
            if not app.runtime.tick():
                break
        start_new(app, clock, fake, now_s, ends, started)
    return {names[job_id]: placed for job_id, placed in started.items()}


def submit(app: App, clock: ManualClock, owners: list[Principal], index: int, row: tuple) -> str:
    _, owner, cards, per_node, run_s, priority = row
    spec = job_service.spec_from_dict(
        {
            "name": f"w{index}",
            "command": "true",
            "cards": cards,
            "cards_per_node": per_node,
            "max_run_time_s": run_s,
            "priority": priority,
            "accelerators": ["H100-SXM"],
        }
    )
    with app.db.session() as session:
        return job_service.submit_job(session, app.settings, clock, owners[owner], spec).id


def start_new(
    app: App,
    clock: ManualClock,
    fake: FakeBackend,
    now_s: float,
    ends: dict[str, float],
    started: dict[str, tuple[str, float]],
) -> None:
    with app.db.session() as session:
        placed = list(session.scalars(select(JobRow).where(JobRow.state == "placed")))
    for job in placed:
        fake.start(str(job.backend_job_id), clock.at)
        ends[str(job.backend_job_id)] = now_s + int(job.spec["max_run_time_s"])
        started[job.id] = (str(job.pool_id), now_s)
    app.runtime.sync_active_jobs()


def run_simulated(app: App, policy: str) -> dict:
    with app.db.session() as session:
        fleet = Fleet(pools=tuple(pool_views(session)), source="live")
        rows = list(session.scalars(select(JobRow)))
    queued = sorted((queued_job(row) for row in rows), key=lambda j: (j.submitted_at_s, j.id))
    from suanli.domain.scheduling.policies import get_policy

    result = simulate(fleet, Workload(jobs=tuple(queued), source="live"), get_policy(policy))
    by_id = {row.id: row.name for row in rows}
    return {
        by_id[job_id]: (outcome.pool_id, round(outcome.started_at_s - START.timestamp(), 6))
        for job_id, outcome in result.outcomes.items()
        if outcome.started_at_s is not None
    }


@pytest.mark.parametrize("policy", ["fifo-first-fit", "cheapest", "fastest", "balanced", "fair"])
def test_live_loop_and_simulator_place_the_same_jobs_in_the_same_pools(
    tmp_path: Path, policy: str
) -> None:
    app, clock, fake, owners = live_app(tmp_path, policy)
    live = run_live(app, clock, fake, owners)
    simulated = run_simulated(app, policy)
    app.close()
    assert len(live) == len(WORKLOAD)
    assert live == simulated
