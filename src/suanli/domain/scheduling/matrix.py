"""The pool matrix: every pool's static facts as NumPy columns, so feasibility is vectorised.

One row per pool: model id, vendor id, memory per card, precision bitmask, software bitmap,
region codes, cards per node, nodes, availability, price. Masks are cached per distinct set
of requirements, so a queue of similar jobs costs one vector pass, not one per job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from suanli.domain.accelerators import Accelerator, Precision, normalize_model_name
from suanli.domain.jobs import JobSpec
from suanli.domain.pools import Region

if TYPE_CHECKING:
    from suanli.domain.scheduling.model import PoolView

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

PRECISION_BITS = {precision: 1 << position for position, precision in enumerate(Precision)}
MASK_CACHE_MAX = 4096  # distinct requirement sets kept; cleared when full (a bound, not a tuning)
KEY_CACHE_MAX = 262_144  # specs whose requirement key is remembered by identity
VECTOR_CACHE_BYTES_MAX = 64 * 1024 * 1024  # derived per-pool vectors kept per matrix
MATRIX_CACHE_MAX = 8  # pool tuples whose matrix is kept (live loop + simulator + tests)

RequirementKey = tuple[object, ...]


def requirement_key(spec: JobSpec) -> RequirementKey:
    """Everything static feasibility depends on; equal keys have equal masks."""
    region = spec.region
    return (
        frozenset(normalize_model_name(name) for name in spec.accelerators),
        frozenset(vendor.casefold() for vendor in spec.vendors),
        float(spec.min_memory_gib),
        spec.precision,
        frozenset(stack.casefold() for stack in spec.software),
        (region.province, region.city, region.district) if region else None,
        spec.cards_per_node,
        spec.nodes,
        spec.fractional,
        spec.cpus,
        float(spec.host_memory_gib),
        spec.max_price_fen_per_card_hour,
    )


@dataclass
class PoolMatrix:
    """Static columns over pools (indexed like the state's `pools` tuple)."""

    pool_ids: tuple[str, ...]
    index: dict[str, int]
    model_id: IntArray
    model_names: dict[str, frozenset[int]]  # normalized name or alias -> model ids
    models: tuple[Accelerator, ...]  # one per model id
    vendor_id: IntArray
    vendors: dict[str, int]
    memory_gib: FloatArray  # NaN where unknown
    precision_bits: IntArray
    software: BoolArray  # pools x stacks
    stacks: dict[str, int]
    region_codes: IntArray  # pools x 3 (province, city, district); -1 = empty
    regions: tuple[dict[str, int], dict[str, int], dict[str, int]]
    cards_per_node: IntArray
    nodes: IntArray
    available: BoolArray
    price_fen_per_card_hour: FloatArray
    shareable: BoolArray
    cpus_per_node: FloatArray  # inf where the pool does not declare it
    host_memory_gib_per_node: FloatArray  # inf where the pool does not declare it
    _masks: dict[RequirementKey, BoolArray] = field(default_factory=dict)
    _keys: dict[int, tuple[JobSpec, RequirementKey]] = field(default_factory=dict)
    _factors: dict[tuple[object, ...], npt.NDArray[Any]] = field(default_factory=dict)
    _factor_bytes: int = 0

    @property
    def size(self) -> int:
        return len(self.pool_ids)

    def key_of(self, spec: JobSpec) -> RequirementKey:
        """The spec's requirement key, remembered by identity (specs are immutable)."""
        cached = self._keys.get(id(spec))
        if cached is not None and cached[0] is spec:
            return cached[1]
        if len(self._keys) >= KEY_CACHE_MAX:
            self._keys.clear()
        key = requirement_key(spec)
        self._keys[id(spec)] = (spec, key)  # holding the spec keeps its id from being reused
        return key

    def static_mask(self, spec: JobSpec) -> BoolArray:
        """Pools that satisfy every requirement of `spec`, ignoring load (read-only array)."""
        key = self.key_of(spec)
        mask = self._masks.get(key)
        if mask is None:
            if len(self._masks) >= MASK_CACHE_MAX:
                self._masks.clear()
            mask = self._compute_mask(spec)
            mask.setflags(write=False)
            self._masks[key] = mask
        return mask

    def _compute_mask(self, spec: JobSpec) -> BoolArray:
        mask = (self.cards_per_node >= spec.cards_per_node) & (self.nodes >= spec.nodes)
        if spec.accelerators:
            wanted = set().union(
                *(self.model_names.get(normalize_model_name(n), ()) for n in spec.accelerators)
            )
            mask &= np.isin(self.model_id, np.fromiter(wanted, dtype=np.int64))
        if spec.vendors:
            ids = [self.vendors[v.casefold()] for v in spec.vendors if v.casefold() in self.vendors]
            mask &= np.isin(self.vendor_id, np.array(ids, dtype=np.int64))
        if spec.min_memory_gib > 0:
            with np.errstate(invalid="ignore"):
                mask &= self.memory_gib >= spec.min_memory_gib
        if spec.precision is not None:
            mask &= (self.precision_bits & PRECISION_BITS[Precision(spec.precision)]) != 0
        if spec.software:
            folded = (stack.casefold() for stack in spec.software)
            columns = [self.stacks[stack] for stack in folded if stack in self.stacks]
            mask &= self.software[:, columns].any(axis=1)
        if spec.region is not None:
            mask &= self._region_mask(spec.region)
        if spec.fractional:
            mask &= self.shareable
        if spec.cpus > 0:
            mask &= self.cpus_per_node >= spec.cpus
        if spec.host_memory_gib > 0:
            mask &= self.host_memory_gib_per_node >= spec.host_memory_gib
        if spec.max_price_fen_per_card_hour is not None:
            mask &= self.price_fen_per_card_hour <= spec.max_price_fen_per_card_hour
        return mask

    def _region_mask(self, wanted: Region) -> BoolArray:
        mask = np.ones(self.size, dtype=np.bool_)
        parts = (wanted.province, wanted.city, wanted.district)
        for level, part in enumerate(parts):
            if part:
                code = self.regions[level].get(part, -2)  # -2 matches no pool
                mask &= self.region_codes[:, level] == code
        return mask

    def cached_factors(self, key: tuple[object, ...]) -> npt.NDArray[Any] | None:
        """A per-pool vector derived from static columns (speed factors, rankings)."""
        return self._factors.get(key)

    def remember_factors(self, key: tuple[object, ...], factors: npt.NDArray[Any]) -> None:
        if len(self._factors) >= MASK_CACHE_MAX or self._factor_bytes > VECTOR_CACHE_BYTES_MAX:
            self._factors.clear()
            self._factor_bytes = 0
        self._factor_bytes += factors.nbytes
        factors.setflags(write=False)
        self._factors[key] = factors


_CACHE: list[tuple[tuple[PoolView, ...], PoolMatrix]] = []


def pool_matrix(pools: tuple[PoolView, ...]) -> PoolMatrix:
    """The matrix of this exact pools tuple, built once (cached by identity)."""
    for cached_pools, matrix in _CACHE:
        if cached_pools is pools:
            return matrix
    matrix = build_matrix(pools)
    _CACHE.append((pools, matrix))  # the strong reference keeps the tuple's id unique
    if len(_CACHE) > MATRIX_CACHE_MAX:
        _CACHE.pop(0)
    return matrix


def build_matrix(pools: Sequence[PoolView]) -> PoolMatrix:
    model_keys: dict[int, int] = {}  # id(accelerator) -> model id; `models` keeps them alive
    model_names: dict[str, set[int]] = {}
    models: list[Accelerator] = []
    model_id = np.empty(len(pools), dtype=np.int64)
    for row, view in enumerate(pools):
        accelerator = view.accelerator
        if id(accelerator) not in model_keys:
            model_keys[id(accelerator)] = len(models)
            models.append(accelerator)
            for name in (accelerator.model, *accelerator.aliases):
                model_names.setdefault(normalize_model_name(name), set()).add(len(models) - 1)
        model_id[row] = model_keys[id(accelerator)]
    vendors = _vocabulary(view.accelerator.vendor.casefold() for view in pools)
    stacks = _vocabulary(stack for view in pools for stack in _stacks(view))
    software = np.zeros((len(pools), len(stacks)), dtype=np.bool_)
    for row, view in enumerate(pools):
        software[row, [stacks[s] for s in _stacks(view)]] = True
    regions, region_codes = _region_columns(pools)
    return PoolMatrix(
        pool_ids=tuple(view.pool.id for view in pools),
        index={view.pool.id: row for row, view in enumerate(pools)},
        model_id=model_id,
        model_names={name: frozenset(ids) for name, ids in model_names.items()},
        models=tuple(models),
        vendor_id=np.array([vendors[v.accelerator.vendor.casefold()] for v in pools], np.int64),
        vendors=vendors,
        memory_gib=np.array([_memory(view) for view in pools], dtype=np.float64),
        precision_bits=np.array([_precision_bits(view) for view in pools], dtype=np.int64),
        software=software,
        stacks=stacks,
        region_codes=region_codes,
        regions=regions,
        cards_per_node=np.array([v.pool.cards_per_node for v in pools], dtype=np.int64),
        nodes=np.array([v.pool.nodes for v in pools], dtype=np.int64),
        available=np.array([v.available for v in pools], dtype=np.bool_),
        price_fen_per_card_hour=np.array(
            [v.pool.price_fen_per_card_hour for v in pools], dtype=np.float64
        ),
        shareable=np.array([v.pool.shareable for v in pools], dtype=np.bool_),
        cpus_per_node=_declared([v.pool.cpus_per_node for v in pools]),
        host_memory_gib_per_node=_declared([v.pool.host_memory_gib_per_node for v in pools]),
    )


def _declared(values: Sequence[float | None]) -> FloatArray:
    """A per-node host figure; a pool that does not declare it limits nothing (inf)."""
    return np.array([np.inf if v is None else float(v) for v in values], dtype=np.float64)


def _vocabulary(values: Iterable[str]) -> dict[str, int]:
    vocabulary: dict[str, int] = {}
    for value in values:
        vocabulary.setdefault(value, len(vocabulary))
    return vocabulary


def _stacks(view: PoolView) -> list[str]:
    offered = [view.accelerator.software_stack, *view.pool.software]
    return list(dict.fromkeys(stack.casefold() for stack in offered))


def _memory(view: PoolView) -> float:
    memory = view.accelerator.memory_gib
    return float("nan") if memory is None else float(memory)


def _precision_bits(view: PoolView) -> int:
    return sum(bit for p, bit in PRECISION_BITS.items() if view.accelerator.supports(p))


def _region_columns(
    pools: Sequence[PoolView],
) -> tuple[tuple[dict[str, int], dict[str, int], dict[str, int]], IntArray]:
    levels: tuple[dict[str, int], dict[str, int], dict[str, int]] = ({}, {}, {})
    codes = np.full((len(pools), 3), -1, dtype=np.int64)
    for row, view in enumerate(pools):
        region = view.pool.region
        for level, part in enumerate((region.province, region.city, region.district)):
            if part:
                codes[row, level] = levels[level].setdefault(part, len(levels[level]))
    return levels, codes
