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
from suanli.domain.scheduling.host import (
    NO_ASK,
    BoolArray,
    HostAsk,
    HostFree,
    give_host,
    host_fits,
    take_host,
)
from suanli.domain.scheduling.matrix import IntArray
from suanli.domain.scheduling.model import (
    CardShare,
    ClusterState,
    Placement,
    PoolView,
    QueuedJob,
    SharedCards,
    give_share,
    host_ask,
    placed_nodes,
    take_share,
)

NodeCards = tuple[tuple[int, int], ...]
_NO_FIT = np.iinfo(np.int64).max
SCAN_NODES_MAX = 64  # up to this many nodes a Python scan beats NumPy (a few calls of ~1 µs)


def allocate_nodes(free_per_node: Sequence[int] | IntArray, spec: JobSpec) -> NodeCards:
    """All nodes of a gang at once or none: best fit (fullest node that still fits) first,
    the lowest node on ties."""
    free = np.asarray(free_per_node, dtype=np.int64)
    need = spec.cards_per_node
    if free.size <= SCAN_NODES_MAX:
        return _scan_nodes(free.tolist(), need, spec.nodes)
    if spec.nodes == 1:
        node = int(np.argmin(np.where(free >= need, free, _NO_FIT)))  # first index on ties
        return ((node, need),) if free[node] >= need else ()
    candidates = np.flatnonzero(free >= need)
    if candidates.size < spec.nodes:
        return ()
    fullest = candidates[np.argsort(free[candidates], kind="stable")[: spec.nodes]]
    return tuple((int(node), need) for node in np.sort(fullest))


def _scan_nodes(free: list[int], need: int, nodes: int) -> NodeCards:
    """`allocate_nodes` for a pool of a few nodes, in plain Python: the same order (fewest
    free cards, then lowest node), without NumPy's cost per call, which dominates there."""
    fits = sorted((cards, node) for node, cards in enumerate(free) if cards >= need)
    if len(fits) < nodes:
        return ()
    return tuple((node, need) for node in sorted(node for _, node in fits[:nodes]))


def allocate_share(
    free_per_node: IntArray,
    shared: SharedCards,
    milli: int,
    room: IntArray | None = None,
    nodes_ok: BoolArray | None = None,
) -> CardShare | None:
    """Best fit on the card: the shared card with the least free milli that still fits (the
    lowest node and label on ties); else a fully free card on the fullest node that has one.
    `room` (per node, optional) caps the fully free cards that may be opened; `nodes_ok`
    (optional) names the nodes with room for the job's host CPU and memory."""
    fitting = [
        (free, key)
        for key, free in shared.items()
        if free >= milli and (nodes_ok is None or nodes_ok[key[0]])
    ]
    if fitting:
        _, (node, card) = min(fitting)
        return CardShare(node, card, milli)
    free = free_per_node if room is None else np.minimum(free_per_node, room)
    if nodes_ok is not None:
        free = np.where(nodes_ok, free, 0)
    if free.size == 0:
        return None
    node = int(np.argmin(np.where(free >= 1, free, _NO_FIT)))
    if free[node] < 1:
        return None
    return CardShare(node, new_card_label(shared, node), milli)


def new_card_label(shared: SharedCards, node: int) -> int:
    """The lowest label no shared card of the node uses (always < cards per node)."""
    used = {card for (on, card) in shared if on == node}
    return next(card for card in range(len(used) + 1) if card not in used)


