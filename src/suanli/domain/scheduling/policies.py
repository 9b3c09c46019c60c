"""The placement policies and their registry; the live loop and the simulator look them up here.

Every policy is a pure function of (state, queue, now): it decides against a `Scratch` copy
and returns placements for the caller to apply. They share one round loop and differ in the
queue order and the objective that ranks pools:

- fifo-first-fit: arrival order, first pool in fleet order with room, strict head-of-line
  blocking, no backfill or preemption (a plain queue; the baseline);
- fifo-backfill: the same order and pool choice with EASY backfill (the second baseline);
- cheapest / fastest / balanced: priority then arrival order, ranked by cost, by expected
  runtime, or by cost^w × time^(1-w); a job's own objective (cost, time, deadline) wins;
- fair: weighted max-min over decayed usage within each priority level, ranked by time;
- shortest-first: shortest expected runtime first within a priority level, ranked by time;
- shortest-backfill: the longest-waiting job first (it holds the EASY reservation), then the
  rest shortest first, ranked by time (SJF backfilling, no starvation);
- earliest-finish: shortest first, each job to the pool where it should finish first (it
  waits for a busy fast pool when that beats starting now on a slow one).

All but the baseline use EASY backfill and may preempt lower-priority preemptible jobs.
A round examines at most `queue_scan_max` jobs (like Slurm's bf_max_job_test) and tries at
most `POOL_TRIES_MAX` pools per job, so a decision costs O(pools) vector work plus a bounded
amount of Python, never O(queue × pools).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from suanli.domain.jobs import JobSpec
from suanli.domain.scheduling import DEFAULT_PACKING_POLICY, objectives
from suanli.domain.scheduling.backfill import (
    Reservation,
    backfill_nodes,
    backfill_share,
    earliest_start,
    reserve,
)
from suanli.domain.scheduling.card_choice import Packing
from suanli.domain.scheduling.fairness import FAIR_HORIZON_S, fair_order
from suanli.domain.scheduling.feasibility import capacity_mask, static_mask
from suanli.domain.scheduling.matrix import BoolArray, FloatArray, IntArray, RequirementKey
from suanli.domain.scheduling.model import (
    CardShare,
    ClusterState,
    Placement,
    Policy,
    QueuedJob,
    host_ask,
)
from suanli.domain.scheduling.objectives import Candidates, Goal
from suanli.domain.scheduling.packing import check_policy
from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.placement import Scratch, new_card_label
from suanli.domain.scheduling.preemption import Eviction, find_eviction
from suanli.errors import InvalidInput
from suanli.i18n import msg

QUEUE_SCAN_MAX = 256  # jobs examined per round
POOL_TRIES_MAX = 32  # pools tried per job when the best one cannot take a gang
PREEMPTION_ATTEMPTS_MAX = 4  # jobs per round allowed to look for victims
PREFERENCE_SLICES = (64, 256, 1024, 4096)  # `first_with_room` looks this deep, then at all
ARRIVAL_ORDER = "arrival"
PRIORITY_ORDER = "priority"
SHORTEST_ORDER = "shortest"  # the window holds the shortest queued jobs, not the oldest


def shortest_key(job: QueuedJob) -> tuple[int, float, float, str]:
    """Shortest-first order within a priority level (ties by arrival): the key of the
    `shortest` window in the live loop and the simulator alike."""
    return (-job.spec.priority, job.expected_reference_runtime_s, job.submitted_at_s, job.id)


@dataclass(frozen=True)
class PolicyOptions:
    backfill: bool = True
    preemption: bool = True
    queue_scan_max: int = QUEUE_SCAN_MAX
    cost_weight: float = 0.5  # balanced: 1 = cost only, 0 = time only
    fair_horizon_s: float = FAIR_HORIZON_S
    packing: str = DEFAULT_PACKING_POLICY  # the node and card within the chosen pool
    packing_whole_cards: bool = False  # one-node whole-card jobs packed too (else best fit)

    def __post_init__(self) -> None:
        check_policy(self.packing)
        if not 1 <= self.queue_scan_max <= 1_000_000:
            raise InvalidInput(
                msg(
                    "`queue_scan_max` 须在 1 至 1000000 之间",
                    "queue_scan_max must be in [1, 1000000]",
                ),
                field="queue_scan_max",
            )
        if not 0 <= self.cost_weight <= 1:
            raise InvalidInput(
                msg("`cost_weight` 须在 0 至 1 之间", "cost_weight must be in [0, 1]"),
                field="cost_weight",
            )


class Round:
    """One call of `place`: the scratch state plus what the round has learnt so far."""

    def __init__(
        self,
        state: ClusterState,
        performance: PerformanceModel,
        now_s: float,
        packing: str = DEFAULT_PACKING_POLICY,
        packing_whole_cards: bool = False,
    ) -> None:
        self.state = state
        self.packing = Packing(packing, state.requests, packing_whole_cards)
        self.scratch = Scratch(state)
        self.performance = performance
        self.now_s = now_s
        self.full: set[RequirementKey] = set()  # requirement sets with no room this round
        self.reservation: Reservation | None = None
        self.preemption_attempts = 0
        self.no_victims: set[tuple[RequirementKey, int]] = set()  # (requirements, priority)
        self.feasible_pools: dict[RequirementKey, IntArray] = {}  # per requirement set
        self.start_times: dict[tuple[int, int, int], float | None] = {}  # see earliest_start_s

    def free_mask(self, job: QueuedJob) -> BoolArray:
        """The pools that could take the job now."""
        free, largest = self.scratch.free_cards, self.scratch.max_free
        return capacity_mask(job.spec, self.state.matrix, free, largest, self.scratch.share_max)

    def feasible(self, job: QueuedJob) -> IntArray:
        """The available pools that satisfy the job's requirements (fixed for the round)."""
        matrix = self.state.matrix
        key = matrix.key_of(job.spec)
        pools = self.feasible_pools.get(key)
        if pools is None:
            pools = np.flatnonzero(static_mask(job.spec, matrix) & matrix.available)
            pools.setflags(write=False)  # shared by the round's jobs of this requirement set
            self.feasible_pools[key] = pools
        return pools

    def earliest_start_s(self, index: int, spec: JobSpec) -> float | None:
        """`earliest_start(...).start_s` on the pool, or None. It reads only the scratch and
        the job's shape (cards per node, nodes), so it is remembered per (pool, shape) until
        the scratch changes (`commit`): a round of `earliest-finish` asks it of the same
        fastest pool for most of its window, and the replay of the pool's ends was most of
        that policy's cost."""
        key = (index, spec.cards_per_node, spec.nodes)
        if key not in self.start_times:
            slot = earliest_start(self.scratch, index, spec, self.now_s)
            self.start_times[key] = None if slot is None else slot.start_s
        return self.start_times[key]

    def factors(self, job: QueuedJob) -> FloatArray:
        """Per pool: the job's runtime there ÷ its runtime on the reference accelerator."""
        spec = job.spec
        return self.performance.runtime_factors(
            self.state.matrix, spec.job_class, job.reference_model
        )

    def rank(self, job: QueuedJob, goal: Goal) -> IntArray:
        """Every pool's place in a static objective's order for the job's class (cached)."""
        matrix = self.state.matrix
        spec = job.spec
        key: tuple[object, ...] = ("rank", self.performance, spec.job_class, job.reference_model)
        key += (goal.objective, goal.cost_weight)
        ranks = matrix.cached_factors(key)
        if ranks is None:
            price = matrix.price_fen_per_card_hour
            ranks = objectives.pool_rank(goal.objective, goal.cost_weight, price, self.factors(job))
            matrix.remember_factors(key, ranks)
        return ranks

    def preference(self, job: QueuedJob, goal: Goal) -> IntArray:
        """The feasible, available pools in a static goal's order (cached per class and
        requirement set): a decision then scans pools best first and stops at the first fit."""
        matrix, spec = self.state.matrix, job.spec
        key: tuple[object, ...] = ("order", self.performance, spec.job_class, job.reference_model)
        key += (goal.objective, goal.cost_weight, matrix.key_of(spec))
        order = matrix.cached_factors(key)
        if order is None:
            pools = np.flatnonzero(static_mask(spec, matrix) & matrix.available)
            order = pools[np.argsort(self.rank(job, goal)[pools], kind="stable")]
            matrix.remember_factors(key, order)
        return order

    def first_with_room(self, job: QueuedJob, order: IntArray) -> int:
        """The first pool of `order` with room for the job now, or -1. Scans the order in
        slices that grow fourfold (`PREFERENCE_SLICES`): the preferred pools fill first, so
        the first with room is often hundreds deep in a busy fleet, yet rarely at the end,
        and a whole-order pass (three gathers of every feasible pool) was most of a
        decision's cost."""
        scratch, spec = self.scratch, job.spec
        start = 0
        for stop in (*PREFERENCE_SLICES, order.size):
            pools = order[start:stop]
            if pools.size:
                fits = room_among(spec, scratch, pools)
                first = int(fits.argmax())
                if fits[first]:
                    return int(pools[first])
            if stop >= order.size:
                break
            start = stop
        return -1

    def priced(self, job: QueuedJob, pools: IntArray, goal: Goal) -> Candidates:
        """Expected runtime and cost on each pool; pools over the job's budget are dropped."""
        matrix, spec = self.state.matrix, job.spec
        runtime = job.expected_reference_runtime_s * self.factors(job)[pools]
        cards = spec.milli_cards / 1000.0
        cost = matrix.price_fen_per_card_hour[pools] * (cards / 3600.0) * runtime
        rank = self.rank(job, goal)[pools] if goal.objective in objectives.STATIC else pools
        if spec.budget_fen is not None:
            within = cost <= spec.budget_fen
            pools, runtime, cost, rank = pools[within], runtime[within], cost[within], rank[within]
        return Candidates(pools=pools, runtime_s=runtime, cost_fen=cost, rank=rank)

    def hopeless(self, job: QueuedJob) -> bool:
        """No pool could ever take it, even empty, within its budget."""
        mask = static_mask(job.spec, self.state.matrix)
        if not mask.any():
            return True
        if job.spec.budget_fen is None:
            return False
        return self.priced(job, np.flatnonzero(mask), Goal(objectives.COST)).size == 0

    def commit(self, placement: Placement, index: int) -> None:
        self.start_times.clear()  # the scratch changes below: remembered starts are stale
        for victim_id in placement.preempts:
            victim = self.state.running_jobs()[victim_id]
            victim_index = self.state.pool_index(victim.pool_id)
            ask = host_ask(victim.spec)
            self.scratch.give(victim_index, victim.node_cards, victim.share, ask)
            self.scratch.preempted.add(victim_id)
        if placement.preempts:
            self.full.clear()  # capacity grew: earlier "no room" answers are stale
        runtime = placement.expected_runtime_s or 0.0
        end_s = self.now_s + runtime
        self.scratch.take(index, placement.node_cards, end_s, placement.share, placement.host)


