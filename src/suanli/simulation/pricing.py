"""Illustrative card-hour prices for simulated fleets (the traces carry no prices).

price = ¥1 + ¥0.008 per GB/s of memory bandwidth, per card-hour. Bandwidth follows a card's
class and generation (T4 < A10 < V100 < A100 < H100) more closely than any one TFLOPS figure,
so the list is in the market's order of magnitude. It is not a quote from any provider.
"""

from __future__ import annotations

from suanli.domain.accelerators import Accelerator
from suanli.domain.pools import Pool, Region
from suanli.domain.scheduling.model import PoolView

BASE_FEN_PER_CARD_HOUR = 100
FEN_PER_GBS = 0.8
UNKNOWN_BANDWIDTH_FEN_PER_CARD_HOUR = 800  # about a V100's price: no discount for no data


def illustrative_price_fen(accelerator: Accelerator) -> int:
    bandwidth_gbs = accelerator.memory_bandwidth_gbs
    if bandwidth_gbs is None:
        return UNKNOWN_BANDWIDTH_FEN_PER_CARD_HOUR
    return round(BASE_FEN_PER_CARD_HOUR + FEN_PER_GBS * bandwidth_gbs)


def priced_pool(
    accelerator: Accelerator,
    *,
    pool_id: str,
    provider_id: str,
    name: str,
    nodes: int,
    cards_per_node: int,
    region: Region,
    price_factor: float = 1.0,
) -> PoolView:
    """A simulated pool of `accelerator`: model, vendor and memory from its catalog entry, the
    illustrative price times `price_factor` (a fleet whose prices vary), at least 1 fen."""
    pool = Pool(
        id=pool_id,
        provider_id=provider_id,
        name=name,
        accelerator_model=accelerator.model,
        nodes=nodes,
        cards_per_node=cards_per_node,
        region=region,
        price_fen_per_card_hour=max(1, round(illustrative_price_fen(accelerator) * price_factor)),
        vendor=accelerator.vendor,
        memory_gib=accelerator.memory_gib,
    )
    return PoolView(pool=pool, accelerator=accelerator)
