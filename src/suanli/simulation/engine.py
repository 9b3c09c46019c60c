"""The discrete-event replay: arrivals and completions drive calls of the SAME policy object
the live loop uses (`get_policy(name).place(state, queue, now_s)`).

Each event time: finish the jobs that end, admit the jobs that arrive (a job no pool could
ever run is counted unplaceable, as the live service rejects it), then, if anything changed,
ask the policy and apply its placements exactly as the live loop does (preemptions first).
Runtimes follow the performance model (estimates are exact here, which flatters backfill).
A preempted job loses its progress and re-queues with its original submission time.
"""

from __future__ import annotations

import bisect
import heapq
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from suanli.domain.money import MILLI_PER_CARD, price_milli_card_seconds
from suanli.domain.scheduling.fairness import USAGE_HALF_LIFE_S, DecayedUsage
from suanli.domain.scheduling.feasibility import never_placeable
from suanli.domain.scheduling.matrix import RequirementKey, requirement_key
from suanli.domain.scheduling.model import (
    ClusterState,
    Placement,
    Policy,
    QueuedJob,
    RunningJob,
    host_ask,
)
from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.policies import (
    ARRIVAL_ORDER,
    QUEUE_SCAN_MAX,
    SHORTEST_ORDER,
    Round,
    shortest_key,
)
from suanli.errors import LimitExceeded
from suanli.i18n import msg
from suanli.simulation.workload import Fleet, Workload

EVENTS_MAX = 50_000_000
TIMELINE_POINTS_MAX = 4_000  # utilisation samples kept for plots (evenly thinned)
DECISIONS_KEPT_MAX = 100_000
ROUNDS_PER_INSTANT_MAX = 1_000  # rounds at one instant (a bound; each must place a job)
CLASS_WINDOW_MAX = 32  # jobs of one requirement class per window
PROGRESS_EVERY_EVENTS = (
    512  # progress callbacks are throttled: a bar redraw costs more than an event
)

Progress = Callable[[int], None]  # called with the number of jobs settled so far


@dataclass
class JobOutcome:
    job: QueuedJob
    started_at_s: float | None = None
    finished_at_s: float | None = None
    pool_id: str | None = None
    last_run_s: float = 0.0
    busy_card_s: float = 0.0
    cost_fen: int = 0
    preemptions: int = 0
    unplaceable: bool = False


@dataclass(frozen=True)
class Decision:
    """One policy call, for comparing the simulator with the live loop step by step."""

    now_s: float
    queue: tuple[str, ...]
    placements: tuple[Placement, ...]


@dataclass
class SimulationResult:
    policy: str
    fleet_cards: int
    outcomes: dict[str, JobOutcome]
    timeline: list[tuple[float, int]]  # (time, busy cards)
    policy_time_s: float = 0.0
    placements: int = 0
    rounds: int = 0
    decisions: list[Decision] = field(default_factory=list)


@dataclass(frozen=True)
class SimulationOptions:
    queue_scan_max: int = QUEUE_SCAN_MAX
    usage_half_life_s: float = USAGE_HALF_LIFE_S
    record_decisions: bool = False


