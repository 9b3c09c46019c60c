"""The avg-JCT bound against exact optima of random tiny instances (docs/scheduling.md, "A
lower bound on average JCT").

The optimum is over slot schedules: at the start of each slot every arrived, unfinished job
runs on `width` cards of one pool it may use, or waits; it may change pool (migrate) or stop
(preempt, keeping its progress) at any slot boundary. A job that needs less than the slot
finishes inside it (at the exact fraction) and leaves its cards idle. Every such schedule is a
schedule in continuous time, so its Σ JCT is ≥ the optimum over all preemptive, migrating
schedules, and a valid bound is ≤ it: the assertion is safe in that direction. The slot
optimum is exact (dynamic programming over the jobs' remaining fractions), so it is close
enough to the continuous one that a bound 5% too high fails on most instances.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import pytest

from suanli.domain.scheduling import objectives
from suanli.domain.scheduling.feasibility import static_mask
from suanli.domain.scheduling.model import ClusterState, QueuedJob
from suanli.domain.scheduling.objectives import Goal
from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.policies import Round
from suanli.simulation.bound import JctBound, Runnable, bound_of, jct_bound
from suanli.simulation.workload import Fleet, Workload
from tests.unit.scheduling.builders import chip, job, view

HOUR = 3600.0
FAST = chip("Fast-A", fp32=30.0, bandwidth_gbs=2000.0)  # cv 3× Slow-B; recsys 0.8× Slow-B
SLOW = chip("Slow-B", fp32=10.0, bandwidth_gbs=2500.0)
EPS = 1e-9

Runtimes = tuple[tuple[float, ...], ...]  # job × pool, math.inf where the job may not run


def slot_optimum(
    arrival: tuple[float, ...],
    width: tuple[float, ...],
    runtime: Runtimes,
    cards: tuple[float, ...],
    slot: float = 1.0,
) -> float:
    """The least Σ (C_j − a_j) over the slot schedules above (arrivals on slot boundaries)."""
    n = len(arrival)

    @functools.cache
    def best(t: int, remaining: tuple[float, ...]) -> float:
        left = [j for j in range(n) if remaining[j] > EPS]
        if not left:
            return 0.0
        now = t * slot
        active = tuple(j for j in left if arrival[j] <= now + EPS)
        if not active:  # idle until the next arrival: no job is in the system meanwhile
            return best(round(min(arrival[j] for j in left) / slot), remaining)
        least = math.inf
        for pools in _maximal_assignments(active, width, runtime, cards):
            cost, after = 0.0, list(remaining)
            for j, k in zip(active, pools, strict=True):
                if k >= 0 and remaining[j] * runtime[j][k] <= slot + EPS:
                    cost += remaining[j] * runtime[j][k]  # finishes inside the slot
                    after[j] = 0.0
                else:
                    cost += slot
                    if k >= 0:
                        after[j] = remaining[j] - slot / runtime[j][k]
            least = min(least, cost + best(t + 1, tuple(round(x, 9) for x in after)))
        return least

    return best(0, (1.0,) * n)


def _maximal_assignments(
    active: tuple[int, ...], width: tuple[float, ...], runtime: Runtimes, cards: tuple[float, ...]
) -> list[tuple[int, ...]]:
    """Each active job on a pool (index) or waiting (−1), within every pool's cards, such that
    no waiting job would fit anywhere it may run. Running more never hurts (the slot optimum
    is monotone in the work left), so the others need not be tried."""
    free, chosen, found = list(cards), [-1] * len(active), []

    def fits(j: int, k: int) -> bool:
        return runtime[j][k] < math.inf and free[k] >= width[j] - EPS

    def extend(i: int) -> None:
        if i == len(active):
            waiting = [j for j, k in zip(active, chosen, strict=True) if k < 0]
            if not any(fits(j, k) for j in waiting for k in range(len(cards))):
                found.append(tuple(chosen))
            return
        j = active[i]
        for k in range(len(cards)):
            if fits(j, k):
                free[k] -= width[j]
                chosen[i] = k
                extend(i + 1)
                free[k] += width[j]
        chosen[i] = -1
        extend(i + 1)

    extend(0)
    return found


def _bound_total(bound: JctBound) -> float:
    return bound.avg_jct_s * bound.jobs


def _safely_below(total: float, optimum: float) -> bool:
    """total ≤ optimum, up to the rounding of the work left (9 digits, per slot)."""
    return total <= optimum * (1 + 1e-7)


Instance = tuple[tuple[float, ...], tuple[float, ...], Runtimes, tuple[float, ...]]


def _random_instance(
    seed: int,
    pools: tuple[int, int] = (1, 3),
    jobs: tuple[int, int] = (2, 5),
    widths: tuple[float, ...] = (0.5, 1.0, 1.0, 1.0, 2.0),
    slots: tuple[int, int] = (1, 5),
    arrivals: tuple[int, int] = (0, 4),
    allowed: float = 0.8,
) -> Instance:
    """2-4 jobs (widths ½, 1 or 2 cards; integer arrivals 0-3) on 1-2 pools of 1-3 cards;
    each job may run on a pool with room for it with probability 0.8, taking 1-4 slots there
    (at least one pool each). The ranges (numpy's half-open `integers`) can be widened, as
    scripts/bound_exact_search.py does for its larger instances."""
    rng = np.random.default_rng(seed)
    cards = tuple(float(rng.integers(1, 4)) for _ in range(int(rng.integers(*pools))))
    arrival, width, runtime = [], [], []
    for _ in range(int(rng.integers(*jobs))):
        w = min(float(rng.choice(widths)), max(cards))
        row: list[float] = [math.inf]
        while min(row) == math.inf:
            row = [
                float(rng.integers(*slots))
                if cards[k] >= w and rng.random() < allowed
                else math.inf
                for k in range(len(cards))
            ]
        arrival.append(float(rng.integers(*arrivals)))
        width.append(w)
        runtime.append(tuple(row))
    return tuple(arrival), tuple(width), tuple(runtime), cards


def _bound_of_instance(
    arrival: tuple[float, ...], width: tuple[float, ...], runtime: Runtimes, cards: tuple
) -> JctBound:
    """The bound with every job a speed group of its own (σ_jk = r_j ÷ r_jk, 0 where barred)."""
    times = np.array(runtime)
    fastest = times.min(axis=1)
    allowed = np.isfinite(times)
    speed = np.where(allowed, fastest[:, None] / np.where(allowed, times, 1.0), 0.0)
    runnable = Runnable(
        np.array(arrival),
        np.array(width),
        fastest,
        np.arange(len(arrival)),
        speed,
        np.array(cards),
    )
    return bound_of(runnable)


def test_the_slot_optimum_of_hand_instances() -> None:
    # one card, jobs of 1 and 2 slots at 0: the short one first, 1 + 3 = 4
    assert slot_optimum((0.0, 0.0), (1.0, 1.0), ((1.0,), (2.0,)), (1.0,)) == pytest.approx(4.0)
    # two cards, three one-slot jobs: 1 + 1 + 2 = 4 (the bound's docstring example, ×3)
    three = ((1.0,),) * 3
    assert slot_optimum((0.0,) * 3, (1.0,) * 3, three, (2.0,)) == pytest.approx(4.0)
    # a 4-slot job at 0 is preempted at 1 for a 1-slot job: 1 + 5 = 6, not 4 + 4 = 8
    assert slot_optimum((0.0, 1.0), (1.0, 1.0), ((4.0,), (1.0,)), (1.0,)) == pytest.approx(6.0)
    # a fast card (2 slots) and a slow one (6): a job at 0 runs on the fast one; a second one,
    # barred from the slow card, arrives at 1 and takes the fast one (done at 3) while the
    # first migrates to the slow one (½ left: 3 slots, done at 4): 2 + 4 = 6, where staying
    # put (done at 2, the second at 4: 5) is better: the optimum is 5
    runtime = ((2.0, 6.0), (2.0, math.inf))
    assert slot_optimum((0.0, 1.0), (1.0, 1.0), runtime, (1.0, 1.0)) == pytest.approx(5.0)
    # with the first one able to finish on the slow card early enough (3 slots there, ½ left:
    # 1½), migrating wins: the second done at 3 (2), the first at 1 + 1.5 = 2.5: 4.5
    runtime = ((2.0, 3.0), (2.0, math.inf))
    assert slot_optimum((0.0, 1.0), (1.0, 1.0), runtime, (1.0, 1.0)) == pytest.approx(4.5)
    # two half-card shares fit on one card together
    halves = slot_optimum((0.0, 0.0), (0.5, 0.5), ((3.0,), (3.0,)), (1.0,))
    assert halves == pytest.approx(6.0)


SEEDS = range(150)


def test_the_bound_never_exceeds_the_exact_optimum_of_random_tiny_instances() -> None:
    ratios = []
    for seed in SEEDS:
        instance = _random_instance(seed)
        bound = _bound_of_instance(*instance)
        optimum = slot_optimum(*instance)
        assert _safely_below(_bound_total(bound), optimum), (seed, instance, bound, optimum)
        if bound.avg_jct_s > 1.01 * bound.runtime_avg_s:
            ratios.append(_bound_total(bound) / optimum)
    # the check has teeth: many instances are contended (the bound says more than the floor),
    # and there the bound is mostly within 10% of the optimum, so 5% too much would fail
    assert len(ratios) > 40
    assert float(np.median(ratios)) > 0.9
    assert sum(ratio * 1.05 > 1 + 1e-6 for ratio in ratios) > 10


def test_a_finer_slot_only_lowers_the_optimum_and_the_bound_stays_below() -> None:
    for seed in range(0, 150, 5):
        instance = _random_instance(seed)
        coarse, fine = slot_optimum(*instance), slot_optimum(*instance, slot=0.5)
        assert fine <= coarse + 1e-9
        assert _safely_below(_bound_total(_bound_of_instance(*instance)), fine), seed


def _fleet_instance(seed: int) -> tuple[Fleet, Workload]:
    """1-2 pools of 1-3 Fast-A or Slow-B cards (1,000 or 300 fen per card-hour); 2-4 cv or
    recsys jobs of ½, 1 or 2 cards, 1-3 h on Fast-A, arriving on the hour, some with a budget
    of 0.4-2 card-hours of Fast-A."""
    rng = np.random.default_rng(10_000 + seed)
    pools = []
    for i in range(int(rng.integers(1, 3))):
        fast = bool(rng.random() < 0.5)
        cards = int(rng.integers(1, 4))
        pools.append(
            view(f"p{i}", FAST if fast else SLOW, cards_per_node=cards, price=1000 if fast else 300)
        )
    fleet = Fleet(tuple(pools), f"tiny-{seed}")
    most = max(pool.pool.cards for pool in pools)
    jobs = []
    for i in range(int(rng.integers(2, 5))):
        size = str(rng.choice(["share", "1", "1", "2"]))
        fields: dict[str, Any] = {"cards": 1, "card_milli": 500} if size == "share" else {}
        if size == "2" and most >= 2:
            fields = {"cards": 2}
        if rng.random() < 0.3:
            fields["budget_fen"] = int(rng.choice([400, 1000, 2000]))
        jobs.append(
            job(
                f"j{i}",
                reference="Fast-A",
                job_class=str(rng.choice(["cv-train-fp32", "recsys"])),
                runtime_s=float(rng.integers(1, 4)) * HOUR,
                submitted_at_s=float(rng.integers(0, 4)) * HOUR,
                **fields,
            )
        )
    return fleet, Workload(tuple(jobs), f"tiny-{seed}")


def _as_slots(
    fleet: Fleet, workload: Workload, performance: PerformanceModel
) -> tuple[tuple[float, ...], tuple[float, ...], Runtimes, tuple[float, ...]]:
    """The instance in hours, with each job's runtime on each pool as the replay computes it
    (`Replay._runtime_s`) and the pools the policies may give it (feasible, within budget)."""
    state = ClusterState.empty(fleet.pools)
    round_ = Round(state, performance, 0.0)
    arrival, width, runtime = [], [], []
    for queued in workload.jobs:
        row = _runtimes_h(round_, queued)
        if min(row) < math.inf:  # the rest are unplaceable, as the replay counts them
            arrival.append(queued.submitted_at_s / HOUR)
            width.append(queued.spec.milli_cards / 1000.0)
            runtime.append(row)
    cards = tuple(float(pool.pool.cards) for pool in fleet.pools)
    return tuple(arrival), tuple(width), tuple(runtime), cards


def _runtimes_h(round_: Round, queued: QueuedJob) -> tuple[float, ...]:
    matrix = round_.state.matrix
    pools = np.flatnonzero(static_mask(queued.spec, matrix))
    allowed = round_.priced(queued, pools, Goal(objectives.COST)).pools  # budget
    factors = round_.performance.runtime_factors(
        matrix, queued.spec.job_class, queued.reference_model
    )
    hours = queued.expected_reference_runtime_s * factors / HOUR
    return tuple(float(hours[k]) if k in allowed else math.inf for k in range(matrix.size))


def test_the_bound_of_a_fleet_and_workload_never_exceeds_the_exact_optimum() -> None:
    # through `jct_bound`: speed groups per class, budgets, shares and chips as the replay
    # sees them (cv runs 3× longer on Slow-B, recsys 0.8×)
    performance, contended = PerformanceModel(), 0
    for seed in range(40):
        fleet, workload = _fleet_instance(seed)
        bound = jct_bound(fleet, workload, performance)
        instance = _as_slots(fleet, workload, performance)
        assert bound.jobs == len(instance[0])
        if not bound.jobs:
            continue
        optimum = slot_optimum(*instance) * HOUR
        assert _safely_below(_bound_total(bound), optimum), (seed, bound, optimum)
        contended += bound.avg_jct_s > 1.01 * bound.runtime_avg_s
    assert contended > 10