class RoundPolicy:
    """The shared round loop; subclasses set the order and the objective."""

    name = ""
    objective = objectives.COST
    queue_order = PRIORITY_ORDER
    strict = False  # stop at the first job that cannot start (a plain FIFO queue)
    honours_job_objective = True
    reads_usage = False  # whether `place` reads state.usage_by_owner (callers may skip it)

    def __init__(
        self, performance: PerformanceModel | None = None, options: PolicyOptions | None = None
    ) -> None:
        self.performance = performance or PerformanceModel()
        self.options = options or PolicyOptions()

    def place(
        self, state: ClusterState, queue: Sequence[QueuedJob], now_s: float
    ) -> list[Placement]:
        options = self.options
        round_ = Round(state, self.performance, now_s, options.packing, options.packing_whole_cards)
        placements: list[Placement] = []
        examined = self.window(queue)
        for job in examined:  # placed or not, a request is part of the recent workload
            state.requests.observe(job.id, job.spec)
        ordered = self.order(state, examined)
        for position, job in enumerate(ordered):
            placement = self.decide(round_, job, last=position == len(ordered) - 1)
            if placement is not None:
                placements.append(placement)
            elif self.strict and not round_.hopeless(job):
                break
        return placements

    def window(self, queue: Sequence[QueuedJob]) -> list[QueuedJob]:
        """The jobs a round examines: the first `queue_scan_max` of the caller's queue (oldest
        first), or the shortest ones for a policy whose `queue_order` is `shortest`."""
        limit = self.options.queue_scan_max
        if self.queue_order == SHORTEST_ORDER and len(queue) > limit:
            # the caller's first (oldest) job stays in view: `shortest-backfill` reserves for it
            shortest = heapq.nsmallest(limit, queue, key=shortest_key)
            if any(job is queue[0] for job in shortest):
                return shortest
            return [queue[0], *shortest[: limit - 1]]
        return list(queue[:limit])

    def order(self, state: ClusterState, jobs: list[QueuedJob]) -> list[QueuedJob]:
        return sorted(jobs, key=lambda job: (-job.spec.priority, job.submitted_at_s, job.id))

    def goal(self, job: QueuedJob, now_s: float) -> Goal:
        objective = job.spec.objective
        if not self.honours_job_objective or objective not in objectives.OBJECTIVES:
            objective = self.objective  # "default", or the baseline ignoring the job's wish
        deadline = job.spec.deadline_s
        deadline_at_s = None if deadline is None else job.submitted_at_s + deadline
        return Goal(objective, self.options.cost_weight, deadline_at_s, now_s)

    def decide(self, round_: Round, job: QueuedJob, last: bool = False) -> Placement | None:
        """The job's placement now, or None. The round's scratch learns of it (or of the
        job's reservation) for the jobs after it; after the `last` one no job reads the
        scratch, so that bookkeeping is skipped (a sixth of a one-job round's time)."""
        placement = self.start_now(round_, job)
        if placement is None and self.options.preemption:
            placement = self.preempt(round_, job)
        if placement is None:
            if not last:
                self.reserve_for(round_, job)
            return None
        if not last:
            round_.commit(placement, round_.state.pool_index(placement.pool_id))
        return placement

    def reserve_for(self, round_: Round, job: QueuedJob) -> None:
        """EASY: the first job of the round that cannot start (and could one day) reserves."""
        wanted = self.options.backfill and not self.strict and round_.reservation is None
        if wanted and not round_.hopeless(job):
            round_.reservation = reserve(round_.scratch, job.spec, round_.now_s)

    def start_now(self, round_: Round, job: QueuedJob) -> Placement | None:
        """A placement on a pool with room now, or None (remembering when there is no room)."""
        key = round_.state.matrix.key_of(job.spec)
        if key in round_.full:
            return None
        goal = self.goal(job, round_.now_s)
        if goal.objective in objectives.STATIC and job.spec.budget_fen is None:
            # fast path: the first pool with room in the class's precomputed preference order
            index = round_.first_with_room(job, round_.preference(job, goal))
            if index < 0:
                round_.full.add(key)  # capacity only shrinks within a round (until preemption)
                return None
            runtime_s = job.expected_reference_runtime_s * float(round_.factors(job)[index])
            placement = self.try_pool(round_, job, index, runtime_s)
            if placement is not None:
                return placement
        pools = np.flatnonzero(round_.free_mask(job))
        if pools.size == 0:
            round_.full.add(key)
            return None
        return self.pick(round_, job, round_.priced(job, pools, goal), goal)

    def pick(
        self, round_: Round, job: QueuedJob, candidates: Candidates, goal: Goal
    ) -> Placement | None:
        """The best candidate that can take the job without delaying the reservation."""
        if candidates.size == 0:
            return None
        first = objectives.best(candidates, goal)
        placement = self.try_candidate(round_, job, candidates, first)
        if placement is not None or candidates.size == 1:
            return placement
        for position in objectives.ranked(candidates, goal, POOL_TRIES_MAX):
            if position != first:
                placement = self.try_candidate(round_, job, candidates, int(position))
                if placement is not None:
                    return placement
        return None

    def try_candidate(
        self, round_: Round, job: QueuedJob, candidates: Candidates, position: int
    ) -> Placement | None:
        index = int(candidates.pools[position])
        return self.try_pool(round_, job, index, float(candidates.runtime_s[position]))

    def try_pool(
        self, round_: Round, job: QueuedJob, index: int, runtime_s: float
    ) -> Placement | None:
        end_s = round_.now_s + runtime_s
        pool_id = round_.state.matrix.pool_ids[index]
        ask = host_ask(job.spec)
        if job.spec.fractional:
            share = backfill_share(
                round_.scratch, round_.reservation, index, job.spec, end_s, round_.packing
            )
            if share is None:
                return None
            return Placement(
                job.id, pool_id, (), expected_runtime_s=runtime_s, share=share, host=ask
            )
        taken = backfill_nodes(
            round_.scratch, round_.reservation, index, job.spec, end_s, round_.packing
        )
        if not taken:
            return None
        return Placement(job.id, pool_id, taken, expected_runtime_s=runtime_s, host=ask)

    def preempt(self, round_: Round, job: QueuedJob) -> Placement | None:
        if round_.preemption_attempts >= PREEMPTION_ATTEMPTS_MAX:
            return None
        lowest = round_.state.lowest_preemptible_priority()
        attempt = (round_.state.matrix.key_of(job.spec), job.spec.priority)
        if lowest is None or lowest >= job.spec.priority or attempt in round_.no_victims:
            return None
        round_.preemption_attempts += 1
        feasible = np.flatnonzero(static_mask(job.spec, round_.state.matrix))
        goal = self.goal(job, round_.now_s)
        everywhere = round_.priced(job, feasible, goal)
        if everywhere.size == 0:
            return None
        order = objectives.ranked(everywhere, goal, POOL_TRIES_MAX)
        eviction = find_eviction(round_.scratch, job.spec, [everywhere.pools[p] for p in order])
        if eviction is None:
            round_.no_victims.add(attempt)
            return None
        return _evicting(job, round_, everywhere, eviction)


