"""EASY backfill (Lifka 1995; Mu'alem & Feitelson 2001) across heterogeneous pools.

The first job of a round that cannot start gets one reservation: the earliest time some
feasible pool frees enough cards for it, found by replaying that pool's expected job ends.
Later jobs may start now if they run on another pool, end before the reservation, or use
only cards the reserved job will not need ("extra" cards).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby, islice

import numpy as np

from suanli.domain.jobs import JobSpec
from suanli.domain.scheduling.card_choice import Packing, cards_on_pool, packs, share_on_pool
from suanli.domain.scheduling.feasibility import static_mask
from suanli.domain.scheduling.matrix import IntArray
from suanli.domain.scheduling.model import CardShare
from suanli.domain.scheduling.placement import NodeCards, Scratch, allocate_nodes, allocate_share

RESERVATION_POOLS_MAX = 16  # pools examined for the reservation: the ones with most free cards
RELEASES_SCAN_MAX = 20_000  # job ends replayed per pool before giving up (a bound on work)


@dataclass
class Reservation:
    pool: int
    start_s: float
    extra: IntArray  # per node: cards still free at start_s after the reserved job takes its own


def reserve(scratch: Scratch, spec: JobSpec, now_s: float) -> Reservation | None:
    """The earliest-starting reservation over the most promising feasible pools."""
    matrix = scratch.state.matrix
    pools = np.flatnonzero(static_mask(spec, matrix) & matrix.available)
    if pools.size > RESERVATION_POOLS_MAX:
        most_free = np.argpartition(-scratch.free_cards[pools], RESERVATION_POOLS_MAX - 1)
        pools = np.sort(pools[most_free[:RESERVATION_POOLS_MAX]])
    found: Reservation | None = None
    for index in pools:
        candidate = earliest_start(scratch, int(index), spec, now_s)
        if candidate is not None and (found is None or candidate.start_s < found.start_s):
            found = candidate
    return found


def earliest_start(scratch: Scratch, index: int, spec: JobSpec, now_s: float) -> Reservation | None:
    """Replays the pool's expected ends, earliest first, until the job fits; None if never."""
    nodes: list[int] = scratch.nodes(index).tolist()  # scalar updates: lists beat NumPy here
    need = spec.cards_per_node
    fitting = sum(1 for free in nodes if free >= need)
    releases = islice(_releases(scratch, index), RELEASES_SCAN_MAX)
    for end_s, ending in groupby(releases, key=lambda release: release[0]):
        for _, node_cards in ending:  # jobs ending together free their cards together
            for node, cards in node_cards:
                before = nodes[node]
                nodes[node] = before + cards
                fitting += before < need <= before + cards
        if fitting >= spec.nodes:
            at_start = np.array(nodes, dtype=np.int64)
            extra = at_start.copy()
            for node in _reserved_nodes(at_start, scratch.nodes(index), spec):
                extra[node] -= need
            return Reservation(pool=index, start_s=max(end_s, now_s), extra=extra)
    return None


def _reserved_nodes(at_start: IntArray, now: IntArray, spec: JobSpec) -> IntArray:
    """The reserved job's nodes: those with the least room now, so what is free now stays
    free for backfill (best fit at the start time breaks ties)."""
    candidates = np.flatnonzero(at_start >= spec.cards_per_node)
    order = np.lexsort((candidates, at_start[candidates], now[candidates]))
    return candidates[order[: spec.nodes]]


def _releases(scratch: Scratch, index: int) -> Iterator[tuple[float, NodeCards]]:
    """Running jobs' and this round's placements' (end, node cards), earliest end first."""
    jobs = scratch.state.running_jobs()
    running = (
        (end_s, jobs[job_id].node_cards)
        for end_s, job_id in scratch.state.ends_in(index)
        if job_id not in scratch.preempted
    )
    placed = sorted(scratch.ends.get(index, ()), key=lambda release: release[0])
    return heapq.merge(running, placed, key=lambda release: release[0])


def backfill_nodes(
    scratch: Scratch,
    reservation: Reservation | None,
    index: int,
    spec: JobSpec,
    end_s: float,
    packing: Packing | None = None,
) -> NodeCards:
    """Nodes for a job that must not delay the reservation; () if it would. A one-node job
    goes where the packing policy puts it (card_choice), a gang to the fullest nodes."""
    free = reservation is None or index != reservation.pool or end_s <= reservation.start_s
    room = None if free or reservation is None else reservation.extra
    if packing is not None and packs(scratch.state.pools[index].pool, spec, packing.whole_cards):
        taken = cards_on_pool(scratch, index, spec, packing, room)
    elif room is None:
        return allocate_nodes(scratch.usable(index, spec), spec)
    else:
        taken = allocate_nodes(np.minimum(scratch.usable(index, spec), room), spec)
    if room is None or reservation is None:
        return taken
    for node, cards in taken:
        reservation.extra[node] -= cards
    return taken


def backfill_share(
    scratch: Scratch,
    reservation: Reservation | None,
    index: int,
    spec: JobSpec,
    end_s: float,
    packing: Packing | None = None,
) -> CardShare | None:
    """A share of a card that does not delay the reservation: joining a shared card never
    does; opening a fully free card may use only the reserved job's extra cards. The node
    and card are the packing policy's (card_choice), else best fit on the card."""
    milli = spec.card_milli
    if milli is None:
        return None
    nodes, shared = scratch.nodes(index), scratch.shared(index)
    fits = scratch.host_ok(index, spec)
    free = reservation is None or index != reservation.pool or end_s <= reservation.start_s
    room = None if free or reservation is None else reservation.extra
    if packing is not None and packs(scratch.state.pools[index].pool, spec):
        share = share_on_pool(scratch, index, spec, packing, room)
    else:
        share = allocate_share(nodes, shared, milli, room=room, nodes_ok=fits)
    if room is None or reservation is None:
        return share
    if share is not None and (share.node, share.card) not in shared:
        reservation.extra[share.node] -= 1
    return share
