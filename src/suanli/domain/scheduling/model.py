"""The scheduler's view of the world: pools with free cards per node, the queue, running jobs.

`ClusterState` keeps NumPy mirrors of the free capacity (per node, per pool, largest free node)
that `apply`/`release` update incrementally, so a decision never rescans every node.

Shared cards: a job may hold a share of one card (`JobSpec.card_milli`). A node's free count
covers its fully free cards only (whole-card jobs need those); a card that holds shares leaves
that count and is tracked by (node, card label) with its free milli, until its last share ends.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from suanli.domain.accelerators import Accelerator
from suanli.domain.jobs import JobSpec
from suanli.domain.pools import Pool
from suanli.domain.scheduling.host import (
    NO_ASK,
    HostAsk,
    HostFree,
    give_host,
    host_capacity,
    take_host,
)
from suanli.domain.scheduling.matrix import PoolMatrix, pool_matrix
from suanli.domain.scheduling.request_window import RequestWindow
from suanli.domain.scheduling.running import EndEntry, RunningIndex, VictimEntry
from suanli.errors import InvalidInput
from suanli.i18n import msg

IntArray = npt.NDArray[np.int64]
MILLI_PER_CARD = 1000
SharedCards = dict[tuple[int, int], int]  # (node, card label) -> free milli on that card


@dataclass(frozen=True)
class CardShare:
    """A share of one card: `milli` thousandths of the card labelled `card` on `node`. Labels
    are the scheduler's bookkeeping (0..cards per node - 1), unique among a node's shared cards;
    an engine may pick another physical card (docs/clusters.md)."""

    node: int
    card: int
    milli: int


@dataclass(frozen=True)
class PoolView:
    """A pool joined with its catalog entry: everything feasibility needs."""

    pool: Pool
    accelerator: Accelerator
    available: bool = True  # False while the pool's cluster is unreachable


@dataclass(frozen=True)
class QueuedJob:
    id: str
    owner_id: str
    spec: JobSpec
    submitted_at_s: float
    reference_runtime_s: float | None = None  # expected runtime on the reference accelerator
    reference_model: str | None = None  # None = performance.DEFAULT_REFERENCE_MODEL

    @property
    def expected_reference_runtime_s(self) -> float:
        """The runtime estimate policies use: the reference runtime, else the declared limit."""
        if self.reference_runtime_s is not None and self.reference_runtime_s > 0:
            return self.reference_runtime_s
        return float(self.spec.max_run_time_s)


@dataclass(frozen=True)
class RunningJob:
    id: str
    owner_id: str
    pool_id: str
    spec: JobSpec
    started_at_s: float
    expected_end_s: float
    node_cards: tuple[tuple[int, int], ...]
    share: CardShare | None = None  # a fractional job: its share; node_cards is then ()

    @property
    def cards(self) -> int:
        return sum(cards for _, cards in self.node_cards)


@dataclass(frozen=True)
class Placement:
    job_id: str
    pool_id: str
    node_cards: tuple[tuple[int, int], ...]  # (node index, cards on it)
    preempts: tuple[str, ...] = ()  # running job ids to stop first
    expected_runtime_s: float | None = None  # the policy's estimate on this pool
    share: CardShare | None = None  # a fractional job: its share; node_cards is then ()
    host: HostAsk = NO_ASK  # host CPU cores and memory taken on each of its nodes

    @property
    def nodes(self) -> tuple[int, ...]:
        return placed_nodes(self.node_cards, self.share)

    @property
    def cards(self) -> int:
        return sum(cards for _, cards in self.node_cards)


@dataclass
class ClusterState:
    """Free cards per node for every pool. Policies read it; `apply`/`release` mutate it.

    `free_per_node` (lists) is the public view; `node_free`, `free_cards` and `max_free` are
    NumPy mirrors indexed like `pools`, kept in step by `apply` and `release`.
    """

    pools: tuple[PoolView, ...]
    free_per_node: dict[str, list[int]]
    running: Collection[RunningJob] = ()
    usage_by_owner: Mapping[str, float] = field(default_factory=dict)  # decayed card-seconds
    owner_weights: dict[str, float] = field(default_factory=dict)  # fair-share weight, default 1

    def __post_init__(self) -> None:
        self.matrix: PoolMatrix = pool_matrix(self.pools)
        self.node_free: list[IntArray] = [
            _node_array(self.free_per_node.get(view.pool.id), view) for view in self.pools
        ]
        self.free_cards: IntArray = np.array([a.sum() for a in self.node_free], dtype=np.int64)
        self.max_free: IntArray = np.array(
            [a.max(initial=0) for a in self.node_free], dtype=np.int64
        )
        self.shared: dict[int, SharedCards] = {}  # by pool index; only pools with shares
        self.share_max = np.zeros(len(self.pools), dtype=np.int64)  # roomiest shared card
        self.host: dict[int, HostFree] = {}  # by pool index; only pools declaring host figures
        for index, view in enumerate(self.pools):
            capacity = host_capacity(view.pool)
            if capacity is not None:
                self.host[index] = capacity
        self._running_source: object = None
        self._running = RunningIndex(self.matrix.index)
        # the recent requests the packing policy measures fragmentation against: state the
        # caller keeps across rounds (the runtime replaces this one with its own)
        self.requests = RequestWindow()

    @classmethod
    def empty(cls, pools: Sequence[PoolView]) -> ClusterState:
        free = {view.pool.id: [view.pool.cards_per_node] * view.pool.nodes for view in pools}
        return cls(pools=tuple(pools), free_per_node=free)

    def copy(self) -> ClusterState:
        free = {pool_id: list(nodes) for pool_id, nodes in self.free_per_node.items()}
        weights = dict(self.owner_weights)
        running = tuple(self.running)
        copied = ClusterState(self.pools, free, running, dict(self.usage_by_owner), weights)
        copied.shared = {index: dict(cards) for index, cards in self.shared.items()}
        copied.share_max = self.share_max.copy()
        copied.host = {index: host.copy() for index, host in self.host.items()}
        copied.requests = self.requests  # not capacity: the copy learns with the original
        return copied

    def pool_index(self, pool_id: str) -> int:
        index = self.matrix.index.get(pool_id)
        if index is None:
            raise InvalidInput(
                msg(f"未知资源池 {pool_id!r}", f"unknown pool {pool_id!r}"), field="pool_id"
            )
        return index

    def free_cards_of(self, pool_id: str) -> int:
        return int(self.free_cards[self.pool_index(pool_id)])

    def free_cards_total(self) -> int:
        return int(self.free_cards.sum())

    def apply(self, placement: Placement) -> None:
        """Takes the placement's cards; refuses to over-allocate any node (invariant 9)."""
        index = self.pool_index(placement.pool_id)
        host = self.host.get(index)
        if host is not None:  # checked first, so a refused placement changes nothing
            take_host(host.copy(), placement.nodes, placement.host, placement.pool_id)
        if placement.share is not None:
            self._take_share(index, placement.share)
        else:
            self._take_cards(index, placement)
        if host is not None:
            take_host(host, placement.nodes, placement.host, placement.pool_id)

    def _take_cards(self, index: int, placement: Placement) -> None:
        nodes = self.node_free[index]
        for node_index, cards in placement.node_cards:
            if cards <= 0 or not 0 <= node_index < nodes.size or nodes[node_index] < cards:
                raise InvalidInput(
                    msg(
                        f"放置方案超额分配了资源池 {placement.pool_id} 的节点 {node_index}",
                        f"placement over-allocates node {node_index} of pool {placement.pool_id}",
                    ),
                    field="placement",
                )
        self._shift(index, placement.node_cards, -1)

    def release(
        self,
        pool_id: str,
        node_cards: Sequence[tuple[int, int]],
        share: CardShare | None = None,
        host: HostAsk = NO_ASK,
    ) -> None:
        index = self.pool_index(pool_id)
        nodes = self.node_free[index]
        capacity = self.pools[index].pool.cards_per_node
        for node_index, cards in node_cards:
            if cards <= 0 or not 0 <= node_index < nodes.size:
                raise InvalidInput(
                    msg(f"释放的节点 {node_index} 无效", f"release names a bad node {node_index}"),
                    field="release",
                )
            if nodes[node_index] + cards > capacity:
                raise InvalidInput(
                    msg(
                        f"释放的卡超过节点 {node_index} 的容量",
                        f"release exceeds node {node_index} capacity",
                    ),
                    field="release",
                )
        if share is not None:
            self._give_share(index, share)
        if index in self.host:
            held_on = placed_nodes(tuple(node_cards), share)
            give_host(self.host[index], held_on, host, self.pools[index].pool)
        self._shift(index, node_cards, +1)

    def _shift(self, index: int, node_cards: Iterable[tuple[int, int]], sign: int) -> None:
        nodes = self.node_free[index]
        listed = self.free_per_node[self.pools[index].pool.id]
        for node_index, cards in node_cards:
            nodes[node_index] += sign * cards
            listed[node_index] += sign * cards
        self.free_cards[index] = nodes.sum()
        self.max_free[index] = nodes.max(initial=0)

    def _take_share(self, index: int, share: CardShare) -> None:
        """A share opens a fully free card (the label must be unused on the node) or joins
        the shared card with that label; either way it must fit (invariant 9)."""
        shared = self.shared.setdefault(index, {})
        opens = take_share(shared, self.node_free[index], self.pools[index].pool, share)
        if opens:
            self._shift(index, ((share.node, 1),), -1)
        self.share_max[index] = max(shared.values(), default=0)

    def _give_share(self, index: int, share: CardShare) -> None:
        shared = self.shared.get(index, {})
        if give_share(shared, share):
            self._shift(index, ((share.node, 1),), +1)
        self.share_max[index] = max(shared.values(), default=0)

    # -- running jobs, indexed (rebuilt when `running` is reassigned, as the live loop does) --
    def running_jobs(self) -> Mapping[str, RunningJob]:
        """Running jobs by id (read-only use)."""
        return self._running_index().jobs

    def running_in(self, index: int) -> Collection[RunningJob]:
        return self._running_index().by_pool.get(index, {}).values()

    def ends_in(self, index: int) -> Sequence[EndEntry]:
        """(expected end, job id) of the pool's running jobs, earliest first."""
        return self._running_index().ends.get(index, [])

    def victims_in(self, index: int) -> Sequence[VictimEntry]:
        """The pool's preemptible jobs, lowest priority and newest first."""
        return self._running_index().victims.get(index, [])

    def lowest_preemptible_priority(self) -> int | None:
        return min(self._running_index().preemptible, default=None)

    def add_running(self, job: RunningJob) -> None:
        """Records a started job (the caller applies its placement separately)."""
        running = self._running_index()
        if job.id in running.jobs:
            raise InvalidInput(
                msg(f"作业 {job.id!r} 已在运行", f"job {job.id!r} is already running"),
                field="job_id",
            )
        running.add(job)

    def remove_running(self, job_id: str) -> RunningJob:
        job = self._running_index().remove(job_id)
        if job is None:
            raise InvalidInput(
                msg(f"作业 {job_id!r} 未在运行", f"job {job_id!r} is not running"), field="job_id"
            )
        return job

    def _running_index(self) -> RunningIndex:
        if self._running_source is not self.running:
            index = RunningIndex(self.matrix.index)
            for job in list(self.running):
                index.add(job)
            self._running = index
            self.running = index.jobs.values()
            self._running_source = self.running
        return self._running


