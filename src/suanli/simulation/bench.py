"""The scheduler benchmark: decision rate and latency on a synthetic fleet, against the
scalar reference filter on the same jobs.

Single-job mode: each decision is one `place(state, [job], now)` call timed on its own, so the
latency is what a job waits for its answer. Queue mode: rounds over all M queued jobs, each
round the policy's usual window; decisions/s = placements / time in rounds. In both, placements
are applied and the oldest running jobs released (untimed) whenever the fleet passes
`CHURN_BUSY_FRACTION` busy, so decisions face a partly full fleet rather than an empty one.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from itertools import islice

import numpy as np

from suanli.domain.scheduling import DEFAULT_PACKING_POLICY
from suanli.domain.scheduling.model import (
    MILLI_PER_CARD,
    ClusterState,
    Placement,
    Policy,
    QueuedJob,
)
from suanli.domain.scheduling.placement import ScalarCheapestPolicy
from suanli.domain.scheduling.policies import QUEUE_SCAN_MAX, PolicyOptions, get_policy
from suanli.errors import InvalidInput
from suanli.i18n import msg
from suanli.simulation import FRACTIONAL_DEFAULT
from suanli.simulation.synthetic import check_seed, synthetic_fleet, synthetic_workload

CHURN_BUSY_FRACTION = 0.7
SCALAR_SAMPLE_MAX = 100  # the scalar baseline is slow; time it on a sample of the same jobs
POOLS_MAX = 200_000
JOBS_MAX = 1_000_000
ROUNDS_MAX = 10_000_000


@dataclass(frozen=True)
class BenchFigures:
    policy: str
    pools: int
    jobs: int
    decisions_per_s: float
    p50_decision_ms: float
    p99_decision_ms: float
    cpu_decisions_per_s: float  # by process CPU time: what contention from others cannot skew
    queue_decisions_per_s: float
    p99_round_ms: float
    peak_rss_mib: float
    cpu_count: int
    load_average_1m: float  # other processes' load: above cpu_count, timings are contended
    baseline_policy: str
    baseline_decisions_per_s: float
    vectorised_cheapest_decisions_per_s: float
    speedup_vs_scalar: float
    fractional_jobs: int = 0  # jobs asking for a share of one card (card_milli)
    p99_cpu_decision_ms: float = 0.0  # by process CPU time, which other processes cannot skew
    whole_card_cpu_decisions_per_s: float = 0.0  # the same jobs all whole: same-run baseline
    sharing_speed_ratio: float = 0.0  # CPU decisions/s with shares ÷ the whole-card baseline
    packing: str = DEFAULT_PACKING_POLICY  # the node and card within the chosen pool
    packing_whole_cards: bool = False  # one-node whole-card jobs packed too

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def run_bench(
    pools: int,
    jobs: int,
    policy_name: str,
    seed: int = 0,
    fractional: float = FRACTIONAL_DEFAULT,
    packing: str = DEFAULT_PACKING_POLICY,
    packing_whole_cards: bool = False,
) -> BenchFigures:
    check_seed(seed)
    if not 1 <= pools <= POOLS_MAX or not 1 <= jobs <= JOBS_MAX:
        raise InvalidInput(
            msg(
                f"资源池数须在 1 至 {POOLS_MAX} 之间，作业数须在 1 至 {JOBS_MAX} 之间",
                f"pools must be in [1, {POOLS_MAX}], jobs in [1, {JOBS_MAX}]",
            ),
            field="pools",
        )
    if not 0 <= fractional <= 1:
        raise InvalidInput(
            msg("`fractional` 须在 0 至 1 之间", "fractional must be in [0, 1]"), field="fractional"
        )
    fleet = synthetic_fleet(pools, seed)
    whole_queue = synthetic_workload(jobs, seed).jobs
    queue = with_shares(whole_queue, fractional, seed)
    options = PolicyOptions(packing=packing, packing_whole_cards=packing_whole_cards)
    policy = get_policy(policy_name, options=options)
    _, whole_cpu_s = timed_decisions(ClusterState.empty(fleet.pools), whole_queue, policy)
    latencies_s, cpu_s = timed_decisions(ClusterState.empty(fleet.pools), queue, policy)
    placed, rounds_s = timed_rounds(ClusterState.empty(fleet.pools), queue, policy)
    sample = queue[: min(len(queue), SCALAR_SAMPLE_MAX)]
    scalar_s, _ = timed_decisions(ClusterState.empty(fleet.pools), sample, ScalarCheapestPolicy())
    cheapest = get_policy("cheapest")
    for _ in range(2):  # the second pass runs with warm per-class caches, as in steady state
        cheapest_s, _ = timed_decisions(ClusterState.empty(fleet.pools), sample, cheapest)
    scalar_rate = len(sample) / float(scalar_s.sum())
    cheapest_rate = len(sample) / float(cheapest_s.sum())
    return BenchFigures(
        policy=policy_name,
        pools=pools,
        jobs=jobs,
        decisions_per_s=round(len(queue) / float(latencies_s.sum()), 1),
        p50_decision_ms=round(float(np.percentile(latencies_s, 50)) * 1000, 4),
        p99_decision_ms=round(float(np.percentile(latencies_s, 99)) * 1000, 4),
        cpu_decisions_per_s=round(len(queue) / float(cpu_s.sum()), 1),
        queue_decisions_per_s=round(placed / float(rounds_s.sum()), 1),
        p99_round_ms=round(float(np.percentile(rounds_s, 99)) * 1000, 4),
        peak_rss_mib=round(peak_rss_mib(), 1),
        cpu_count=os.cpu_count() or 1,
        load_average_1m=round(os.getloadavg()[0], 2),
        baseline_policy=ScalarCheapestPolicy.name,
        baseline_decisions_per_s=round(scalar_rate, 1),
        vectorised_cheapest_decisions_per_s=round(cheapest_rate, 1),
        speedup_vs_scalar=round(cheapest_rate / scalar_rate, 1),
        fractional_jobs=sum(1 for job in queue if job.spec.fractional),
        p99_cpu_decision_ms=round(float(np.percentile(cpu_s, 99)) * 1000, 4),
        whole_card_cpu_decisions_per_s=round(len(queue) / float(whole_cpu_s.sum()), 1),
        sharing_speed_ratio=round(float(whole_cpu_s.sum()) / float(cpu_s.sum()), 3),
        packing=packing,
        packing_whole_cards=packing_whole_cards,
    )


def with_shares(queue: tuple[QueuedJob, ...], fraction: float, seed: int) -> tuple[QueuedJob, ...]:
    """The queue with about `fraction` of its jobs turned into shares of one card, milli drawn
    uniformly from 1..999 (the Alibaba 2023 trace's sharing pods have a median near 470)."""
    rng = np.random.default_rng(seed + 1)
    draws = rng.random(len(queue))
    milli = rng.integers(1, MILLI_PER_CARD, size=len(queue))
    return tuple(
        _as_share(job, int(milli[i])) if draws[i] < fraction else job for i, job in enumerate(queue)
    )


def _as_share(job: QueuedJob, milli: int) -> QueuedJob:
    spec = replace(job.spec, cards=1, cards_per_node=1, card_milli=milli)
    return replace(job, spec=spec)


def timed_decisions(
    state: ClusterState, queue: tuple[QueuedJob, ...], policy: Policy
) -> tuple[np.ndarray, np.ndarray]:
    """Wall and CPU seconds per single-job decision; placements applied, old ones released."""
    capacity = state.free_cards_total()
    running: deque[Placement] = deque()
    wall_s = np.empty(len(queue), dtype=np.float64)
    cpu_s = np.empty(len(queue), dtype=np.float64)
    for position, job in enumerate(queue):
        started, started_cpu = time.perf_counter(), time.process_time()
        placements = policy.place(state, (job,), float(position))
        cpu_s[position] = time.process_time() - started_cpu
        wall_s[position] = time.perf_counter() - started
        for placement in placements:
            state.apply(placement)
            running.append(placement)
        _release_oldest(state, running, capacity, force=False)
    return wall_s, cpu_s


def timed_rounds(
    state: ClusterState, queue: tuple[QueuedJob, ...], policy: Policy
) -> tuple[int, np.ndarray]:
    """Rounds over the whole queue (the policy's own window each time): placements, seconds."""
    capacity = state.free_cards_total()
    waiting = dict.fromkeys(range(len(queue)))
    running: deque[Placement] = deque()
    index = {job.id: position for position, job in enumerate(queue)}
    rounds_s: list[float] = []
    placed = 0
    for round_number in range(ROUNDS_MAX):
        if not waiting:
            break
        window = [queue[position] for position in islice(waiting, QUEUE_SCAN_MAX)]
        started = time.perf_counter()
        placements = policy.place(state, window, float(round_number))
        rounds_s.append(time.perf_counter() - started)
        for placement in placements:
            state.apply(placement)
            running.append(placement)
            del waiting[index[placement.job_id]]
        placed += len(placements)
        _release_oldest(state, running, capacity, force=not placements)
    return placed, np.array(rounds_s, dtype=np.float64)


def _release_oldest(
    state: ClusterState, running: deque[Placement], capacity: int, force: bool
) -> None:
    """Frees the oldest placements until the fleet is below the churn level (or one, if stuck)."""
    if force and running:
        oldest = running.popleft()
        state.release(oldest.pool_id, oldest.node_cards, oldest.share, oldest.host)
    while running and state.free_cards_total() < capacity * (1 - CHURN_BUSY_FRACTION):
        oldest = running.popleft()
        state.release(oldest.pool_id, oldest.node_cards, oldest.share, oldest.host)


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / (1024 * 1024)  # KiB on Linux
