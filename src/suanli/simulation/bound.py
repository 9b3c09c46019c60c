"""A lower bound on average JCT that holds for ANY schedule, even preemptive and migrating.

The floor (`floor.py`) times each job alone on its fastest pool and ignores that the jobs share
the fleet. This bound adds the sharing. The proof is in docs/scheduling.md ("A lower bound on
average JCT"); in short, for the runnable jobs j (arrival a_j, width w_j cards, runtime r_j on
its fastest feasible pool within budget, volume v_j = w_j × r_j), in any schedule:

- a card of pool k does at most s_k of any job's volume per second, s_k = the largest
  r_j ÷ (j's runtime on k) over the jobs that may run on k; so the fleet does at most
  C = Σ cards_k × s_k volume per second in all, and job j at most w_j;
- (runtime) C_j − a_j ≥ r_j: the floor;
- (SRPT) on one preemptive machine of rate C, shortest remaining volume first minimises
  Σ C_j, and any schedule's useful work is a schedule of that machine;
- (priced) with ρ_j(t) ≤ w_j job j's rate of useful work, M_j = ∫ t ρ_j dt ÷ v_j ≤ C_j − r_j ÷ 2,
  and for any card prices μ_k(t) ≥ 0 per pool, job j paying π_j(t) = min_k μ_k(t) ÷ σ_jk per
  unit of volume (σ_jk = r_j ÷ its runtime on k), Σ_j M_j ≥ Σ_j g_j − Σ_k cards_k ∫ μ_k dt,
  g_j = min over ρ of ∫ (t ÷ v_j + π_j(t)) ρ dt: the Lagrangian relaxation of every pool's
  card limit; each g_j is a fractional knapsack over time, solved from below. The prices are
  piecewise constant and improved by projected subgradient steps; every choice gives a valid
  bound, the best one is kept. Prices 0 give the floor exactly.

The bound is the largest of the three; all are valid, so their maximum is. Work lost to
preemption only adds, so it holds for every policy the replay runs.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from suanli.domain.scheduling import objectives
from suanli.domain.scheduling.feasibility import static_mask
from suanli.domain.scheduling.matrix import FloatArray, IntArray
from suanli.domain.scheduling.model import ClusterState, QueuedJob
from suanli.domain.scheduling.objectives import Goal
from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.policies import Round
from suanli.simulation.workload import Fleet, Workload

MILLI_PER_CARD = 1000.0
PRICE_PIECES = 150  # μ is constant on this many equal pieces of [first arrival, horizon)
PRICE_ITERATIONS = (
    100  # subgradient steps on the prices per phase (each: one pass over jobs × pieces)
)
BISECTION_STEPS = 32  # per job threshold of its knapsack over time
CHUNK_JOBS = 4096  # jobs per vectorised block (memory: CHUNK_JOBS × PRICE_PIECES floats)
STEP_GROW, STEP_SHRINK = 1.5, 0.5
FIRST_STEP_SHARE = 0.01  # first step: this share of span ÷ mean volume (μ's natural unit)
FAILURES_MAX = 12  # consecutive steps without a better bound (the step shrank 4,096×): stop


@dataclass(frozen=True)
class JctBound:
    avg_jct_s: float  # the largest of the three below: no schedule's avg JCT is lower
    runtime_avg_s: float  # mean fastest run alone (the floor)
    srpt_avg_s: float  # mean JCT of SRPT on one machine of the fleet's capacity
    priced_avg_s: float  # the Lagrangian (priced capacity) bound
    capacity_cards: float  # C: the fleet in cards of each job's fastest chip (upper bound)
    jobs: int

    def as_dict(self) -> dict[str, float | int]:
        return {
            "avg_jct_s": round(self.avg_jct_s, 3),
            "runtime_avg_s": round(self.runtime_avg_s, 3),
            "srpt_avg_s": round(self.srpt_avg_s, 3),
            "priced_avg_s": round(self.priced_avg_s, 3),
            "capacity_cards": round(self.capacity_cards, 3),
            "jobs": self.jobs,
        }


@dataclass(frozen=True)
class Runnable:
    arrival_s: FloatArray  # a_j
    width: FloatArray  # w_j, cards (a share counts as its fraction of a card)
    runtime_s: FloatArray  # r_j, on the fastest feasible pool within budget
    group: IntArray  # jobs of one group have the same speed on every pool
    speed: FloatArray  # groups × pools: σ = r_j ÷ j's runtime there, 0 where j may not run
    cards: FloatArray  # per pool

    @property
    def capacity_cards(self) -> float:
        """C = Σ_k cards_k × s_k, s_k the best σ of any group on pool k."""
        best = self.speed.max(axis=0) if self.speed.size else np.zeros(self.cards.size)
        return float((self.cards * best).sum())


def jct_bound(
    fleet: Fleet,
    workload: Workload,
    performance: PerformanceModel,
    iterations: int = PRICE_ITERATIONS,
) -> JctBound:
    return bound_of(_runnable(fleet, workload, performance), iterations)


def bound_of(runnable: Runnable, iterations: int = PRICE_ITERATIONS) -> JctBound:
    """The bound for jobs given directly by arrival, width, fastest runtime and speed per pool
    (`jct_bound` derives them from a fleet, workload and performance model)."""
    n, capacity = runnable.runtime_s.size, runnable.capacity_cards
    if n == 0 or capacity <= 0:
        return JctBound(0.0, 0.0, 0.0, 0.0, capacity, n)
    arrival, width, runtime = runnable.arrival_s, runnable.width, runnable.runtime_s
    runtime_avg = float(runtime.mean())
    srpt = srpt_completions(arrival, width * runtime / capacity)  # p_j = v_j ÷ C
    srpt_avg = float((srpt - arrival).mean())
    priced_avg = priced_total(runnable, iterations) / n
    best = max(runtime_avg, srpt_avg, priced_avg)
    return JctBound(best, runtime_avg, srpt_avg, priced_avg, capacity, n)


def srpt_completions(arrival: FloatArray, processing: FloatArray) -> FloatArray:
    """Completion times on one preemptive machine under SRPT (the released unfinished job
    with the least remaining processing runs), which minimises Σ C_j (Schrage 1968)."""
    n = arrival.size
    order = np.argsort(arrival, kind="stable")
    completion = np.zeros(n)
    remaining = processing.astype(np.float64).copy()
    ready: list[tuple[float, int]] = []
    now, next_index = 0.0, 0
    while next_index < n or ready:
        if not ready:
            now = max(now, float(arrival[order[next_index]]))
        while next_index < n and arrival[order[next_index]] <= now:
            j = int(order[next_index])
            heapq.heappush(ready, (float(remaining[j]), j))
            next_index += 1
        _, j = heapq.heappop(ready)
        until = float(arrival[order[next_index]]) if next_index < n else np.inf
        left = float(remaining[j])
        run = min(left, until - now)
        now += run
        if run >= left:
            remaining[j] = 0.0
            completion[j] = now
        else:
            remaining[j] = left - run
            heapq.heappush(ready, (left - run, j))
    return completion


def priced_total(runnable: Runnable, iterations: int = PRICE_ITERATIONS) -> float:
    """A lower bound on Σ (C_j − a_j) from the Lagrangian relaxation of every pool's cards, at
    the best prices found by projected subgradient steps (0 steps: the floor): first with
    one price per piece of time, each pool's in proportion to its best speed s_k (the
    fleet as C cards), then with each pool's price free."""
    keep = runnable.runtime_s > 0  # a zero-length job adds 0 to Σ JCT and uses no capacity
    if not keep.any():
        return 0.0
    arrival = runnable.arrival_s[keep]
    arrival = arrival - float(arrival.min())  # times ≥ 0, so every cost below is ≥ 0
    jobs = _Jobs(arrival, runnable.width[keep], runnable.runtime_s[keep], runnable.group[keep])
    volume = jobs.width * jobs.runtime
    horizon = float(arrival.max() + volume.sum() / runnable.capacity_cards) + 1.0
    edges = np.linspace(0.0, horizon, PRICE_PIECES + 1)
    dual = _Dual(jobs, runnable.speed, runnable.cards, edges)
    first_step = FIRST_STEP_SHARE * horizon / float(volume.mean())
    best = runnable.speed.max(axis=0)
    tied = np.zeros((best.size, PRICE_PIECES))
    value, prices = dual.ascend(tied, first_step, iterations, tied_to=best)
    value, prices = dual.ascend(prices, first_step, iterations, tied_to=None)
    return value - float(arrival.sum())


