"""Feasibility: does a pool satisfy every requirement of a job spec (invariant 8)?

`REQUIREMENTS` and `is_feasible` are the scalar reference, one pool at a time, and they word
the reasons `explain_unplaceable` gives. `static_mask` and `capacity_mask` answer the same
question for all pools at once from the pool matrix; a property test holds them equal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from suanli.domain.accelerators import matches
from suanli.domain.jobs import JobSpec
from suanli.domain.scheduling.matrix import BoolArray, IntArray, PoolMatrix
from suanli.domain.scheduling.model import ClusterState, PoolView


@dataclass(frozen=True)
class Requirement:
    name: str
    describe: Callable[[JobSpec], str]
    satisfied: Callable[[JobSpec, PoolView], bool]


def _model_ok(spec: JobSpec, view: PoolView) -> bool:
    return not spec.accelerators or any(matches(view.accelerator, n) for n in spec.accelerators)


def _vendor_ok(spec: JobSpec, view: PoolView) -> bool:
    vendor = view.accelerator.vendor.casefold()
    return not spec.vendors or vendor in {v.casefold() for v in spec.vendors}


def _memory_ok(spec: JobSpec, view: PoolView) -> bool:
    memory = view.accelerator.memory_gib
    return spec.min_memory_gib <= 0 or (memory is not None and memory >= spec.min_memory_gib)


def _precision_ok(spec: JobSpec, view: PoolView) -> bool:
    return spec.precision is None or view.accelerator.supports(spec.precision)


def _software_ok(spec: JobSpec, view: PoolView) -> bool:
    if not spec.software:
        return True
    offered = {view.accelerator.software_stack, *view.pool.software}
    offered_folded = {stack.casefold() for stack in offered}
    return any(stack.casefold() in offered_folded for stack in spec.software)


def _region_ok(spec: JobSpec, view: PoolView) -> bool:
    return spec.region is None or view.pool.region.matches(spec.region)


def _shape_ok(spec: JobSpec, view: PoolView) -> bool:
    return view.pool.cards_per_node >= spec.cards_per_node and view.pool.nodes >= spec.nodes


def _sharing_ok(spec: JobSpec, view: PoolView) -> bool:
    return not spec.fractional or view.pool.shareable


def _host_ok(spec: JobSpec, view: PoolView) -> bool:
    cpus, memory = view.pool.cpus_per_node, view.pool.host_memory_gib_per_node
    cpus_ok = spec.cpus <= 0 or cpus is None or cpus >= spec.cpus
    return cpus_ok and (
        spec.host_memory_gib <= 0 or memory is None or memory >= spec.host_memory_gib
    )


def _describe_sharing(spec: JobSpec) -> str:
    return (
        f"a share of a card ({spec.card_milli}/1000 card; pools marked shareable: false "
        "take whole-card jobs only)"
    )


def _describe_host(spec: JobSpec) -> str:
    return f"{spec.cpus} CPU cores and {spec.host_memory_gib:g} GiB host memory per node"


def _describe_precision(spec: JobSpec) -> str:
    return spec.precision.upper() if spec.precision else ""


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("accelerator", lambda s: f"model in {list(s.accelerators)}", _model_ok),
    Requirement("vendor", lambda s: f"vendor in {list(s.vendors)}", _vendor_ok),
    Requirement("memory", lambda s: f">= {s.min_memory_gib:g} GiB per card", _memory_ok),
    Requirement("precision", _describe_precision, _precision_ok),
    Requirement("software", lambda s: f"software stack in {list(s.software)}", _software_ok),
    Requirement("region", lambda s: f"region {s.region.label() if s.region else ''}", _region_ok),
    Requirement(
        "shape",
        lambda s: f"{s.nodes} node(s) × {s.cards_per_node} cards per node",
        _shape_ok,
    ),
    Requirement("sharing", _describe_sharing, _sharing_ok),
    Requirement("host", _describe_host, _host_ok),
)


def unmet_requirements(spec: JobSpec, view: PoolView) -> list[str]:
    return [req.name for req in REQUIREMENTS if not req.satisfied(spec, view)]


def is_feasible(spec: JobSpec, view: PoolView) -> bool:
    """Could this pool ever run the job (ignoring current load)? The scalar reference."""
    return all(req.satisfied(spec, view) for req in REQUIREMENTS)


def feasible_pools(spec: JobSpec, views: Sequence[PoolView]) -> list[PoolView]:
    return [view for view in views if is_feasible(spec, view)]


def explain_unplaceable(spec: JobSpec, views: Sequence[PoolView]) -> list[str]:
    """One reason per requirement no pool meets; else the combination no single pool meets."""
    active = [req for req in REQUIREMENTS if not all(req.satisfied(spec, v) for v in views)]
    reasons = [
        f"no pool offers {req.describe(spec)}"
        for req in active
        if not any(req.satisfied(spec, view) for view in views)
    ]
    if reasons or not views:
        return reasons or ["no pools are listed"]
    together = " with ".join(req.describe(spec) for req in active)
    return [f"no pool offers {together}"]


def static_mask(spec: JobSpec, matrix: PoolMatrix) -> BoolArray:
    """Vectorised `is_feasible` over every pool of the matrix (cached per requirement set)."""
    return matrix.static_mask(spec)


def capacity_mask(
    spec: JobSpec,
    matrix: PoolMatrix,
    free_cards: IntArray,
    max_free: IntArray,
    share_max: IntArray | None = None,
) -> BoolArray:
    """Feasible, available, and with room now: enough free cards and a node that fits.

    For a single-node job this is exact; for a gang it is necessary, and `allocate_nodes`
    settles it on the few pools that pass. A share of a card fits on a fully free card or on
    a shared card with enough free milli (`share_max`, the pool's roomiest shared card): exact.
    """
    mask = static_mask(spec, matrix) & matrix.available
    return mask & has_room(spec, free_cards, max_free, share_max)


def has_room(
    spec: JobSpec, free_cards: IntArray, max_free: IntArray, share_max: IntArray | None
) -> BoolArray:
    """Room now, per pool of the vectors given (any subset of pools, in step)."""
    room = max_free >= spec.cards_per_node
    if spec.card_milli is not None:
        if share_max is not None:
            room = room | (share_max >= spec.card_milli)
        return room
    if spec.nodes > 1:
        room = room & (free_cards >= spec.cards)
    return room


def never_placeable(spec: JobSpec, state: ClusterState) -> bool:
    """No pool could run the job even when empty (the caller rejects it, it never blocks)."""
    return not bool(static_mask(spec, state.matrix).any())
