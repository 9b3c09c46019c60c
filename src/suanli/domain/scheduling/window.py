"""The jobs a round examines (its window), chosen by one function for the live loop and the
simulator alike, so the two cannot see different jobs however long the queue.

Past the window's size a round takes each enterprise in turn: a round sees only its window,
so one tenant's backlog of waiting jobs would otherwise fill it and hide every other tenant's
jobs, even ones that could start at once. Each enterprise's jobs come in the policy's own
window order (arrival, or shortest first for a policy whose window is the shortest jobs); the
oldest queued job is always in view (`shortest-backfill` reserves for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from suanli.domain.scheduling.model import QueuedJob
from suanli.domain.scheduling.policies import SHORTEST_ORDER, shortest_key

# A round chooses its window from the oldest queued jobs, this many at most: the live loop
# reads no more from the database, and the simulator looks no further.
QUEUE_READ_MAX = 5_000


def arrival_key(job: QueuedJob) -> tuple[float, str]:
    """The queue's order: submission time, ties by id (the live loop's ORDER BY)."""
    return (job.submitted_at_s, job.id)


def round_window(queue: Sequence[QueuedJob], limit: int, order: str) -> list[QueuedJob]:
    """The `limit` jobs a round examines from `queue` (in arrival order, at most
    QUEUE_READ_MAX), in arrival order as the policy reads its queue; a queue within the
    limit is the window as it is. `order` is the policy's `queue_order`."""
    if len(queue) <= limit:
        return list(queue)
    by_owner: dict[str, list[QueuedJob]] = {}
    for job in queue:  # owners in the order of their oldest job
        by_owner.setdefault(job.owner_id, []).append(job)
    if order == SHORTEST_ORDER:
        for jobs in by_owner.values():
            jobs.sort(key=shortest_key)
    return owners_in_turn(queue[0], by_owner.values(), limit)


def owners_in_turn(
    oldest: QueuedJob, by_owner: Iterable[Iterable[QueuedJob]], limit: int
) -> list[QueuedJob]:
    """Takes one job of each enterprise in turn until `limit` are taken, the `oldest` first.
    `by_owner`: each enterprise's jobs in the window's order, the enterprises in the order of
    their oldest job. The simulator passes its own running sequences, the live loop
    `round_window`'s lists; either way the choice is made here."""
    picked = {oldest.id: oldest}
    turn = [iter(jobs) for jobs in by_owner]
    while turn and len(picked) < limit:
        next_turn = []  # the enterprises with jobs left: a round costs O(limit + enterprises)
        for jobs in turn:
            job = next(jobs, None)
            if job is None:
                continue
            picked.setdefault(job.id, job)
            if len(picked) >= limit:
                break
            next_turn.append(jobs)
        turn = next_turn
    return sorted(picked.values(), key=arrival_key)