def room_among(spec: JobSpec, scratch: Scratch, pools: IntArray) -> BoolArray:
    """`has_room` on the pools listed, gathering only the vectors the spec needs (a gather of
    a few thousand pools costs as much as the comparison)."""
    room = scratch.max_free[pools] >= spec.cards_per_node
    if spec.card_milli is not None:
        return room | (scratch.share_max[pools] >= spec.card_milli)
    if spec.nodes > 1:
        room &= scratch.free_cards[pools] >= spec.cards
    return room


def _evicting(
    job: QueuedJob, round_: Round, candidates: Candidates, eviction: Eviction
) -> Placement:
    position = int(np.flatnonzero(candidates.pools == eviction.pool)[0])
    node_cards, share = eviction.node_cards, None
    if job.spec.card_milli is not None:  # the freed card is opened for the share
        node = node_cards[0][0]
        label = new_card_label(round_.scratch.shared(eviction.pool), node)
        node_cards, share = (), CardShare(node, label, job.spec.card_milli)
    return Placement(
        job_id=job.id,
        pool_id=round_.state.matrix.pool_ids[eviction.pool],
        node_cards=node_cards,
        preempts=tuple(victim.id for victim in eviction.victims),
        expected_runtime_s=float(candidates.runtime_s[position]),
        share=share,
        host=host_ask(job.spec),
    )


