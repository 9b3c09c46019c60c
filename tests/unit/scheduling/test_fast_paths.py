"""The decision path's fast paths decide exactly as the plain implementations kept here.

Issue 18 asks for speed without a changed decision: the simulator shares this code, so a
different pool, node or card for any job would make the published packing figures stale.
Each reference below is the straightforward version a fast path replaced; the test runs the
benchmark's own decision loops once as shipped and once with the references patched in, on
a seeded fleet and queue with shares, host limits, closed and unavailable pools, and asks
for the same placements, job for job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from suanli.domain.jobs import JobSpec
from suanli.domain.scheduling import backfill, card_choice, packing
from suanli.domain.scheduling.feasibility import has_room, static_mask
from suanli.domain.scheduling.matrix import BoolArray, FloatArray, IntArray
from suanli.domain.scheduling.model import ClusterState, Placement, PoolView, QueuedJob
from suanli.domain.scheduling.packing import (
    CARD_SLOTS,
    MILLI,
    CardFeatures,
    Choice,
    FragmentationDeltas,
    PackingContext,
    PackingNodes,
    PodRequest,
    SpecKey,
    TypicalPods,
    card_features,
    feasible_nodes,
    fragmentation,
    fragmentation_deltas,
    model_mask,
    typical_pods,
)
from suanli.domain.scheduling.performance import PerformanceModel
from suanli.domain.scheduling.placement import NodeCards, Scratch
from suanli.domain.scheduling.policies import PolicyOptions, Round, RoundPolicy, get_policy
from suanli.domain.scheduling.request_window import MILLI_GRID, RequestWindow
from suanli.simulation.bench import timed_decisions, timed_rounds, with_shares
from suanli.simulation.synthetic import synthetic_fleet, synthetic_workload

Decision = tuple[object, ...]


# ---- the references: the plain versions of what the fast paths replaced ------------------


def reference_first_with_room(self: Round, job: QueuedJob, order: IntArray) -> int:
    """Every pool of the order at once: the first with room."""
    scratch = self.scratch
    fits = has_room(
        job.spec,
        scratch.free_cards[order],
        scratch.max_free[order],
        scratch.share_max[order],
    )
    return int(order[fits.argmax()]) if fits.any() else -1


def reference_decide(
    self: RoundPolicy, round_: Round, job: QueuedJob, last: bool = False
) -> Placement | None:
    """The scratch learns of every placement and reservation, the round's last one too."""
    placement = self.start_now(round_, job)
    if placement is None and self.options.preemption:
        placement = self.preempt(round_, job)
    if placement is None:
        self.reserve_for(round_, job)
        return None
    round_.commit(placement, round_.state.pool_index(placement.pool_id))
    return placement


def reference_earliest_start_s(self: Round, index: int, spec: JobSpec) -> float | None:
    """The pool's ends replayed for every job that asks, nothing remembered."""
    slot = backfill.earliest_start(self.scratch, index, spec, self.now_s)
    return None if slot is None else slot.start_s


def reference_feasible(self: Round, job: QueuedJob) -> IntArray:
    """The feasible, available pools computed afresh for every job."""
    matrix = self.state.matrix
    return np.flatnonzero(static_mask(job.spec, matrix) & matrix.available)


def reference_allocate_nodes(free_per_node: Sequence[int] | IntArray, spec: JobSpec) -> NodeCards:
    """Best fit with NumPy at any size: the fullest nodes that fit, lowest first on ties."""
    free = np.asarray(free_per_node, dtype=np.int64)
    need = spec.cards_per_node
    candidates = np.flatnonzero(free >= need)
    if candidates.size < spec.nodes:
        return ()
    fullest = candidates[np.argsort(free[candidates], kind="stable")[: spec.nodes]]
    return tuple((int(node), need) for node in np.sort(fullest))


def reference_feasible_nodes(nodes: PackingNodes, pod: PodRequest) -> IntArray:
    ok = (nodes.cpu_left >= pod.cpu_milli) & (nodes.memory_left >= pod.memory_mib)
    if pod.cards:
        ok &= model_mask(nodes, pod)
        if pod.shares_a_card:
            ok &= (nodes.card_left >= pod.card_milli).any(axis=1)
        else:
            ok &= (nodes.card_left == MILLI).sum(axis=1) >= pod.cards
    return np.flatnonzero(ok)