def _node_array(free: Sequence[int] | None, view: PoolView) -> IntArray:
    if free is None:
        raise InvalidInput(
            msg(
                f"资源池 {view.pool.id} 没有空闲卡列表",
                f"no free-card list for pool {view.pool.id}",
            ),
            field="free_per_node",
        )
    nodes = np.array(free, dtype=np.int64)
    if nodes.size != view.pool.nodes or (nodes.size and nodes.min() < 0):
        raise InvalidInput(
            msg(
                f"资源池 {view.pool.id} 的空闲卡列表格式有误",
                f"free-card list of pool {view.pool.id} is malformed",
            ),
            field="free",
        )
    if nodes.size and nodes.max() > view.pool.cards_per_node:
        raise InvalidInput(
            msg(
                f"资源池 {view.pool.id} 的空闲卡多于总卡数",
                f"pool {view.pool.id} has more free cards than cards",
            ),
            field="free",
        )
    return nodes


def placed_nodes(
    node_cards: tuple[tuple[int, int], ...], share: CardShare | None
) -> tuple[int, ...]:
    """The nodes a placement occupies."""
    return (share.node,) if share is not None else tuple(node for node, _ in node_cards)


def host_ask(spec: JobSpec) -> HostAsk:
    return (spec.cpus, float(spec.host_memory_gib))


