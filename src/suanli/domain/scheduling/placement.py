"""Node-level gang allocation and the first policy: the cheapest feasible pool with room."""

from __future__ import annotations

from collections.abc import Sequence

from suanli.domain.jobs import JobSpec
from suanli.domain.scheduling.feasibility import is_feasible
from suanli.domain.scheduling.model import ClusterState, Placement, PoolView, QueuedJob


def allocate_nodes(free_per_node: Sequence[int], spec: JobSpec) -> tuple[tuple[int, int], ...]:
    """All nodes of a gang at once or none: best fit (fullest node that still fits) first."""
    candidates = [i for i, free in enumerate(free_per_node) if free >= spec.cards_per_node]
    if len(candidates) < spec.nodes:
        return ()
    candidates.sort(key=lambda i: (free_per_node[i], i))
    return tuple((i, spec.cards_per_node) for i in sorted(candidates[: spec.nodes]))


def try_place(state: ClusterState, job: QueuedJob, view: PoolView) -> Placement | None:
    if not view.available or state.free_cards(view.pool.id) < job.spec.cards:
        return None
    node_cards = allocate_nodes(state.free_per_node[view.pool.id], job.spec)
    if not node_cards:
        return None
    return Placement(job_id=job.id, pool_id=view.pool.id, node_cards=node_cards)


class CheapestPolicy:
    """Each job in queue order (priority first) goes to the cheapest feasible pool with room."""

    name = "cheapest"

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
