"""Node-level gang allocation and the scratch state a policy decides against.

A policy must not mutate the state it is given, yet each placement in a round must see the
ones before it. `Scratch` copies only the per-pool vectors (O(pools), microseconds) and copies
a pool's node vector on first write, instead of deep-copying every node of every pool.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from suanli.domain.jobs import JobSpec
from suanli.domain.scheduling.feasibility import is_feasible
from suanli.domain.scheduling.matrix import IntArray
from suanli.domain.scheduling.model import ClusterState, Placement, PoolView, QueuedJob

NodeCards = tuple[tuple[int, int], ...]
_NO_FIT = np.iinfo(np.int64).max


def allocate_nodes(free_per_node: Sequence[int] | IntArray, spec: JobSpec) -> NodeCards:
    """All nodes of a gang at once or none: best fit (fullest node that still fits) first."""
    free = np.asarray(free_per_node, dtype=np.int64)
    need = spec.cards_per_node
    if spec.nodes == 1:
        if free.size == 0:
            return ()
        node = int(np.argmin(np.where(free >= need, free, _NO_FIT)))  # first index on ties
        return ((node, need),) if free[node] >= need else ()
    candidates = np.flatnonzero(free >= need)
    if candidates.size < spec.nodes:
        return ()
    fullest = candidates[np.argsort(free[candidates], kind="stable")[: spec.nodes]]
    return tuple((int(node), need) for node in np.sort(fullest))


class Scratch:
    """A tentative copy of the free capacity for one decision round."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        # the state's own vectors until the first write (a one-job round never copies them)
        self.free_cards = state.free_cards
        self.max_free = state.max_free
        self._copied = False
        self._nodes: dict[int, IntArray] = {}
        self.ends: dict[int, list[tuple[float, NodeCards]]] = {}  # placed this round, by pool
        self.preempted: set[str] = set()

    def nodes(self, index: int) -> IntArray:
        """The pool's free cards per node as this round sees them (do not write)."""
        nodes = self._nodes.get(index)
        return self.state.node_free[index] if nodes is None else nodes

    def take(self, index: int, node_cards: NodeCards, end_s: float) -> None:
        self._shift(index, node_cards, -1)
        self.ends.setdefault(index, []).append((end_s, node_cards))

    def give(self, index: int, node_cards: NodeCards) -> None:
        self._shift(index, node_cards, +1)

    def _shift(self, index: int, node_cards: NodeCards, sign: int) -> None:
        if not self._copied:
            self.free_cards, self.max_free = self.free_cards.copy(), self.max_free.copy()
            self._copied = True
        nodes = self._nodes.get(index)
        if nodes is None:
            nodes = self._nodes[index] = self.state.node_free[index].copy()
        for node, cards in node_cards:
            nodes[node] += sign * cards
        capacity = int(self.state.matrix.cards_per_node[index])
        if nodes.size and (nodes.min() < 0 or nodes.max() > capacity):
            raise ValueError(f"scratch over-allocated pool index {index}")  # a policy bug
        self.free_cards[index] = nodes.sum()
        self.max_free[index] = nodes.max(initial=0)


def try_place(state: ClusterState, job: QueuedJob, view: PoolView) -> Placement | None:
    """The scalar reference placement on one pool (used by tests and the baseline bench)."""
    if not view.available or not is_feasible(job.spec, view):
        return None
    index = state.pool_index(view.pool.id)
    if int(state.free_cards[index]) < job.spec.cards:
        return None
    node_cards = allocate_nodes(state.node_free[index], job.spec)
    if not node_cards:
        return None
    return Placement(job_id=job.id, pool_id=view.pool.id, node_cards=node_cards)


class ScalarCheapestPolicy:
    """The first policy, kept as the scalar baseline `bench scheduler` compares against:
    each job in priority order goes to the cheapest feasible pool with room, checking every
    pool with the scalar `is_feasible`."""

    name = "scalar-cheapest"

    def place(
        self, state: ClusterState, queue: Sequence[QueuedJob], now_s: float
    ) -> list[Placement]:
        working = state.copy()
        placements: list[Placement] = []
        ordered = sorted(queue, key=lambda job: (-job.spec.priority, job.submitted_at_s, job.id))
        for job in ordered:
            views = [v for v in working.pools if is_feasible(job.spec, v)]
            views.sort(key=lambda v: (v.pool.price_fen_per_card_hour, v.pool.id))
            for view in views:
                placement = try_place(working, job, view)
                if placement is not None:
                    working.apply(placement)
                    placements.append(placement)
                    break
        return placements
