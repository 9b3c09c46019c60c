"""The live scheduling loop and the simulator share the policy code: the same small workload
replayed through both gives the same placements at the same times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from suanli.adapters.backends.fake import FakeBackend
from suanli.adapters.db.tables import JobRow, PoolRow
from suanli.bootstrap import App, bootstrap
from suanli.config import load_settings
from suanli.domain.scheduling import packing
from suanli.domain.scheduling.model import Placement
from suanli.domain.scheduling.policies import QUEUE_SCAN_MAX
from suanli.services import jobs as job_service
from suanli.services.common import Principal
from suanli.services.organisations import create_organisation, create_user_with_token
from suanli.services.pools import pool_views
from suanli.services.runtime import queued_job
from suanli.simulation.engine import simulate
from suanli.simulation.workload import Fleet, Workload
from tests.helpers import fund, seed_migrated_sqlite

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


def live_app(
    tmp_path: Path, policy: str, whole_cards: bool = False
) -> tuple[App, ManualClock, FakeBackend, list[Principal]]:
    clock = ManualClock()
    settings = load_settings(
        data_dir=tmp_path, scheduler_policy=policy, packing_whole_cards=whole_cards
    )
    seed_migrated_sqlite(tmp_path / "suanli.db")
    app = bootstrap(settings, clock=clock)
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


def run_simulated(app: App, policy: str, whole_cards: bool = False) -> dict:
    with app.db.session() as session:
        fleet = Fleet(pools=tuple(pool_views(session)), source="live")
        rows = list(session.scalars(select(JobRow)))
    queued = sorted((queued_job(row) for row in rows), key=lambda j: (j.submitted_at_s, j.id))
    from suanli.domain.scheduling.policies import PolicyOptions, get_policy

    options = PolicyOptions(packing_whole_cards=whole_cards)
    workload = Workload(jobs=tuple(queued), source="live")
    result = simulate(fleet, workload, get_policy(policy, options=options))
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


@pytest.mark.parametrize("policy", ["cheapest", "fastest"])
def test_with_whole_cards_packed_too_the_live_loop_and_simulator_still_agree(
    tmp_path: Path, policy: str
) -> None:
    """SUANLI_PACKING_WHOLE_CARDS: one-node whole-card jobs go through the packing policy."""
    app, clock, fake, owners = live_app(tmp_path, policy, whole_cards=True)
    live = run_live(app, clock, fake, owners)
    simulated = run_simulated(app, policy, whole_cards=True)
    app.close()
    assert len(live) == len(WORKLOAD)
    assert live == simulated


# ---- past the window: both examine the same jobs however long the queue ------------------

# Tenant 0's backlog: more 16-card jobs than a round examines, in BACKLOG_CLASSES requirement
# classes (min_memory_gib), waiting behind tenant 2's 16-card job on the only pool that fits.
BACKLOG = QUEUE_SCAN_MAX + 44
BACKLOG_CLASSES = 10
BACKLOG_RUN_S, OTHERS_RUN_S = 100, 200
OTHERS = [(1, "b0"), (1, "b1"), (2, "c0"), (2, "c1")]  # (owner index, name): one card each


def submit_named(app: App, clock: ManualClock, owner: Principal, name: str, **spec: Any) -> str:
    body = {"name": name, "command": "true", "accelerators": ["H100-SXM"], **spec}
    with app.db.session() as session:
        job_spec = job_service.spec_from_dict(body)
        return job_service.submit_job(session, app.settings, clock, owner, job_spec).id


def placed_at_once(app: App) -> set[str]:
    """The names of the jobs the live loop places now (re-ticked, as the simulator re-runs
    a round within one instant)."""
    placed: list[Placement] = []
    for _ in range(5):
        tick = app.runtime.tick()
        if not tick:
            break
        placed += tick
    ids = [placement.job_id for placement in placed]
    with app.db.session() as session:
        return set(session.scalars(select(JobRow.name).where(JobRow.id.in_(ids))))


@pytest.mark.parametrize("policy", ["cheapest", "fair"])
def test_past_the_window_the_live_loop_and_simulator_examine_the_same_jobs(
    tmp_path: Path, policy: str
) -> None:
    """Before: past QUEUE_SCAN_MAX queued jobs the live loop took each enterprise in turn,
    while the simulator took up to 32 jobs of each requirement class by priority: tenant 0's
    backlog in 10 classes filled the simulator's window, so the other tenants' one-card jobs,
    placed at once by the live loop, waited in the replay."""
    app, clock, fake, owners = live_app(tmp_path, policy)
    submit_named(app, clock, owners[2], "blocker", cards=16, cards_per_node=8,
                 max_run_time_s=1000)  # fmt: skip
    assert placed_at_once(app) == {"blocker"}
    start_new(app, clock, fake, 0.0, {}, {})
    clock.at = START + timedelta(seconds=1)
    for n in range(BACKLOG):
        submit_named(app, clock, owners[0], f"a{n}", cards=16, cards_per_node=8,
                     max_run_time_s=BACKLOG_RUN_S,
                     min_memory_gib=1 + n % BACKLOG_CLASSES)  # fmt: skip
    assert placed_at_once(app) == set()
    clock.at = START + timedelta(seconds=2)  # after the backlog: the oldest are tenant 0's
    for owner, name in OTHERS:
        submit_named(app, clock, owners[owner], name, cards=1, max_run_time_s=OTHERS_RUN_S)
    live = placed_at_once(app)
    simulated = run_simulated(app, policy)
    app.close()
    assert live == {name for name, (_, at_s) in simulated.items() if at_s == 2.0}
    assert live == {name for _, name in OTHERS}  # the backlog hid none of them


# ---- the card within the pool: the live loop's choice is the packing policy's -------------

# Shares (milli of one card) submitted in batches; the runtime is ticked after each batch, so
# each batch is decided against the requests seen so far (4, then 8, then 16: the window
# recomputes its distribution each time). FGD opens a fresh card for the second job (400
# beside a 500 share would leave 100 milli no typical request can use); best fit joins it.
SHARE_BATCHES = [
    [500, 400, 100, 100],
    [700, 600, 700, 400],
    [700, 250, 400, 700, 200, 250, 200, 400],
]
SHARE_NODES, SHARE_CARDS = 3, 4
SHARE_MODEL = "H100-SXM"


def share_app(tmp_path: Path, packing: str) -> tuple[App, ManualClock, Principal]:
    clock = ManualClock()
    settings = load_settings(data_dir=tmp_path, scheduler_policy="cheapest", packing_policy=packing)
    seed_migrated_sqlite(tmp_path / "suanli.db")
    app = bootstrap(settings, clock=clock)
    app.backends.register("fake-cluster", FakeBackend())
    with app.db.session() as session:
        provider = create_organisation(session, clock, name="p", kind="provider")
        org = create_organisation(session, clock, name="e", kind="enterprise")
        issued = create_user_with_token(session, clock, org_id=org.id, name="u")
        session.add(
            PoolRow(
                id="pool-shared",
                provider_id=provider.id,
                name="shared",
                accelerator_model=SHARE_MODEL,
                nodes=SHARE_NODES,
                cards_per_node=SHARE_CARDS,
                region="浙江/杭州",
                price_fen_per_card_hour=1000,
                software={},
                labels={},
                backend="fake",
                connection_id="fake-cluster",
                created_at=START,
            )
        )
    fund(app, org.id)
    return app, clock, Principal(issued.user_id, org.id, "enterprise")


def live_shares(tmp_path: Path, packing: str) -> list[tuple[int, int]]:
    """(node, card) of each share, in submission order, as the live loop placed them."""
    app, clock, owner = share_app(tmp_path, packing)
    ids: list[str] = []
    for batch in SHARE_BATCHES:
        for milli in batch:
            clock.at += timedelta(seconds=1)  # distinct submission times: a known queue order
            spec = job_service.spec_from_dict(
                {
                    "name": f"s{len(ids)}",
                    "command": "true",
                    "cards": 1,
                    "card_milli": milli,
                    "max_run_time_s": 3600,
                    "accelerators": [SHARE_MODEL],
                }
            )
            with app.db.session() as session:
                ids.append(job_service.submit_job(session, app.settings, clock, owner, spec).id)
        placed = app.runtime.tick()
        assert len(placed) == len(batch)
    with app.db.session() as session:
        rows = {row.id: row for row in session.scalars(select(JobRow))}
        shares = [rows[job_id].card_share for job_id in ids]
    app.close()
    assert all(share is not None for share in shares)
    return [(int(share["node"]), int(share["card"])) for share in shares if share is not None]


def simulated_shares(packing_policy: str) -> list[tuple[int, int]]:
    """The same shares through `packing.choose` on the table `suanli simulate packing` uses,
    against the distribution of the requests submitted so far."""
    nodes = packing.PackingNodes.build(
        [SHARE_MODEL],
        [0] * SHARE_NODES,
        [SHARE_CARDS] * SHARE_NODES,
        [packing.MAX_SPEC_CPU_MILLI] * SHARE_NODES,  # the pool declares no CPU: no limit
        [0] * SHARE_NODES,
    )
    seen: list[packing.PodRequest] = []
    chosen: list[tuple[int, int]] = []
    for batch in SHARE_BATCHES:
        # the jobs name the pool's model, so the distribution's specs carry it (model id 0)
        seen += [packing.PodRequest(0, 0, 1, milli, frozenset({0})) for milli in batch]
        context = packing.PackingContext(typical=packing.typical_pods(seen, 1))
        for milli in batch:
            pod = packing.PodRequest(0, 0, 1, milli)
            choice = packing.choose(packing_policy, nodes, pod, context)
            assert choice is not None
            packing.place(nodes, choice, pod)
            chosen.append((choice.node, choice.slots[0]))
    return chosen


@pytest.mark.parametrize("packing_policy", ["fgd", "suanli", "best-fit", "dot-product"])
def test_live_loop_puts_shares_on_the_cards_the_packing_policy_picks(
    tmp_path: Path, packing_policy: str
) -> None:
    live = live_shares(tmp_path, packing_policy)
    assert live == simulated_shares(packing_policy)


def test_the_configured_packing_policy_decides_the_card(tmp_path: Path) -> None:
    """FGD and best fit part ways on this sequence, so the live choices show which one ran."""
    fgd = live_shares(tmp_path / "fgd", "fgd")
    best_fit = live_shares(tmp_path / "best-fit", "best-fit")
    assert fgd[1] == (0, 1)  # a fresh card: 400 beside the 500 share would strand 100 milli
    assert best_fit[1] == (0, 0)  # the fullest card that still fits
    assert fgd != best_fit
