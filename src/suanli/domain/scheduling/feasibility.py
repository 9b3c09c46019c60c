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
from suanli.i18n import Msg, msg


@dataclass(frozen=True)
class Requirement:
    name: str
    describe: Callable[[JobSpec], Msg]
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


def _describe_model(spec: JobSpec) -> Msg:
    names = "、".join(spec.accelerators)
    return msg(f"型号为 {names} 的卡", f"a model among {', '.join(spec.accelerators)}")


def _describe_vendor(spec: JobSpec) -> Msg:
    names = "、".join(spec.vendors)
    return msg(f"厂商为 {names} 的卡", f"a vendor among {', '.join(spec.vendors)}")


def _describe_memory(spec: JobSpec) -> Msg:
    gib = f"{spec.min_memory_gib:g}"
    return msg(f"每卡显存不少于 {gib} GiB", f">= {gib} GiB per card")


def _describe_precision(spec: JobSpec) -> Msg:
    name = spec.precision.upper() if spec.precision else ""
    return msg(f"支持 {name} 精度", f"{name} precision")


def _describe_software(spec: JobSpec) -> Msg:
    names = "、".join(spec.software)
    return msg(f"软件栈 {names}", f"a software stack among {', '.join(spec.software)}")


def _describe_region(spec: JobSpec) -> Msg:
    label = spec.region.label() if spec.region else ""
    return msg(f"地区 {label}", f"region {label}")


def _describe_shape(spec: JobSpec) -> Msg:
    nodes, cards = spec.nodes, spec.cards_per_node
    return msg(f"{nodes} 个节点、每节点 {cards} 张卡", f"{nodes} node(s) × {cards} cards per node")


def _price_ok(spec: JobSpec, view: PoolView) -> bool:
    cap = spec.max_price_fen_per_card_hour
    return cap is None or view.pool.price_fen_per_card_hour <= cap


def _describe_price(spec: JobSpec) -> Msg:
    cap = spec.max_price_fen_per_card_hour
    return msg(f"每卡时不高于 {cap} 分的价格", f"a price of at most {cap} fen per card-hour")


def _sharing_ok(spec: JobSpec, view: PoolView) -> bool:
    return not spec.fractional or view.pool.shareable


def _host_ok(spec: JobSpec, view: PoolView) -> bool:
    cpus, memory = view.pool.cpus_per_node, view.pool.host_memory_gib_per_node
    cpus_ok = spec.cpus <= 0 or cpus is None or cpus >= spec.cpus
    return cpus_ok and (
        spec.host_memory_gib <= 0 or memory is None or memory >= spec.host_memory_gib
    )


def _describe_sharing(spec: JobSpec) -> Msg:
    share = f"{spec.card_milli}/1000"
    return msg(
        f"按份额使用一张卡（{share} 张卡；标为 `shareable: false` 的资源池只接整卡作业）",
        f"a share of a card ({share} card; pools marked shareable: false "
        "take whole-card jobs only)",
    )


def _describe_host(spec: JobSpec) -> Msg:
    cpus, memory = spec.cpus, f"{spec.host_memory_gib:g}"
    return msg(
        f"每节点 {cpus} 个 CPU 核、{memory} GiB 主机内存",
        f"{cpus} CPU cores and {memory} GiB host memory per node",
    )


REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("accelerator", _describe_model, _model_ok),
    Requirement("vendor", _describe_vendor, _vendor_ok),
    Requirement("memory", _describe_memory, _memory_ok),
    Requirement("precision", _describe_precision, _precision_ok),
    Requirement("software", _describe_software, _software_ok),
    Requirement("region", _describe_region, _region_ok),
    Requirement("shape", _describe_shape, _shape_ok),
    Requirement("sharing", _describe_sharing, _sharing_ok),
    Requirement("host", _describe_host, _host_ok),
    Requirement("price", _describe_price, _price_ok),
)


def unmet_requirements(spec: JobSpec, view: PoolView) -> list[str]:
    return [req.name for req in REQUIREMENTS if not req.satisfied(spec, view)]


def is_feasible(spec: JobSpec, view: PoolView) -> bool:
    """Could this pool ever run the job (ignoring current load)? The scalar reference."""
    return all(req.satisfied(spec, view) for req in REQUIREMENTS)


def feasible_pools(spec: JobSpec, views: Sequence[PoolView]) -> list[PoolView]:
    return [view for view in views if is_feasible(spec, view)]


def explain_unplaceable(spec: JobSpec, views: Sequence[PoolView]) -> list[Msg]:
    """One reason per requirement no pool meets; else the combination no single pool meets."""
    active = [req for req in REQUIREMENTS if not all(req.satisfied(spec, v) for v in views)]
    reasons = [
        _no_pool_offers([req.describe(spec)])
        for req in active
        if not any(req.satisfied(spec, view) for view in views)
    ]
    if reasons or not views:
        return reasons or [msg("还没有登记任何资源池", "no pools are listed")]
    return [_no_pool_offers([req.describe(spec) for req in active])]


def _no_pool_offers(wanted: list[Msg]) -> Msg:
    zh = "，且".join(item.zh for item in wanted)
    en = " with ".join(item.en for item in wanted)
    return msg(f"没有资源池能提供{zh}", f"no pool offers {en}")


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
