"""Illustrative card-hour prices for simulated fleets (the traces carry no prices).

price = ¥1 + ¥0.008 per GB/s of memory bandwidth, per card-hour. Bandwidth follows a card's
class and generation (T4 < A10 < V100 < A100 < H100) more closely than any one TFLOPS figure,
so the list is in the market's order of magnitude. It is not a quote from any provider.
"""

from __future__ import annotations

from suanli.domain.accelerators import Accelerator

BASE_FEN_PER_CARD_HOUR = 100
FEN_PER_GBS = 0.8
UNKNOWN_BANDWIDTH_FEN_PER_CARD_HOUR = 800  # about a V100's price: no discount for no data


def illustrative_price_fen(accelerator: Accelerator) -> int:
    bandwidth_gbs = accelerator.memory_bandwidth_gbs
    if bandwidth_gbs is None:
        return UNKNOWN_BANDWIDTH_FEN_PER_CARD_HOUR
    return round(BASE_FEN_PER_CARD_HOUR + FEN_PER_GBS * bandwidth_gbs)