class FifoFirstFitPolicy(RoundPolicy):
    """The baseline: a plain queue. Arrival order, first pool with room, head-of-line blocking."""

    name = "fifo-first-fit"
    objective = objectives.FIRST_FIT
    queue_order = ARRIVAL_ORDER
    strict = True
    honours_job_objective = False

    def __init__(
        self, performance: PerformanceModel | None = None, options: PolicyOptions | None = None
    ) -> None:
        plain = replace(options or PolicyOptions(), backfill=False, preemption=False)
        super().__init__(performance, plain)

    def order(self, state: ClusterState, jobs: list[QueuedJob]) -> list[QueuedJob]:
        return sorted(jobs, key=lambda job: (job.submitted_at_s, job.id))


class FifoBackfillPolicy(RoundPolicy):
    """The second baseline: arrival order, first pool in fleet order with room (not
    heterogeneity-aware), EASY backfill behind the first job that cannot start; no preemption."""

    name = "fifo-backfill"
    objective = objectives.FIRST_FIT
    queue_order = ARRIVAL_ORDER
    honours_job_objective = False

    def __init__(
        self, performance: PerformanceModel | None = None, options: PolicyOptions | None = None
    ) -> None:
        plain = replace(options or PolicyOptions(), backfill=True, preemption=False)
        super().__init__(performance, plain)

    def order(self, state: ClusterState, jobs: list[QueuedJob]) -> list[QueuedJob]:
        return sorted(jobs, key=lambda job: (job.submitted_at_s, job.id))


