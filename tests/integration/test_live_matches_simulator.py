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
from suanli.domain.scheduling import packing
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


def live_app(
    tmp_path: Path, policy: str, whole_cards: bool = False
) -> tuple[App, ManualClock, FakeBackend, list[Principal]]:
    clock = ManualClock()
    settings = load_settings(
        data_dir=tmp_path, scheduler_policy=policy, packing_whole_cards=whole_cards
    )
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