@dataclass(frozen=True)
class _Jobs:
    arrival: FloatArray
    width: FloatArray
    runtime: FloatArray
    group: IntArray


class _Dual:
    """The Lagrangian dual at card prices μ (pools × pieces of time): a lower bound on Σ C_j.

    Job j pays π_j(t) = min over the pools k it may use of μ_k(t) ÷ σ_jk per unit of its
    volume (a unit of volume takes 1 ÷ σ_jk card-seconds there), so for any useful-work rates
    Σ_j π_j ρ_j ≤ Σ_k μ_k × (cards of k in use) ≤ Σ_k μ_k cards_k, and
    Σ_j M_j ≥ Σ_j g_j(π_j) − Σ_k cards_k ∫ μ_k. See docs/scheduling.md."""

    def __init__(self, jobs: _Jobs, speed: FloatArray, cards: FloatArray, edges: FloatArray):
        self.jobs, self.cards, self.edges = jobs, cards, edges
        self.lengths = np.diff(edges)
        self.usable = speed > 0  # groups × pools
        self.inverse = np.where(self.usable, 1.0 / np.where(self.usable, speed, 1.0), 0.0)

    def value(self, prices: FloatArray) -> tuple[float, FloatArray]:
        """(the bound on Σ C_j, card-seconds the minimisers use per pool and piece − cards ×
        the piece's length: a subgradient)."""
        per_group = np.where(  # groups × pools × pieces; a pool the group may not use: ∞
            self.usable[:, :, None], prices[None, :, :] * self.inverse[:, :, None], np.inf
        )
        cheapest = per_group.argmin(axis=1)  # groups × pieces
        group_price = np.take_along_axis(per_group, cheapest[:, None, :], axis=1)[:, 0, :]
        jobs, groups = self.jobs, self.inverse.shape[0]
        total, volume_used = 0.0, np.zeros((groups, self.lengths.size))
        for lo in range(0, jobs.arrival.size, CHUNK_JOBS):
            part = slice(lo, lo + CHUNK_JOBS)
            group = jobs.group[part]
            value, used = _knapsacks(
                jobs.arrival[part],
                jobs.width[part],
                jobs.runtime[part],
                self.edges,
                group_price[group],
            )
            total += value
            np.add.at(volume_used, group, used)
        card_s = np.zeros_like(prices)
        pieces = np.arange(self.lengths.size)
        for g in range(groups):
            inverse = self.inverse[g, cheapest[g]]
            np.add.at(
                card_s,
                (cheapest[g], pieces),
                np.where(volume_used[g] > 0, volume_used[g] * inverse, 0.0),
            )
        capacity = self.cards[:, None] * self.lengths[None, :]
        total += float(jobs.runtime.sum()) / 2 - float((prices * capacity).sum())
        return total, card_s - capacity

    def ascend(
        self, prices: FloatArray, step: float, iterations: int, tied_to: FloatArray | None
    ) -> tuple[float, FloatArray]:
        """Projected subgradient steps from `prices`, the best (value, prices) seen. With
        `tied_to` (s_k), every pool's price stays s_k × one price per piece."""
        capacity = self.cards[:, None] * self.lengths[None, :]
        best, gradient = self.value(prices)
        failures = 0
        for _ in range(iterations):
            if tied_to is not None:
                overuse = (tied_to[:, None] * gradient).sum(axis=0)
                overuse = overuse / (tied_to @ capacity)
                direction = tied_to[:, None] * overuse[None, :]
            else:
                direction = gradient / np.where(capacity > 0, capacity, np.inf)
            norm = float(np.sqrt((direction**2).sum()))
            if norm == 0:
                break
            candidate = np.maximum(0.0, prices + step * direction / norm)
            value, candidate_gradient = self.value(candidate)
            if value > best:
                best, prices, gradient = value, candidate, candidate_gradient
                step, failures = step * STEP_GROW, 0
            else:
                step, failures = step * STEP_SHRINK, failures + 1
                if failures >= FAILURES_MAX:
                    break
        return best, prices