class CheapestPolicy(RoundPolicy):
    """Lowest expected cost (price × cards × expected runtime on that chip)."""

    name = "cheapest"
    objective = objectives.COST


class FastestPolicy(RoundPolicy):
    """Shortest expected runtime: heterogeneity-aware, from the performance model."""

    name = "fastest"
    objective = objectives.TIME


class BalancedPolicy(RoundPolicy):
    """Lowest cost^w × time^(1-w); w = 0.5 is cost × time."""

    name = "balanced"
    objective = objectives.BALANCED


class ShortestFirstPolicy(RoundPolicy):
    """Shortest expected job first within a priority level (SJF, which minimises mean JCT on a
    single machine), each job to its fastest pool, EASY backfill behind the first job that
    cannot start. Estimates come from the performance model, as for `fastest`. Its window is
    the shortest queued jobs (`queue_order = shortest`), so under a backlog deeper than the
    window a short job is not hidden behind the oldest ones."""

    name = "shortest-first"
    objective = objectives.TIME
    queue_order = SHORTEST_ORDER

    def order(self, state: ClusterState, jobs: list[QueuedJob]) -> list[QueuedJob]:
        return sorted(jobs, key=shortest_key)


class ShortestBackfillPolicy(ShortestFirstPolicy):
    """SJF backfilling behind a first-come reservation (SJBF; Tsafrir, Etsion and Feitelson,
    IEEE TPDS 2007): the longest-waiting job goes first and, if it cannot start, holds the
    EASY reservation; every other job follows shortest first, each to its fastest pool, and
    starts only where it does not delay that reservation. Plain shortest-first gives the
    reservation to the shortest job that cannot start, so a long job can wait for ever behind
    a stream of shorter ones; here every job, once the oldest, gets a start time."""

    name = "shortest-backfill"

    def order(self, state: ClusterState, jobs: list[QueuedJob]) -> list[QueuedJob]:
        if not jobs:
            return jobs
        oldest = min(jobs, key=lambda job: (-job.spec.priority, job.submitted_at_s, job.id))
        rest = sorted((job for job in jobs if job is not oldest), key=shortest_key)
        return [oldest, *rest]