def reference_distinct_states(nodes: PackingNodes, candidates: IntArray) -> IntArray:
    """The first candidate of each (model, CPU left, sorted free milli), by `np.unique`."""
    if candidates.size < 2:
        return candidates
    keys = np.column_stack(
        (
            nodes.model[candidates],
            nodes.cpu_left[candidates],
            np.sort(nodes.card_left[candidates], axis=1),
        )
    )
    _, first = np.unique(keys, axis=0, return_index=True)
    return candidates[np.sort(first)]


def reference_choose(
    policy: str,
    nodes: PackingNodes,
    pod: PodRequest,
    context: PackingContext,
    allowed: BoolArray | None = None,
) -> Choice | None:
    """`packing.choose` with its lone-state shortcut in NumPy."""
    candidates = packing.feasible_nodes(nodes, pod)
    if allowed is not None:
        candidates = candidates[allowed[candidates]]
    if not candidates.size:
        return None
    if policy in packing.BY_NODE_STATE:
        candidates = packing.distinct_states(nodes, candidates)
        if candidates.size == 1:
            node = int(candidates[0])
            if not pod.shares_a_card:
                return Choice(node, packing.default_slots(nodes, node, pod))
            left = nodes.card_left[node]
            fitting = left[left >= pod.card_milli]
            if fitting.min() == fitting.max():
                return Choice(node, (int(np.argmax(left == fitting[0])),))
    return packing.PACKING_POLICIES[policy](nodes, pod, candidates, context)


def reference_fragmentation_deltas(
    nodes: PackingNodes, pod: PodRequest, candidates: IntArray, typical: TypicalPods
) -> FragmentationDeltas:
    if pod.shares_a_card:
        return FragmentationDeltas(*reference_share_deltas(nodes, pod, candidates, typical))
    return SHIPPED_FRAGMENTATION_DELTAS(nodes, pod, candidates, typical)


SHIPPED_FRAGMENTATION_DELTAS = packing.fragmentation_deltas


def reference_pool_table(
    scratch: Scratch, index: int, window: RequestWindow, room: IntArray | None = None
) -> PackingNodes:
    """The table as first written: fully free slots by a comparison, not a lookup."""
    table = SHIPPED_POOL_TABLE(scratch, index, window, room)
    if not scratch.shared(index):
        free = scratch.nodes(index)
        opened = free if room is None else np.minimum(free, room)
        table.card_left = np.where(np.arange(CARD_SLOTS)[None, :] < opened[:, None], MILLI, 0)
    return table


SHIPPED_POOL_TABLE = card_choice.pool_table