def _knapsacks(
    arrival: FloatArray,
    width: FloatArray,
    runtime: FloatArray,
    edges: FloatArray,
    price: FloatArray,  # jobs × pieces: each job's price per unit volume
) -> tuple[float, FloatArray]:
    """Σ_j of a lower bound on min ∫ (t ÷ v_j + μ(t)) ρ_j(t) dt over 0 ≤ ρ_j ≤ w_j, ρ_j = 0
    before a_j, ∫ ρ_j = v_j; and Σ_j w_j × the time the minimiser spends in each piece.

    Running at rate w_j costs (t + v_j μ(t)) ÷ r_j per second, so the minimiser runs over the
    instants whose t + v_j μ(t) is below a threshold φ_j, total length r_j; in each piece an
    initial segment. φ_j is bisected from below: the segments at φ_lo cost what they cost,
    and the length still missing costs at least φ_lo ÷ r_j per second, which keeps the sum a
    lower bound at every step. After the last piece μ = 0."""
    volume = width * runtime
    start = np.maximum(edges[None, :-1], arrival[:, None])  # where each piece opens for j
    room = np.maximum(edges[None, 1:] - start, 0.0)
    lifted = volume[:, None] * price  # v_j μ in each piece
    tail_start = np.maximum(edges[-1], arrival)  # the unpriced remainder [end, ∞)

    def lengths(phi: FloatArray) -> tuple[FloatArray, FloatArray]:
        inside = np.clip(phi[:, None] - lifted - start, 0.0, room)
        return inside, np.maximum(phi - tail_start, 0.0)

    low = arrival.copy()  # nothing taken yet
    high = arrival + runtime + volume * price.max(axis=1, initial=0.0) + 1.0  # ≥ r_j taken
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        inside, tail = lengths(middle)
        enough = inside.sum(axis=1) + tail >= runtime
        high = np.where(enough, middle, high)
        low = np.where(enough, low, middle)
    inside, tail = lengths(low)
    missing = np.maximum(runtime - inside.sum(axis=1) - tail, 0.0)
    time_cost = (inside * (start + inside / 2)).sum(axis=1) + tail * (tail_start + tail / 2)
    priced = width * (inside * price).sum(axis=1)
    value = time_cost / runtime + priced + missing * low / runtime
    return float(value.sum()), width[:, None] * inside