class EarliestFinishPolicy(ShortestFirstPolicy):
    """Shortest first, and each job to the pool where it is expected to *finish* first: when
    its fastest pool is busy, it waits for it if the earliest start there (from the running
    jobs' expected ends) plus the runtime there beats starting now on a slower pool. Without
    this a heterogeneity-aware policy still sends jobs to a chip 7× slower merely because it is
    free (Gavel's K80s)."""

    name = "earliest-finish"

    def start_now(self, round_: Round, job: QueuedJob) -> Placement | None:
        if self._worth_waiting(round_, job):
            return None
        return super().start_now(round_, job)

    def _worth_waiting(self, round_: Round, job: QueuedJob) -> bool:
        goal = self.goal(job, round_.now_s)
        everywhere = round_.priced(job, round_.feasible(job), goal)
        if everywhere.size == 0:
            return False
        fastest = int(np.argmin(everywhere.runtime_s))
        best_pool = int(everywhere.pools[fastest])
        free = round_.free_mask(job)
        if free[best_pool]:
            return False
        room = np.flatnonzero(free)
        now = round_.priced(job, room, goal) if room.size else None
        if now is None or now.size == 0:
            return False
        finish_now_s = round_.now_s + float(now.runtime_s.min())
        start_s = round_.earliest_start_s(best_pool, job.spec)
        if start_s is None:
            return False
        return start_s + float(everywhere.runtime_s[fastest]) < finish_now_s


class FairPolicy(RoundPolicy):
    """Weighted max-min fair share over decayed usage; each job to its fastest pool."""

    name = "fair"
    objective = objectives.TIME
    reads_usage = True

    def order(self, state: ClusterState, jobs: list[QueuedJob]) -> list[QueuedJob]:
        usage, weights = state.usage_by_owner, state.owner_weights
        return fair_order(jobs, usage, weights, self.options.fair_horizon_s)


PolicyFactory = Callable[[PerformanceModel | None, PolicyOptions | None], RoundPolicy]

_REGISTRY: dict[str, PolicyFactory] = {
    cls.name: cls
    for cls in (
        FifoFirstFitPolicy,
        FifoBackfillPolicy,
        CheapestPolicy,
        FastestPolicy,
        BalancedPolicy,
        FairPolicy,
        ShortestFirstPolicy,
        ShortestBackfillPolicy,
        EarliestFinishPolicy,
    )
}


def policy_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_policy(
    name: str,
    performance: PerformanceModel | None = None,
    options: PolicyOptions | None = None,
) -> Policy:
    """The named policy; InvalidInput naming the known ones if there is no such policy."""
    factory = _REGISTRY.get(name)
    if factory is None:
        raise InvalidInput(
            msg(
                f"未知调度策略 {name!r}；可选：{'、'.join(_REGISTRY)}",
                f"unknown policy {name!r}; choose one of {', '.join(_REGISTRY)}",
            ),
            field="policy",
        )
    return factory(performance, options)
