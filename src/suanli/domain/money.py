"""Money is integer fen (分). Decimal appears only while rating, with explicit rounding."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from suanli.errors import InvalidInput
from suanli.i18n import msg

SECONDS_PER_HOUR = 3600
MILLI_PER_CARD = 1000  # shares of a card are metered in milli-card-seconds
FEN_MAX = 10**15  # 10 trillion yuan: beyond any city budget; bigger means a bug or an attack


def require_fen(amount_fen: object, *, field: str = "amount_fen", allow_zero: bool = False) -> int:
    """Returns `amount_fen` if it is a valid integer amount, else raises InvalidInput."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise InvalidInput(
            msg(f"`{field}` 须为整数（单位：分）", f"{field} must be an integer number of fen"),
            field=field,
        )
    if amount_fen < 0 or (amount_fen == 0 and not allow_zero):
        raise InvalidInput(
            msg(
                f"`{field}` 须{'不小于 0' if allow_zero else '大于 0'} 分",
                f"{field} must be {'>= 0' if allow_zero else '> 0'} fen",
            ),
            field=field,
        )
    if amount_fen > FEN_MAX:
        raise InvalidInput(
            msg(
                f"`{field}` 超过上限 {FEN_MAX} 分", f"{field} exceeds the maximum of {FEN_MAX} fen"
            ),
            field=field,
        )
    return amount_fen


def price_card_seconds(card_seconds: int, price_fen_per_card_hour: int) -> int:
    """Prices card-seconds at a per-card-hour price, rounded half-up to the fen once."""
    exact = Decimal(card_seconds) * Decimal(price_fen_per_card_hour) / Decimal(SECONDS_PER_HOUR)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def price_milli_card_seconds(milli_card_seconds: int, price_fen_per_card_hour: int) -> int:
    """Prices milli-card-seconds (a share of a card × seconds) at a per-card-hour price:
    price × milli-card-seconds / (3600 × 1000), rounded half-up to the fen once. For whole
    cards (1000 milli each) it equals `price_card_seconds` exactly."""
    exact = (
        Decimal(milli_card_seconds)
        * Decimal(price_fen_per_card_hour)
        / Decimal(SECONDS_PER_HOUR * MILLI_PER_CARD)
    )
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def apply_basis_points(amount_fen: int, basis_points: int) -> int:
    """amount × bp / 10000, rounded half-up to the fen (used for the platform fee)."""
    exact = Decimal(amount_fen) * Decimal(basis_points) / Decimal(10_000)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_yuan(amount_fen: int) -> str:
    """¥1,234.56 for display; never parsed back."""
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), 100)
    return f"{sign}¥{yuan:,}.{fen:02d}"