def reference_spec_key(self: RequestWindow, spec: JobSpec) -> SpecKey | None:
    if spec.fractional:
        milli = -(-int(spec.card_milli or MILLI) // MILLI_GRID) * MILLI_GRID
        cards, milli = 1, min(milli, MILLI)
    else:
        cards, milli = spec.cards_per_node, MILLI
    if cards > CARD_SLOTS:
        return None
    known = (self._job_model(name) for name in spec.accelerators)
    models = tuple(sorted({model for model in known if model is not None}))
    return (spec.cpus * MILLI, milli, cards, models)


REFERENCES: tuple[tuple[object, str, Callable[..., Any]], ...] = (
    (Round, "first_with_room", reference_first_with_room),
    (RoundPolicy, "decide", reference_decide),
    (backfill, "allocate_nodes", reference_allocate_nodes),
    (packing, "feasible_nodes", reference_feasible_nodes),
    (packing, "distinct_states", reference_distinct_states),
    (card_choice, "choose", reference_choose),
    (packing, "fragmentation_deltas", reference_fragmentation_deltas),
    (card_choice, "pool_table", reference_pool_table),
    (RequestWindow, "spec_key", reference_spec_key),
    (Round, "earliest_start_s", reference_earliest_start_s),
    (Round, "feasible", reference_feasible),
)
EARLIEST_FINISH_ONLY = {"earliest_start_s", "feasible"}  # what only that policy asks


# ---- a fleet and a queue that reach every branch ------------------------------------------


def _fleet(pools: int, seed: int) -> tuple[PoolView, ...]:
    """The benchmark's fleet; every third pool declares host CPU and memory, every seventh
    takes whole cards only, every thirteenth is unreachable."""
    views = []
    for number, found in enumerate(synthetic_fleet(pools, seed).pools):
        pool = found.pool
        if number % 3 == 0:
            pool = replace(pool, cpus_per_node=32 + 16 * (number % 4), host_memory_gib_per_node=256)
        if number % 7 == 0:
            pool = replace(pool, shareable=False)
        views.append(PoolView(pool, found.accelerator, available=number % 13 != 5))
    return tuple(views)


def _queue(jobs: int, seed: int) -> tuple[QueuedJob, ...]:
    """The benchmark's queue (a third shares); every fifth job asks for host CPU and memory."""
    queue = with_shares(synthetic_workload(jobs, seed).jobs, 1 / 3, seed)
    return tuple(
        replace(job, spec=replace(job.spec, cpus=8 * (1 + n % 3), host_memory_gib=40.0))
        if n % 5 == 0
        else job
        for n, job in enumerate(queue)
    )


class _Recording:
    """The policy, with every placement it returns written down."""

    def __init__(self, name: str, options: PolicyOptions) -> None:
        self.policy = get_policy(name, options=options)
        self.name = name
        self.placed: list[Decision] = []

    def place(
        self, state: ClusterState, queue: Sequence[QueuedJob], now_s: float
    ) -> list[Placement]:
        placements = self.policy.place(state, queue, now_s)
        self.placed.extend(
            (p.job_id, p.pool_id, p.node_cards, p.share, p.preempts, p.expected_runtime_s, p.host)
            for p in placements
        )
        return placements


def _decisions(name: str, options: PolicyOptions, rounds: bool, seed: int) -> list[Decision]:
    pools, queue = _fleet(400, seed), _queue(2_000, seed)
    recording = _Recording(name, options)
    if rounds:
        timed_rounds(ClusterState.empty(pools), queue, recording)
    else:
        timed_decisions(ClusterState.empty(pools), queue, recording)
    return recording.placed


SETUPS = [
    ("fastest", "suanli", False, False, 0),
    ("fastest", "suanli", False, True, 1),
    ("cheapest", "suanli", True, False, 2),
    ("balanced", "fgd", False, True, 3),
    ("shortest-backfill", "suanli", True, True, 4),
    ("earliest-finish", "best-fit", False, False, 5),
    ("earliest-finish", "suanli", False, True, 7),  # rounds: the remembered starts in play
    ("fifo-first-fit", "gpu-packing", True, True, 6),
]


@pytest.mark.parametrize(("name", "packing_name", "whole_cards", "rounds", "seed"), SETUPS)
def test_the_fast_paths_place_every_job_where_the_references_do(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    packing_name: str,
    whole_cards: bool,
    rounds: bool,
    seed: int,
) -> None:
    options = PolicyOptions(packing=packing_name, packing_whole_cards=whole_cards)
    fast = _decisions(name, options, rounds, seed)
    calls: dict[str, int] = {}
    with monkeypatch.context() as patched:
        for owner, attribute, function in REFERENCES:
            patched.setattr(owner, attribute, _counted(calls, attribute, function))
        slow = _decisions(name, options, rounds, seed)
    assert len(fast) > 1_000 and any(decision[3] is not None for decision in fast)
    assert fast == slow
    by_state = {"distinct_states", "fragmentation_deltas"}  # suanli's and FGD's alone
    expected = {attribute for _, attribute, _ in REFERENCES}
    if name != "earliest-finish":
        expected -= EARLIEST_FINISH_ONLY
    assert set(calls) == (
        expected if packing_name in packing.BY_NODE_STATE else expected - by_state
    )


def _counted(calls: dict[str, int], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        calls[name] = calls.get(name, 0) + 1
        return function(*args, **kwargs)

    return call


@pytest.mark.parametrize("seed", range(4))
def test_first_with_room_finds_the_first_pool_at_any_depth(seed: int) -> None:
    """Orders deeper than every slice, room anywhere or nowhere, each kind of job."""
    rng = np.random.default_rng(seed)
    pools = synthetic_fleet(6_000, seed).pools
    round_ = Round(ClusterState.empty(pools), PerformanceModel(), 0.0)
    scratch: Scratch = round_.scratch
    jobs = _queue(200, seed)
    for trial in range(60):
        busy = rng.random(len(pools)) < rng.choice([0.5, 0.99, 0.9999, 1.0])
        scratch.max_free = np.where(busy, 0, rng.integers(0, 9, len(pools)))
        scratch.free_cards = scratch.max_free * rng.integers(1, 4, len(pools))
        scratch.share_max = np.where(busy, 0, rng.integers(0, 1000, len(pools)))
        order = rng.permutation(len(pools))[: rng.integers(1, len(pools))]
        job = jobs[trial % len(jobs)]
        assert round_.first_with_room(job, order) == reference_first_with_room(round_, job, order)


def reference_share_deltas(
    nodes: PackingNodes, pod: PodRequest, candidates: IntArray, typical: TypicalPods
) -> tuple[FloatArray, FloatArray]:
    """Fragmentation before, and after the share lands on each card (NaN where it cannot, or
    where an earlier card has the same free milli): the features after are the ones before,
    shifted for the one card that changes, and each block goes through `fragmentation`."""
    left = nodes.card_left[candidates]
    model, cpu = nodes.model[candidates], nodes.cpu_left[candidates]
    before_features = card_features(left, typical.thresholds)
    before = fragmentation(typical, model, cpu, before_features)
    earlier = np.tri(CARD_SLOTS, CARD_SLOTS, -1, dtype=bool)
    earlier_same = (left[:, :, None] == left[:, None, :]) & earlier
    rows, cols = np.nonzero((left >= pod.card_milli) & ~earlier_same.any(axis=2))
    old = left[rows, cols]
    new = old - pod.card_milli
    old_at_least = old[:, None] >= typical.thresholds
    new_at_least = new[:, None] >= typical.thresholds
    features = CardFeatures(
        count_at_least=before_features.count_at_least[rows] - old_at_least + new_at_least,
        milli_below=before_features.milli_below[rows]
        - np.where(old_at_least, 0, old[:, None])
        + np.where(new_at_least, 0, new[:, None]),
        total=before_features.total[rows] - pod.card_milli,
    )
    after = np.full(left.shape, np.nan)
    after[rows, cols] = fragmentation(typical, model[rows], cpu[rows] - pod.cpu_milli, features)
    return before, after


def _random_table(rng: np.random.Generator, models: int) -> PackingNodes:
    count = int(rng.integers(1, 40))
    cards = rng.integers(0, CARD_SLOTS + 1, count)
    nodes = PackingNodes.build(
        [f"m{model}" for model in range(models)],
        rng.integers(0, models, count).tolist(),
        cards.tolist(),
        rng.integers(0, 64_000, count).tolist(),
        [0] * count,
    )
    step = int(rng.choice([1, 50, 100]))
    partial = rng.integers(0, MILLI + 1, (count, CARD_SLOTS)) // step * step
    whole = rng.random((count, CARD_SLOTS)) < 0.5
    nodes.card_left = np.where(cards[:, None] > _SLOT_NUMBERS, np.where(whole, MILLI, partial), 0)
    return nodes


_SLOT_NUMBERS = np.arange(CARD_SLOTS)[None, :]


@pytest.mark.parametrize("seed", range(3))
def test_share_deltas_equal_the_reference_to_the_last_bit(seed: int) -> None:
    """Random tables (up to 40 nodes, several models, shares of any size, CPU limits) and
    distributions: every float before and after, NaN for NaN, and the policies' choices."""
    rng = np.random.default_rng(seed)
    compared = 0
    for _ in range(300):
        models = int(rng.integers(1, 4))
        nodes = _random_table(rng, models)
        asks = [
            PodRequest(int(rng.integers(0, 16_000)), 0, 1, int(rng.integers(1, MILLI)))
            for _ in range(int(rng.integers(1, 150)))
        ]
        asks += [PodRequest(0, 0, int(cards), MILLI) for cards in rng.integers(0, 9, 10)]
        typical = typical_pods(asks, models)
        pod = PodRequest(int(rng.integers(0, 16_000)), 0, 1, int(rng.integers(1, MILLI)))
        candidates = feasible_nodes(nodes, pod)
        if not candidates.size:
            continue
        deltas = fragmentation_deltas(nodes, pod, candidates, typical)
        before, after = reference_share_deltas(nodes, pod, candidates, typical)
        assert np.array_equal(deltas.before, before)
        assert np.array_equal(deltas.after, after, equal_nan=True)
        compared += 1
    assert compared > 200
