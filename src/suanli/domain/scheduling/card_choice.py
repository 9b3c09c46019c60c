"""Which node and which card of the chosen pool take a job: the packing policy of
`packing.py`, on the live books.

A round's policy picks the pool (cost, time, ...); the node and the card on it are picked here
by the packing policy named in `PolicyOptions.packing` (default `DEFAULT_PACKING_POLICY`; the
live loop reads `SUANLI_PACKING_POLICY`), through `packing.choose`, the function
`suanli simulate packing` replays the FGD protocol with. The distribution FGD and suanli's
policy measure fragmentation against is the state's `RequestWindow` (the recent requests).

`pool_table` turns one pool's books into a `PackingNodes` table: a shared card's slot is its
label, and the node's fully free cards fill its lowest other slots, so a choice maps back
without a lookup (a fully free slot chosen for a share becomes that share's new label).
Under a backfill reservation only the reservation's spare cards are offered as fully free.

Not packed (best fit as before, `placement.allocate_*`): one-node whole-card jobs unless
`Packing.whole_cards` (`SUANLI_PACKING_WHOLE_CARDS`; off: an FGD decision costs about twice
a whole legacy decision), gangs of several nodes, and pools with more than `CARD_SLOTS` cards
per node (the table's width, the FGD artifact's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from suanli.domain.jobs import JobSpec
from suanli.domain.pools import Pool
from suanli.domain.scheduling.matrix import IntArray
from suanli.domain.scheduling.model import CardShare
from suanli.domain.scheduling.packing import (
    CARD_SLOTS,
    MAX_SPEC_CPU_MILLI,
    MILLI,
    SHARE_TAG,
    Choice,
    PackingContext,
    PackingNodes,
    PodRequest,
    choose,
)
from suanli.domain.scheduling.placement import NodeCards, Scratch
from suanli.domain.scheduling.request_window import RequestWindow

NEEDS_DISTRIBUTION = frozenset({"fgd"})  # refuses to run without one (suanli falls back itself)
FALLBACK_POLICY = "best-fit"
RANDOM = "random"  # for those, before the first request has been seen
_SLOTS = np.arange(CARD_SLOTS)
# row k: a node whose k fully free cards fill its first k slots (a table row without shares)
_OPEN_ROWS = np.where(_SLOTS[None, :] < np.arange(CARD_SLOTS + 1)[:, None], MILLI, 0)


@dataclass(frozen=True)
class Packing:
    """What a round packs with: the policy's name, the recent requests, and whether one-node
    whole-card jobs are packed too (else best fit, `allocate_nodes`)."""

    policy: str
    window: RequestWindow
    whole_cards: bool = False


def packs(pool: Pool, spec: JobSpec, whole_cards: bool = False) -> bool:
    """Whether the packing policy places this job on this pool (else best fit): a share
    always, a one-node whole-card job when `whole_cards`; never a gang or a pool wider than
    the table."""
    if pool.cards_per_node > CARD_SLOTS:
        return False
    return spec.fractional or (whole_cards and spec.nodes == 1)


def pool_table(
    scratch: Scratch, index: int, window: RequestWindow, room: IntArray | None = None
) -> PackingNodes:
    """The pool's nodes as the packing policies see them (see the module's docstring)."""
    pool = scratch.state.pools[index].pool
    free = scratch.nodes(index)
    opened = free if room is None else np.minimum(free, room)
    count = free.size
    tags = np.zeros((count, CARD_SLOTS + 1), np.int64)
    shared = scratch.shared(index)
    if not shared:  # no shares: a node's fully free cards are its first slots (a lookup)
        card_left = _OPEN_ROWS[np.minimum(np.maximum(opened, 0), CARD_SLOTS)]
    else:
        card_left = np.zeros((count, CARD_SLOTS), np.int64)
        other = np.repeat((pool.cards_per_node > _SLOTS)[None, :], count, axis=0)
        for (node, label), milli in shared.items():
            card_left[node, label] = milli
            other[node, label] = False
            tags[node, SHARE_TAG] += 1  # the live books keep no kinds of whole-card jobs
        ranks = np.cumsum(other, axis=1)
        card_left = np.where(other & (ranks <= opened[:, None]), MILLI, card_left)
    host = scratch.host(index)
    model_id = window.model_id(pool.accelerator_model)
    model, cards, zeros, unlimited = _static_columns(scratch, index, model_id)
    if host is None or not np.isfinite(host.cpus).all():
        cpu_left = cpu_capacity = unlimited  # undeclared: not a limit
    else:
        cpu_left = np.floor(host.cpus * MILLI).astype(np.int64)
        cpu_capacity = np.full(count, int(pool.cpus_per_node or 0) * MILLI, np.int64)
    return PackingNodes(
        models=window.models,
        model=model,
        cards=cards,
        cpu_capacity=cpu_capacity,
        cpu_left=cpu_left,
        memory_left=zeros,  # host memory: checked by `allowed`
        card_left=card_left,
        tags=tags,
    )


def _static_columns(scratch: Scratch, index: int, model_id: int) -> IntArray:
    """Model, cards, zeros and unlimited CPU per node: the pool's columns that do not change
    (cached on the state's matrix, read-only)."""
    matrix = scratch.state.matrix
    key = ("packing-columns", index, model_id)
    columns = matrix.cached_factors(key)
    if columns is None:
        pool = scratch.state.pools[index].pool
        columns = np.array(
            [(model_id, pool.cards_per_node, 0, MAX_SPEC_CPU_MILLI)] * pool.nodes, np.int64
        ).T.copy()
        matrix.remember_factors(key, columns)
    return columns


def pod_request(scratch: Scratch, index: int, spec: JobSpec) -> PodRequest:
    """The job's ask on one node; its CPU counts only where the pool declares CPU."""
    host = scratch.host(index)
    counted = host is not None and bool(np.isfinite(host.cpus).all())
    cpu_milli = spec.cpus * MILLI if counted else 0
    if spec.fractional:
        return PodRequest(cpu_milli, 0, 1, int(spec.card_milli or MILLI))
    return PodRequest(cpu_milli, 0, spec.cards_per_node, MILLI)


def _choose(
    scratch: Scratch, index: int, spec: JobSpec, packing: Packing, room: IntArray | None
) -> Choice | None:
    nodes = pool_table(scratch, index, packing.window, room)
    pod = pod_request(scratch, index, spec)
    typical = packing.window.typical()
    policy = packing.policy
    if typical is None and policy in NEEDS_DISTRIBUTION:
        policy = FALLBACK_POLICY
    context = PackingContext(typical=typical, rng=packing.window.rng)
    return choose(policy, nodes, pod, context, allowed=scratch.host_ok(index, spec))


def share_on_pool(
    scratch: Scratch, index: int, spec: JobSpec, packing: Packing, room: IntArray | None = None
) -> CardShare | None:
    """The packing policy's node and card for a share on the pool, or None if none fits."""
    choice = _choose(scratch, index, spec, packing, room)
    if choice is None:
        return None
    return CardShare(choice.node, choice.slots[0], int(spec.card_milli or MILLI))


def cards_on_pool(
    scratch: Scratch, index: int, spec: JobSpec, packing: Packing, room: IntArray | None = None
) -> NodeCards:
    """The packing policy's node for a one-node whole-card job on the pool; () if none. When
    exactly one node can take it, that node is every policy's choice (the random one aside,
    whose draw is its own), and the table is not built."""
    if packing.policy != RANDOM:
        usable = scratch.usable(index, spec)
        fits = np.flatnonzero((usable if room is None else np.minimum(usable, room)) >= spec.cards)
        if fits.size <= 1:
            return ((int(fits[0]), spec.cards),) if fits.size else ()
    choice = _choose(scratch, index, spec, packing, room)
    if choice is None:
        return ()
    return ((choice.node, spec.cards_per_node),)
