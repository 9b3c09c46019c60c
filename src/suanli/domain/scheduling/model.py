"""The scheduler's view of the world: pools with free cards per node, and the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from suanli.domain.accelerators import Accelerator
from suanli.domain.jobs import JobSpec
from suanli.domain.pools import Pool
from suanli.errors import InvalidInput


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


@dataclass(frozen=True)
class RunningJob:
    id: str
    owner_id: str
    pool_id: str
    spec: JobSpec
    started_at_s: float
    expected_end_s: float
    node_cards: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Placement:
    job_id: str
    pool_id: str
    node_cards: tuple[tuple[int, int], ...]  # (node index, cards on it)
    preempts: tuple[str, ...] = ()  # running job ids to stop first

    @property
    def cards(self) -> int:
        return sum(cards for _, cards in self.node_cards)


@dataclass
class ClusterState:
    """Free cards per node for every pool. Policies read it; `apply` mutates a copy."""

    pools: tuple[PoolView, ...]
    free_per_node: dict[str, list[int]]
    running: tuple[RunningJob, ...] = ()
    usage_by_owner: dict[str, float] = field(default_factory=dict)  # decayed card-seconds

    @classmethod
    def empty(cls, pools: Sequence[PoolView]) -> ClusterState:
        free = {view.pool.id: [view.pool.cards_per_node] * view.pool.nodes for view in pools}
        return cls(pools=tuple(pools), free_per_node=free)

    def copy(self) -> ClusterState:
        free = {pool_id: list(nodes) for pool_id, nodes in self.free_per_node.items()}
        return ClusterState(self.pools, free, self.running, dict(self.usage_by_owner))

    def free_cards(self, pool_id: str) -> int:
        return sum(self.free_per_node[pool_id])

    def apply(self, placement: Placement) -> None:
        """Takes the placement's cards; refuses to over-allocate any node (invariant 9)."""
        nodes = self.free_per_node[placement.pool_id]
        for node_index, cards in placement.node_cards:
            if cards <= 0 or nodes[node_index] < cards:
                raise InvalidInput(
                    f"placement over-allocates node {node_index} of pool {placement.pool_id}",
                    field="placement",
                )
        for node_index, cards in placement.node_cards:
            nodes[node_index] -= cards

    def release(self, pool_id: str, node_cards: Sequence[tuple[int, int]]) -> None:
        view = next(v for v in self.pools if v.pool.id == pool_id)
        nodes = self.free_per_node[pool_id]
        for node_index, cards in node_cards:
            if nodes[node_index] + cards > view.pool.cards_per_node:
                raise InvalidInput(f"release exceeds node {node_index} capacity", field="release")
            nodes[node_index] += cards


class Policy(Protocol):
    """A placement policy: a pure function of the cluster state and the queue."""

    name: str

    def place(
        self, state: ClusterState, queue: Sequence[QueuedJob], now_s: float
    ) -> list[Placement]: ...