def _runnable(fleet: Fleet, workload: Workload, performance: PerformanceModel) -> Runnable:
    """Each runnable job's arrival, width, fastest runtime and speed group, each group's σ."""
    state = ClusterState.empty(fleet.require_nonempty().pools)
    round_ = Round(state, performance, 0.0)
    groups: dict[tuple[object, ...], tuple[int, float] | None] = {}  # -> (group, factor)
    speeds: list[FloatArray] = []
    arrival: list[float] = []
    width: list[float] = []
    runtime: list[float] = []
    group: list[int] = []
    for job in workload.jobs:
        found = _fastest(round_, job, groups, speeds)
        if found is None:
            continue
        arrival.append(job.submitted_at_s)
        width.append(job.spec.milli_cards / MILLI_PER_CARD)
        runtime.append(found[0])
        group.append(found[1])
    pools = len(fleet.pools)
    return Runnable(
        np.array(arrival, dtype=np.float64),
        np.array(width, dtype=np.float64),
        np.array(runtime, dtype=np.float64),
        np.array(group, dtype=np.int64),
        np.array(speeds, dtype=np.float64).reshape(len(speeds), pools),
        np.array([view.pool.cards for view in fleet.pools], dtype=np.float64),
    )


def _fastest(
    round_: Round,
    job: QueuedJob,
    groups: dict[tuple[object, ...], tuple[int, float] | None],
    speeds: list[FloatArray],
) -> tuple[float, int] | None:
    """(the job's fastest runtime, its speed group); None if no pool can run it. Without a
    budget both depend only on the requirements, class and reference model (one group per
    such triple); a job with a budget is a group of its own."""
    matrix = round_.state.matrix
    if job.spec.budget_fen is not None:
        pools = np.flatnonzero(static_mask(job.spec, matrix))
        candidates = round_.priced(job, pools, Goal(objectives.COST))
        if not candidates.size:
            return None
        best_s = float(candidates.runtime_s.min())
        speed = np.zeros(matrix.size)
        runtimes = candidates.runtime_s
        speed[candidates.pools] = np.where(
            runtimes > 0, best_s / np.where(runtimes > 0, runtimes, 1.0), 1.0
        )
        speeds.append(speed)
        return best_s, len(speeds) - 1
    key = (matrix.key_of(job.spec), job.spec.job_class, job.reference_model)
    if key not in groups:
        pools = np.flatnonzero(static_mask(job.spec, matrix))
        groups[key] = None
        if pools.size:
            factors = round_.factors(job)[pools]
            speed = np.zeros(matrix.size)
            speed[pools] = factors.min() / factors
            speeds.append(speed)
            groups[key] = (len(speeds) - 1, float(factors.min()))
    found = groups[key]
    if found is None:
        return None
    index, factor = found
    return job.expected_reference_runtime_s * factor, index