class Replay:
    def __init__(
        self,
        fleet: Fleet,
        workload: Workload,
        policy: Policy,
        performance: PerformanceModel,
        options: SimulationOptions,
    ) -> None:
        self.state = ClusterState.empty(fleet.require_nonempty().pools)
        self.policy, self.performance, self.options = policy, performance, options
        self.arrivals = sorted(workload.jobs, key=lambda job: (job.submitted_at_s, job.id))
        self.next_arrival = 0
        self.queue = JobQueue()
        self.ends: list[tuple[float, int, str]] = []  # (end time, run token, job id)
        self.tokens: dict[str, int] = {}
        self.usage = DecayedUsage(options.usage_half_life_s, self._start_s())
        self.outcomes = {job.id: JobOutcome(job) for job in self.arrivals}
        self.result = SimulationResult(policy.name, fleet.cards, self.outcomes, [])
        self.settled = 0

    def _start_s(self) -> float:
        return self.arrivals[0].submitted_at_s if self.arrivals else 0.0

    def run(self, progress: Progress | None = None) -> SimulationResult:
        for event in range(EVENTS_MAX):
            now_s = self._next_time()
            if now_s is None:
                if progress is not None:
                    progress(self.settled)
                return self.result
            changed = self._finish_due(now_s) + self._admit_due(now_s)
            # a full window that placed jobs may hide more that can start now: go again, as
            # the live loop would on its next tick, within the same instant
            for _ in range(ROUNDS_PER_INSTANT_MAX if changed else 0):
                if not (len(self.queue) and self._schedule(now_s)):
                    break
            self._sample(now_s)
            if progress is not None and event % PROGRESS_EVERY_EVENTS == 0:
                progress(self.settled)
        raise LimitExceeded(
            msg(f"回放超过了 {EVENTS_MAX} 个事件", f"the replay passed {EVENTS_MAX} events"),
            field="events",
        )

    def _next_time(self) -> float | None:
        times = [self.ends[0][0]] if self.ends else []
        if self.next_arrival < len(self.arrivals):
            times.append(self.arrivals[self.next_arrival].submitted_at_s)
        return min(times) if times else None

    def _admit_due(self, now_s: float) -> int:
        admitted = 0
        while self.next_arrival < len(self.arrivals):
            job = self.arrivals[self.next_arrival]
            if job.submitted_at_s > now_s:
                break
            self.next_arrival += 1
            admitted += 1
            if never_placeable(job.spec, self.state) or _over_budget(self, job):
                self.outcomes[job.id].unplaceable = True
                self.settled += 1
            else:
                self.queue.add(job)
        return admitted

    def _finish_due(self, now_s: float) -> int:
        finished = 0
        while self.ends and self.ends[0][0] <= now_s:
            _, token, job_id = heapq.heappop(self.ends)
            if self.tokens.get(job_id) != token:
                continue  # the run was preempted; its end event is stale
            self._stop(job_id, now_s)
            self.outcomes[job_id].finished_at_s = now_s
            self.settled += 1
            finished += 1
        return finished

    def _schedule(self, now_s: float) -> bool:
        """One policy round; True if another round at this instant could place more."""
        if getattr(self.policy, "reads_usage", True):
            self.state.usage_by_owner = self.usage.view(now_s)
        order = getattr(self.policy, "queue_order", "priority")
        window = self.queue.window(order, self.options.queue_scan_max)
        started = time.perf_counter()
        placements = self.policy.place(self.state, window, now_s)
        self.result.policy_time_s += time.perf_counter() - started
        self.result.rounds += 1
        self.result.placements += len(placements)
        if self.options.record_decisions and len(self.result.decisions) < DECISIONS_KEPT_MAX:
            queued = tuple(job.id for job in window)
            self.result.decisions.append(Decision(now_s, queued, tuple(placements)))
        for placement in placements:
            self._start(placement, now_s)
        preempted = any(placement.preempts for placement in placements)
        return bool(placements) and (len(window) >= self.options.queue_scan_max or preempted)

    def _start(self, placement: Placement, now_s: float) -> None:
        for victim_id in placement.preempts:
            self._stop(victim_id, now_s)
            self.outcomes[victim_id].preemptions += 1
            self.queue.add(self.outcomes[victim_id].job)
        job = self.queue.pop(placement.job_id)
        self.state.apply(placement)
        runtime_s = self._runtime_s(job, placement.pool_id)
        running = RunningJob(
            job.id,
            job.owner_id,
            placement.pool_id,
            job.spec,
            now_s,
            now_s + runtime_s,
            placement.node_cards,
            placement.share,
        )
        self.state.add_running(running)
        token = self.tokens.get(job.id, 0) + 1
        self.tokens[job.id] = token
        heapq.heappush(self.ends, (now_s + runtime_s, token, job.id))
        self.usage.start(job.owner_id, job.spec.milli_cards / MILLI_PER_CARD, now_s)
        outcome = self.outcomes[job.id]
        outcome.started_at_s, outcome.pool_id, outcome.last_run_s = (
            now_s,
            placement.pool_id,
            runtime_s,
        )

    def _runtime_s(self, job: QueuedJob, pool_id: str) -> float:
        factors = self.performance.runtime_factors(
            self.state.matrix, job.spec.job_class, job.reference_model
        )
        return job.expected_reference_runtime_s * float(factors[self.state.pool_index(pool_id)])

    def _stop(self, job_id: str, now_s: float) -> None:
        """Ends a run (finished or preempted): frees its cards and meters it."""
        running = self.state.remove_running(job_id)
        ask = host_ask(running.spec)
        self.state.release(running.pool_id, running.node_cards, running.share, ask)
        self.tokens[job_id] = self.tokens.get(job_id, 0) + 1  # invalidates its end event
        held_milli = running.spec.milli_cards
        self.usage.stop(running.owner_id, held_milli / MILLI_PER_CARD, now_s)
        elapsed_s = max(0.0, now_s - running.started_at_s)
        milli_card_seconds = held_milli * math.ceil(elapsed_s)
        price = self.state.pools[
            self.state.pool_index(running.pool_id)
        ].pool.price_fen_per_card_hour
        outcome = self.outcomes[job_id]
        outcome.cost_fen += price_milli_card_seconds(milli_card_seconds, price)
        outcome.busy_card_s += held_milli / MILLI_PER_CARD * elapsed_s

    def _sample(self, now_s: float) -> None:
        busy = self.result.fleet_cards - self.state.free_cards_total()
        timeline = self.result.timeline
        if timeline and timeline[-1][0] == now_s:
            timeline[-1] = (now_s, busy)
        else:
            timeline.append((now_s, busy))