def take_share(shared: SharedCards, node_free: IntArray, pool: Pool, share: CardShare) -> bool:
    """Records the share in `shared`; True when it opened a fully free card (the caller takes
    that card from the node's free count). Raises on anything that would over-allocate."""
    key = (share.node, share.card)
    if not 0 < share.milli < MILLI_PER_CARD or not 0 <= share.card < pool.cards_per_node:
        raise InvalidInput(
            msg(
                f"资源池 {pool.id} 上的卡份额 {share} 无效",
                f"bad card share {share} on pool {pool.id}",
            ),
            field="placement",
        )
    if not 0 <= share.node < node_free.size:
        raise InvalidInput(
            msg(f"份额指向的节点 {share.node} 无效", f"share names a bad node {share.node}"),
            field="placement",
        )
    free = shared.get(key)
    opens = free is None
    if free is None:
        if node_free[share.node] < 1:
            raise InvalidInput(
                msg(
                    f"放置方案超额分配了资源池 {pool.id} 的节点 {share.node}",
                    f"placement over-allocates node {share.node} of pool {pool.id}",
                ),
                field="placement",
            )
        free = MILLI_PER_CARD
    if free < share.milli:
        raise InvalidInput(
            msg(
                f"放置方案超额分配了资源池 {pool.id} 节点 {share.node} 的卡 {share.card}",
                f"placement over-allocates card {share.card} of node {share.node} "
                f"of pool {pool.id}",
            ),
            field="placement",
        )
    shared[key] = free - share.milli
    return opens


def give_share(shared: SharedCards, share: CardShare) -> bool:
    """Returns the share to its card; True when the card is then fully free again."""
    key = (share.node, share.card)
    free = shared.get(key)
    if free is None or free + share.milli > MILLI_PER_CARD:
        raise InvalidInput(
            msg(
                f"释放的份额并未被占用：{share}", f"release names a share that is not held: {share}"
            ),
            field="release",
        )
    if free + share.milli == MILLI_PER_CARD:
        del shared[key]
        return True
    shared[key] = free + share.milli
    return False


class Policy(Protocol):
    """A placement policy: a pure function of the cluster state and the queue."""

    name: str

    def place(
        self, state: ClusterState, queue: Sequence[QueuedJob], now_s: float
    ) -> list[Placement]: ...