class Scratch:
    """A tentative copy of the free capacity for one decision round."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        # the state's own vectors until the first write (a one-job round never copies them)
        self.free_cards = state.free_cards
        self.max_free = state.max_free
        self.share_max = state.share_max
        self._copied = False
        self._nodes: dict[int, IntArray] = {}
        self._shared: dict[int, SharedCards] = {}
        self._host: dict[int, HostFree] = {}
        self.ends: dict[int, list[tuple[float, NodeCards]]] = {}  # placed this round, by pool
        self.preempted: set[str] = set()

    def nodes(self, index: int) -> IntArray:
        """The pool's free cards per node as this round sees them (do not write)."""
        nodes = self._nodes.get(index)
        return self.state.node_free[index] if nodes is None else nodes

    def host(self, index: int) -> HostFree | None:
        """The pool's free host CPU and memory per node as this round sees them (do not
        write); None when the pool declares neither."""
        return self._host.get(index, self.state.host.get(index))

    def host_ok(self, index: int, spec: JobSpec) -> BoolArray | None:
        """Per node: room for the job's host CPU and memory now; None when nothing limits."""
        host = self._host.get(index, self.state.host.get(index))
        return host_fits(host, host_ask(spec))

    def usable(self, index: int, spec: JobSpec) -> IntArray:
        """Free cards per node, zero where the job's host CPU or memory would not fit."""
        nodes, fits = self.nodes(index), self.host_ok(index, spec)
        return nodes if fits is None else np.where(fits, nodes, 0)

    def _take_host(self, index: int, nodes: tuple[int, ...], ask: HostAsk, take: bool) -> None:
        if index not in self.state.host or ask == NO_ASK:
            return
        host = self._host.get(index)
        if host is None:
            host = self._host[index] = self.state.host[index].copy()
        if take:
            take_host(host, nodes, ask, self.state.matrix.pool_ids[index])
        else:
            give_host(host, nodes, ask, self.state.pools[index].pool)

    def shared(self, index: int) -> SharedCards:
        """The pool's shared cards as this round sees them (do not write)."""
        shared = self._shared.get(index)
        return self.state.shared.get(index, {}) if shared is None else shared

    def take(
        self,
        index: int,
        node_cards: NodeCards,
        end_s: float,
        share: CardShare | None = None,
        host: HostAsk = NO_ASK,
    ) -> None:
        self._take_host(index, placed_nodes(node_cards, share), host, take=True)
        if share is not None:
            self._share(index, share, take=True)
        self._shift(index, node_cards, -1)
        self.ends.setdefault(index, []).append((end_s, node_cards))

    def give(
        self,
        index: int,
        node_cards: NodeCards,
        share: CardShare | None = None,
        host: HostAsk = NO_ASK,
    ) -> None:
        self._take_host(index, placed_nodes(node_cards, share), host, take=False)
        if share is not None:
            self._share(index, share, take=False)
        self._shift(index, node_cards, +1)

    def _share(self, index: int, share: CardShare, *, take: bool) -> None:
        self._copy_vectors()
        shared = self._shared.get(index)
        if shared is None:
            shared = self._shared[index] = dict(self.state.shared.get(index, {}))
        pool = self.state.pools[index].pool
        if take:
            whole = take_share(shared, self.nodes(index), pool, share)
        else:
            whole = give_share(shared, share)
        if whole:
            self._shift(index, ((share.node, -1 if take else 1),), +1)
        self.share_max[index] = max(shared.values(), default=0)

    def _copy_vectors(self) -> None:
        if not self._copied:
            self.free_cards, self.max_free = self.free_cards.copy(), self.max_free.copy()
            self.share_max = self.share_max.copy()
            self._copied = True

    def _shift(self, index: int, node_cards: NodeCards, sign: int) -> None:
        self._copy_vectors()
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
    ask = host_ask(job.spec)
    fits = host_fits(state.host.get(index), ask)
    if job.spec.card_milli is not None:
        shared = state.shared.get(index, {})
        milli = job.spec.card_milli
        share = allocate_share(state.node_free[index], shared, milli, nodes_ok=fits)
        if share is None:
            return None
        return Placement(job.id, view.pool.id, (), share=share, host=ask)
    if int(state.free_cards[index]) < job.spec.cards:
        return None
    free = state.node_free[index] if fits is None else np.where(fits, state.node_free[index], 0)
    node_cards = allocate_nodes(free, job.spec)
    if not node_cards:
        return None
    return Placement(job_id=job.id, pool_id=view.pool.id, node_cards=node_cards, host=ask)


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