def _over_budget(replay: Replay, job: QueuedJob) -> bool:
    """A budget no feasible pool can meet even when idle: the job can never start."""
    if job.spec.budget_fen is None:
        return False
    return Round(replay.state, replay.performance, job.submitted_at_s).hopeless(job)


class JobQueue:
    """Queued jobs by arrival, and by requirement class then priority level.

    A priority-order window takes at most `per_class` jobs of any one requirement class: jobs
    with identical requirements and size cannot start if the first of them cannot, so a
    crowd of one blocked class must not fill the window and hide jobs that could run.
    """

    def __init__(self, per_class: int = CLASS_WINDOW_MAX) -> None:
        self.per_class = per_class
        self.shortest: dict[RequirementKey, list[_Keyed]] = {}  # per class, by shortest_key
        self.by_arrival: dict[str, QueuedJob] = {}
        self.classes: dict[RequirementKey, dict[int, dict[str, QueuedJob]]] = {}
        self.keys: dict[str, RequirementKey] = {}

    def __len__(self) -> int:
        return len(self.by_arrival)

    def add(self, job: QueuedJob) -> None:
        key = self.keys.setdefault(job.id, requirement_key(job.spec))
        self.by_arrival[job.id] = job
        self.classes.setdefault(key, {}).setdefault(job.spec.priority, {})[job.id] = job
        bisect.insort(self.shortest.setdefault(key, []), (shortest_key(job), job), key=_first)

    def pop(self, job_id: str) -> QueuedJob:
        job = self.by_arrival.pop(job_id)
        key = self.keys[job_id]
        ranked = self.shortest[key]
        del ranked[bisect.bisect_left(ranked, shortest_key(job), key=_first)]
        if not ranked:
            del self.shortest[key]
        levels = self.classes[key]
        del levels[job.spec.priority][job_id]
        if not levels[job.spec.priority]:
            del levels[job.spec.priority]
            if not levels:
                del self.classes[key]
        return job

    def window(self, order: str, limit: int) -> list[QueuedJob]:
        if order == ARRIVAL_ORDER:
            return list(islice(self.by_arrival.values(), limit))
        if order == SHORTEST_ORDER:
            return self._shortest_window(limit)
        heads = (islice(_by_priority(levels), self.per_class) for levels in self.classes.values())
        merged = heapq.merge(*heads, key=lambda job: (-job.spec.priority, job.submitted_at_s))
        return list(islice(merged, limit))

    def _shortest_window(self, limit: int) -> list[QueuedJob]:
        """The shortest queued jobs (highest priority first), at most `per_class` of any one
        requirement class, as the priority window caps them, and the longest-queued job."""
        heads = (islice(ranked, self.per_class) for ranked in self.shortest.values())
        window = [job for _, job in islice(heapq.merge(*heads, key=_first), limit)]
        oldest = next(iter(self.by_arrival.values()), None)  # kept in view, as the policy does
        if oldest is None or any(job is oldest for job in window):
            return window
        return [oldest, *window[: limit - 1]]


_Keyed = tuple[tuple[int, float, float, str], QueuedJob]


def _first(entry: _Keyed) -> tuple[int, float, float, str]:
    return entry[0]


def _by_priority(levels: dict[int, dict[str, QueuedJob]]) -> Iterator[QueuedJob]:
    """One class's jobs, highest priority first, each level in admission order (a preempted
    job re-enters at its level's end; the policy re-sorts its window by submission time)."""
    for priority in sorted(levels, reverse=True):
        yield from levels[priority].values()


def simulate(
    fleet: Fleet,
    workload: Workload,
    policy: Policy,
    performance: PerformanceModel | None = None,
    options: SimulationOptions | None = None,
    progress: Progress | None = None,
) -> SimulationResult:
    """Replays the workload on the fleet under one policy; deterministic for equal inputs."""
    replay = Replay(
        fleet, workload, policy, performance or PerformanceModel(), options or SimulationOptions()
    )
    return replay.run(progress)


def thinned(
    points: Iterable[tuple[float, int]], keep: int = TIMELINE_POINTS_MAX
) -> list[tuple[float, int]]:
    listed = list(points)
    if len(listed) <= keep:
        return listed
    step = len(listed) / keep
    return [listed[int(i * step)] for i in range(keep)] + [listed[-1]]
