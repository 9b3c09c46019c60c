"""Pools: a provider's accelerators of one model, nodes × cards per node, at a price."""

from __future__ import annotations

from dataclasses import dataclass, field

from suanli.domain.money import require_fen
from suanli.errors import InvalidInput
from suanli.i18n import msg

NODES_MAX = 100_000
CPUS_PER_NODE_MAX = 4096
HOST_MEMORY_GIB_PER_NODE_MAX = 65_536
CARDS_PER_NODE_MAX = 64
PRICE_FEN_PER_CARD_HOUR_MAX = 10_000_000  # ¥100,000 per card-hour: far above any real price
BACKEND_KINDS = ("local", "ray", "slurm", "fake")


@dataclass(frozen=True)
class Region:
    province: str
    city: str = ""
    district: str = ""

    def matches(self, wanted: Region) -> bool:
        """True when this region lies inside `wanted` (empty parts of `wanted` match anything)."""
        pairs = (
            (wanted.province, self.province),
            (wanted.city, self.city),
            (wanted.district, self.district),
        )
        return all(not want or want == have for want, have in pairs)

    def label(self) -> str:
        return "/".join(part for part in (self.province, self.city, self.district) if part)

    @classmethod
    def parse(cls, text: str) -> Region:
        """Parses 'province/city/district' (later parts optional)."""
        parts = [part.strip() for part in text.split("/")] if text else []
        if not parts or not parts[0] or len(parts) > 3:
            raise InvalidInput(
                msg(
                    "地区格式须为 省[/市[/区]]，如 浙江/杭州/余杭",
                    "region must look like 'province[/city[/district]]'",
                ),
                field="region",
            )
        return cls(*parts)


@dataclass(frozen=True)
class Pool:
    """A pool as the scheduler sees it. Validated when built."""

    id: str
    provider_id: str
    name: str
    accelerator_model: str
    nodes: int
    cards_per_node: int
    region: Region
    price_fen_per_card_hour: int
    software: dict[str, str] = field(default_factory=dict)  # stack name -> version, e.g. CUDA 12.4
    labels: dict[str, str] = field(default_factory=dict)
    backend: str = "local"
    vendor: str = ""
    memory_gib: float | None = None
    precisions: frozenset[str] = frozenset()
    shareable: bool = True  # False: whole-card jobs only (e.g. training nodes)
    cpus_per_node: int | None = None  # host CPU cores per node; None = not declared
    host_memory_gib_per_node: float | None = None  # host memory per node; None = not declared

    def __post_init__(self) -> None:
        if self.cpus_per_node is not None:
            require_int(self.cpus_per_node, 1, CPUS_PER_NODE_MAX, "cpus_per_node")
        memory = self.host_memory_gib_per_node
        if memory is not None and (
            isinstance(memory, bool)
            or not isinstance(memory, int | float)
            or not 0 < memory <= HOST_MEMORY_GIB_PER_NODE_MAX
        ):
            raise InvalidInput(
                msg(
                    f"`host_memory_gib_per_node` 须大于 0、不超过 {HOST_MEMORY_GIB_PER_NODE_MAX}",
                    f"host_memory_gib_per_node must be in (0, {HOST_MEMORY_GIB_PER_NODE_MAX}]",
                ),
                field="host_memory_gib_per_node",
            )
        require_int(self.nodes, 1, NODES_MAX, "nodes")
        require_int(self.cards_per_node, 1, CARDS_PER_NODE_MAX, "cards_per_node")
        require_fen(self.price_fen_per_card_hour, field="price_fen_per_card_hour", allow_zero=True)
        require_int(
            self.price_fen_per_card_hour, 0, PRICE_FEN_PER_CARD_HOUR_MAX, "price_fen_per_card_hour"
        )
        if self.backend not in BACKEND_KINDS:
            raise InvalidInput(
                msg(
                    f"`backend` 须为以下之一：{'、'.join(BACKEND_KINDS)}",
                    f"backend must be one of {BACKEND_KINDS}",
                ),
                field="backend",
            )

    @property
    def cards(self) -> int:
        return self.nodes * self.cards_per_node


def require_int(value: object, low: int, high: int, field_name: str) -> None:
    """Refuses anything but an int in [low, high] (a bool is not one), naming the field."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            msg(
                f"`{field_name}` 须为 {low} 至 {high} 之间的整数",
                f"{field_name} must be an integer in [{low}, {high}]",
            ),
            field=field_name,
        )
