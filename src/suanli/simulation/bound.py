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
  and for any price μ(t) ≥ 0 per unit of volume,
  Σ M_j ≥ Σ_j min over ρ_j of ∫ (t ÷ v_j + μ(t)) ρ_j dt − C ∫ μ(t) dt  (Lagrangian relaxation
  of the capacity; each job's minimum is a fractional knapsack over time, solved exactly).
  μ is piecewise constant and improved by projected subgradient steps; every μ gives a valid
  bound, the best one is kept. μ = 0 gives the floor exactly.

The bound is the largest of the three; all are valid, so their maximum is. Work lost to
preemption only adds, so it holds for every policy the replay runs.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from suanli.domain.scheduling import objectives
from suanli.domain.scheduling.feasibility import static_mask
from suanli.domain.scheduling.matrix import FloatArray
from suanli.domain.scheduling.model import ClusterState, QueuedJob
from suanli.domain.scheduling.objectives import Goal
from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.policies import Round
from suanli.simulation.workload import Fleet, Workload

MILLI_PER_CARD = 1000.0
PRICE_PIECES = 150  # μ is constant on this many equal pieces of [first arrival, horizon)
PRICE_ITERATIONS = 40  # subgradient steps on μ (each: one pass over jobs × pieces)
BISECTION_STEPS = 32  # per job threshold of its knapsack over time
CHUNK_JOBS = 4096  # jobs per vectorised block (memory: CHUNK_JOBS × PRICE_PIECES floats)
STEP_GROW, STEP_SHRINK = 1.5, 0.5
FIRST_STEP_SHARE = 0.01  # first step: this share of span ÷ mean volume (μ's natural unit)
FAILURES_MAX = 10  # consecutive steps without a better bound (the step shrank 1,024×): stop


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
class _Runnable:
    arrival_s: FloatArray  # a_j
    width: FloatArray  # w_j, cards (a share counts as its fraction of a card)
    runtime_s: FloatArray  # r_j, on the fastest feasible pool within budget
    capacity_cards: float  # C


def jct_bound(
    fleet: Fleet,
    workload: Workload,
    performance: PerformanceModel,
    iterations: int = PRICE_ITERATIONS,
) -> JctBound:
    runnable = _runnable(fleet, workload, performance)
    n = runnable.runtime_s.size
    if n == 0 or runnable.capacity_cards <= 0:
        return JctBound(0.0, 0.0, 0.0, 0.0, runnable.capacity_cards, n)
    arrival, width, runtime = runnable.arrival_s, runnable.width, runnable.runtime_s
    capacity = runnable.capacity_cards
    runtime_avg = float(runtime.mean())
    srpt = srpt_completions(arrival, width * runtime / capacity)  # p_j = v_j ÷ C
    srpt_avg = float((srpt - arrival).mean())
    priced_avg = priced_total(arrival, width, runtime, capacity, iterations) / n
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


def priced_total(
    arrival: FloatArray,
    width: FloatArray,
    runtime: FloatArray,
    capacity: float,
    iterations: int = PRICE_ITERATIONS,
) -> float:
    """A lower bound on Σ (C_j − a_j) from the Lagrangian relaxation of the capacity C, at the
    best price μ found by `iterations` projected subgradient steps (0 steps: the floor)."""
    keep = runtime > 0  # a zero-length job adds 0 to Σ JCT and uses no capacity
    arrival, width, runtime = arrival[keep], width[keep], runtime[keep]
    if arrival.size == 0:
        return 0.0
    origin = float(arrival.min())
    arrival = arrival - origin  # times ≥ 0, so every cost below is ≥ 0
    volume = width * runtime
    horizon = float(arrival.max() + volume.sum() / capacity) + 1.0
    edges = np.linspace(0.0, horizon, PRICE_PIECES + 1)
    lengths = np.diff(edges)
    price = np.zeros(PRICE_PIECES)
    best, gradient = _dual(arrival, width, runtime, capacity, edges, price)
    best_price = price
    step = FIRST_STEP_SHARE * horizon / float(volume.mean())
    failures = 0
    for _ in range(iterations):
        overuse = gradient / (capacity * lengths)  # > 0 where the relaxed jobs overfill C
        norm = float(np.sqrt((overuse**2).sum()))
        if norm == 0:
            break
        price = np.maximum(0.0, best_price + step * overuse / norm)
        value, candidate_gradient = _dual(arrival, width, runtime, capacity, edges, price)
        if value > best:
            best, best_price, gradient = value, price, candidate_gradient
            step, failures = step * STEP_GROW, 0
        else:
            step, failures = step * STEP_SHRINK, failures + 1
            if failures >= FAILURES_MAX:
                break
    return best - float(arrival.sum())


def _dual(
    arrival: FloatArray,
    width: FloatArray,
    runtime: FloatArray,
    capacity: float,
    edges: FloatArray,
    price: FloatArray,
) -> tuple[float, FloatArray]:
    """(a lower bound on Σ C_j at this price, Σ_j w_j × time each job spends in each piece)."""
    lengths = np.diff(edges)
    total, used = 0.0, np.zeros(lengths.size)
    for lo in range(0, arrival.size, CHUNK_JOBS):
        part = slice(lo, lo + CHUNK_JOBS)
        value, load = _knapsacks(arrival[part], width[part], runtime[part], edges, price)
        total += value
        used += load
    total += float(runtime.sum()) / 2 - capacity * float((price * lengths).sum())
    return total, used - capacity * lengths


def _knapsacks(
    arrival: FloatArray,
    width: FloatArray,
    runtime: FloatArray,
    edges: FloatArray,
    price: FloatArray,
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
    lifted = volume[:, None] * price[None, :]  # v_j μ in each piece
    tail_start = np.maximum(edges[-1], arrival)  # the unpriced remainder [end, ∞)

    def lengths(phi: FloatArray) -> tuple[FloatArray, FloatArray]:
        inside = np.clip(phi[:, None] - lifted - start, 0.0, room)
        return inside, np.maximum(phi - tail_start, 0.0)

    low = arrival.copy()  # nothing taken yet
    high = arrival + runtime + volume * float(price.max(initial=0.0)) + 1.0  # ≥ r_j taken
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        inside, tail = lengths(middle)
        enough = inside.sum(axis=1) + tail >= runtime
        high = np.where(enough, middle, high)
        low = np.where(enough, low, middle)
    inside, tail = lengths(low)
    missing = np.maximum(runtime - inside.sum(axis=1) - tail, 0.0)
    time_cost = (inside * (start + inside / 2)).sum(axis=1) + tail * (tail_start + tail / 2)
    priced = width * (inside * price[None, :]).sum(axis=1)
    value = time_cost / runtime + priced + missing * low / runtime
    return float(value.sum()), (width[:, None] * inside).sum(axis=0)


def _runnable(fleet: Fleet, workload: Workload, performance: PerformanceModel) -> _Runnable:
    """Each runnable job's arrival, width and fastest runtime, and the capacity C."""
    state = ClusterState.empty(fleet.require_nonempty().pools)
    round_ = Round(state, performance, 0.0)
    speed = np.zeros(len(fleet.pools))  # s_k
    by_key: dict[tuple[object, ...], float | None] = {}  # smallest runtime factor
    arrival: list[float] = []
    width: list[float] = []
    runtime: list[float] = []
    for job in workload.jobs:
        best_s = _fastest(round_, job, by_key, speed)
        if best_s is None:
            continue
        arrival.append(job.submitted_at_s)
        width.append(job.spec.milli_cards / MILLI_PER_CARD)
        runtime.append(best_s)
    cards = np.array([view.pool.cards for view in fleet.pools], dtype=np.float64)
    return _Runnable(
        np.array(arrival, dtype=np.float64),
        np.array(width, dtype=np.float64),
        np.array(runtime, dtype=np.float64),
        float((cards * speed).sum()),
    )


def _fastest(
    round_: Round, job: QueuedJob, by_key: dict[tuple[object, ...], float | None], speed: FloatArray
) -> float | None:
    """The job's fastest runtime (None if no pool can run it); raises `speed[k]` to the share
    of that runtime the job gets done per second on pool k. Without a budget both depend only
    on the requirements, class and reference model: computed once per such triple."""
    matrix = round_.state.matrix
    if job.spec.budget_fen is not None:
        pools = np.flatnonzero(static_mask(job.spec, matrix))
        candidates = round_.priced(job, pools, Goal(objectives.COST))
        if not candidates.size:
            return None
        best_s = float(candidates.runtime_s.min())
        if best_s > 0:
            np.maximum.at(speed, candidates.pools, best_s / candidates.runtime_s)
        return best_s
    key = (matrix.key_of(job.spec), job.spec.job_class, job.reference_model)
    if key not in by_key:
        pools = np.flatnonzero(static_mask(job.spec, matrix))
        factors = round_.factors(job)[pools]
        by_key[key] = float(factors.min()) if pools.size else None
        if pools.size:
            np.maximum.at(speed, pools, factors.min() / factors)
    factor = by_key[key]
    return None if factor is None else job.expected_reference_runtime_s * factor
