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
from itertools import takewhile

from suanli.domain.money import MILLI_PER_CARD, price_milli_card_seconds
from suanli.domain.scheduling.fairness import USAGE_HALF_LIFE_S, DecayedUsage
from suanli.domain.scheduling.feasibility import never_placeable
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
    QUEUE_SCAN_MAX,
    SHORTEST_ORDER,
    Round,
    shortest_key,
)
from suanli.domain.scheduling.window import QUEUE_READ_MAX, arrival_key, owners_in_turn
from suanli.errors import LimitExceeded
from suanli.i18n import msg
from suanli.simulation.workload import Fleet, Workload

EVENTS_MAX = 50_000_000
TIMELINE_POINTS_MAX = 4_000  # utilisation samples kept for plots (evenly thinned)
DECISIONS_KEPT_MAX = 100_000
ROUNDS_PER_INSTANT_MAX = 1_000  # rounds at one instant (a bound; each must place a job)
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
    # card-seconds free while a job waited in the queue: capacity the policy could not use
    # (fragmentation, a gang waiting for whole nodes, a job holding out for a faster chip)
    idle_while_queued_card_s: float = 0.0


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
        self.last_sample = (self._start_s(), 0, False)  # (time, free cards, queue non-empty)

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
        """Records the state the round left, which holds until the next event."""
        since_s, free_before, queued_before = self.last_sample
        if queued_before:
            self.result.idle_while_queued_card_s += free_before * max(0.0, now_s - since_s)
        free = self.state.free_cards_total()
        self.last_sample = (now_s, free, len(self.queue) > 0)
        busy = self.result.fleet_cards - free
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
    """Queued jobs in arrival order, and each enterprise's in arrival and in shortest-first
    order, so a round's window (`window.round_window`'s choice, made by `owners_in_turn`) is
    read off without sorting the queue each round."""

    def __init__(self) -> None:
        self.arrival: list[_Arrived] = []  # by arrival_key
        self.jobs: dict[str, QueuedJob] = {}
        self.owners: dict[str, _OwnerQueue] = {}

    def __len__(self) -> int:
        return len(self.arrival)

    def add(self, job: QueuedJob) -> None:
        bisect.insort(self.arrival, (arrival_key(job), job), key=_first)
        self.jobs[job.id] = job
        owner = self.owners.setdefault(job.owner_id, _OwnerQueue([], []))
        bisect.insort(owner.arrival, (arrival_key(job), job), key=_first)
        bisect.insort(owner.shortest, (shortest_key(job), job), key=_first)

    def pop(self, job_id: str) -> QueuedJob:
        job = self.jobs.pop(job_id)
        _remove(self.arrival, arrival_key(job))
        owner = self.owners[job.owner_id]
        _remove(owner.arrival, arrival_key(job))
        _remove(owner.shortest, shortest_key(job))
        if not owner.arrival:
            del self.owners[job.owner_id]
        return job

    def window(self, order: str, limit: int) -> list[QueuedJob]:
        """The live loop's window over the same queue: `round_window(oldest QUEUE_READ_MAX
        jobs, limit, order)`, with each enterprise's jobs read off its sorted lists."""
        if len(self.arrival) <= limit:
            return [job for _, job in self.arrival]
        last = self.arrival[min(len(self.arrival), QUEUE_READ_MAX) - 1][0]
        owners = sorted(
            (owner for owner in self.owners.values() if owner.arrival[0][0] <= last),
            key=lambda owner: owner.arrival[0][0],
        )
        if order == SHORTEST_ORDER:
            by_owner = [_shortest_read(owner, last) for owner in owners]
        else:
            by_owner = [_arrival_read(owner, last) for owner in owners]
        return owners_in_turn(self.arrival[0][1], by_owner, limit)


_Arrived = tuple[tuple[float, str], QueuedJob]
_Keyed = tuple[tuple[int, float, float, str], QueuedJob]


@dataclass
class _OwnerQueue:
    arrival: list[_Arrived]  # by arrival_key
    shortest: list[_Keyed]  # by shortest_key


def _first(entry: _Arrived | _Keyed) -> tuple[object, ...]:
    return entry[0]


def _remove(ranked: list[_Arrived] | list[_Keyed], key: tuple[object, ...]) -> None:
    del ranked[bisect.bisect_left(ranked, key, key=_first)]  # type: ignore[arg-type]


def _arrival_read(owner: _OwnerQueue, last: tuple[float, str]) -> Iterator[QueuedJob]:
    """The enterprise's jobs among the oldest QUEUE_READ_MAX, oldest first."""
    return (job for _, job in takewhile(lambda entry: entry[0] <= last, owner.arrival))


def _shortest_read(owner: _OwnerQueue, last: tuple[float, str]) -> Iterator[QueuedJob]:
    """The enterprise's jobs among the oldest QUEUE_READ_MAX, shortest first."""
    return (job for _, job in owner.shortest if arrival_key(job) <= last)


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
