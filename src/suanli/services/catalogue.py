"""The public storefront (算力超市): pools as products, filtered and paged in the database, and
the city's headline numbers. Read-only, no sign-in: only the catalogue's public face leaves
here (never a backend, a connection or labels)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, not_, select
from sqlalchemy.orm import Session

from suanli.adapters.db.tables import JobRow, OrganisationRow, PoolRow
from suanli.domain.accelerators import CATALOG, get_accelerator
from suanli.domain.jobs import JobState
from suanli.errors import InvalidInput
from suanli.i18n import msg
from suanli.services.common import Page, PageResult, require_ordered_range
from suanli.services.pools import allocated_cards

COMPARE_MAX = 4
SORTS = ("price", "-price", "cards", "-cards", "newest")


@dataclass(frozen=True)
class PoolFilters:
    accelerators: tuple[str, ...] = ()
    vendors: tuple[str, ...] = ()
    domestic: bool | None = None
    region: str | None = None  # a prefix of the pool's region, e.g. 浙江/杭州
    price_min_fen: int | None = None
    price_max_fen: int | None = None
    free_cards_min: int | None = None
    ids: tuple[str, ...] = field(default=())
    sort: str = "price"

    def __post_init__(self) -> None:
        low, high = self.price_min_fen, self.price_max_fen
        require_ordered_range(low, high, "price_min_fen", "price_max_fen", half_open=False)


@dataclass(frozen=True)
class Product:
    pool: PoolRow
    provider_name: str
    free_cards: int


def list_products(session: Session, filters: PoolFilters, page: Page) -> PageResult[Product]:
    # The city-wide holdings only when filtering on them; otherwise those of the page's pools.
    held = _held_cards_now(session) if filters.free_cards_min else {}
    query = _product_query(session, filters, held)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows: list[Any] = list(session.execute(query.offset(page.offset).limit(page.limit)).all())
    if not filters.free_cards_min:
        held = allocated_cards(session, [pool.id for pool, _ in rows])
    items = [
        Product(pool, name, max(0, pool.nodes * pool.cards_per_node - held.get(pool.id, 0)))
        for pool, name in rows
    ]
    return PageResult(items=items, total=total, offset=page.offset, limit=page.limit)


def _held_cards_now(session: Session) -> dict[str, int]:
    """Cards held by placed or running jobs: few rows (bounded by the city's cards)."""
    active = (JobState.PLACED.value, JobState.RUNNING.value)
    pool_ids = session.scalars(
        select(JobRow.pool_id).where(JobRow.state.in_(active), JobRow.pool_id.is_not(None))
    ).all()
    return allocated_cards(session, sorted({pool_id for pool_id in pool_ids if pool_id}))


def _product_query(
    session: Session, filters: PoolFilters, held: dict[str, int]
) -> Select[PoolRow, str]:
    cards = PoolRow.nodes * PoolRow.cards_per_node
    query = (
        select(PoolRow, OrganisationRow.name)
        .join(OrganisationRow, OrganisationRow.id == PoolRow.provider_id)
        .where(PoolRow.deleted.is_(False), PoolRow.available.is_(True))
        .where(OrganisationRow.state == "active")
    )
    for condition in _conditions(session, filters, held):
        query = query.where(condition)
    order = {
        "price": (PoolRow.price_fen_per_card_hour, PoolRow.id),
        "-price": (PoolRow.price_fen_per_card_hour.desc(), PoolRow.id),
        "cards": (cards, PoolRow.id),
        "-cards": (cards.desc(), PoolRow.id),
        "newest": (PoolRow.created_at.desc(), PoolRow.id),
    }
    if filters.sort not in order:
        raise InvalidInput(
            msg(
                f"`sort` 须为以下之一：{'、'.join(SORTS)}",
                f"sort must be one of {', '.join(SORTS)}",
            ),
            field="sort",
        )
    return query.order_by(*order[filters.sort])


def _conditions(
    session: Session, filters: PoolFilters, held: dict[str, int]
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    models = _models_for(filters)
    if models is not None:
        conditions.append(PoolRow.accelerator_model.in_(sorted(models)))
    if filters.region:
        conditions.append(PoolRow.region.startswith(filters.region.strip(), autoescape=True))
    if filters.price_min_fen is not None:
        conditions.append(PoolRow.price_fen_per_card_hour >= filters.price_min_fen)
    if filters.price_max_fen is not None:
        conditions.append(PoolRow.price_fen_per_card_hour <= filters.price_max_fen)
    if filters.ids:
        if len(filters.ids) > COMPARE_MAX:
            raise InvalidInput(
                msg(f"最多比较 {COMPARE_MAX} 个产品", f"compare at most {COMPARE_MAX} products"),
                field="ids",
            )
        conditions.append(PoolRow.id.in_(filters.ids))
    if filters.free_cards_min:
        conditions.append(_free_at_least(session, filters.free_cards_min, held))
    return conditions


def _models_for(filters: PoolFilters) -> set[str] | None:
    """Chip, vendor and 国产 filters as the set of catalog models they allow (None: all)."""
    if not (filters.accelerators or filters.vendors or filters.domestic is not None):
        return None
    chosen = {get_accelerator(name).model for name in filters.accelerators} or {
        a.model for a in CATALOG
    }
    vendors = {v.lower() for v in filters.vendors}
    return {
        a.model
        for a in CATALOG
        if a.model in chosen
        and (not vendors or a.vendor.lower() in vendors)
        and (filters.domestic is None or a.domestic == filters.domestic)
    }


def _free_at_least(session: Session, cards_min: int, held: dict[str, int]) -> ColumnElement[bool]:
    """Free cards = all cards - held. The few pools holding cards that fall short because of
    what they hold are excluded by id; the rest compare their size in SQL (one condition per
    row, not one per busy pool)."""
    cards = PoolRow.nodes * PoolRow.cards_per_node
    totals = session.execute(select(PoolRow.id, cards).where(PoolRow.id.in_(sorted(held))))
    short = sorted(pool_id for pool_id, total in totals if total - held[pool_id] < cards_min)
    if not short:
        return cards >= cards_min
    return and_(cards >= cards_min, not_(PoolRow.id.in_(short)))


@dataclass(frozen=True)
class Overview:
    providers: int
    pools: int
    cards: int
    free_cards: int
    domestic_cards: int
    cards_by_vendor: dict[str, int]
    cards_by_model: dict[str, int]
    jobs_by_state: dict[str, int]


def city_overview(session: Session) -> Overview:
    rows = session.execute(
        select(PoolRow.accelerator_model, func.sum(PoolRow.nodes * PoolRow.cards_per_node))
        .join(OrganisationRow, OrganisationRow.id == PoolRow.provider_id)
        .where(PoolRow.deleted.is_(False), PoolRow.available.is_(True))
        .where(OrganisationRow.state == "active")
        .group_by(PoolRow.accelerator_model)
    ).all()
    by_vendor: Counter[str] = Counter()
    by_model: Counter[str] = Counter()
    domestic = 0
    for model, cards in rows:
        accelerator = get_accelerator(model)
        by_model[accelerator.model] += int(cards or 0)
        by_vendor[accelerator.vendor] += int(cards or 0)
        domestic += int(cards or 0) if accelerator.domestic else 0
    total = sum(by_vendor.values())
    held = sum(_held_cards_now(session).values())
    live = select(PoolRow.id).where(PoolRow.deleted.is_(False))
    jobs = session.execute(select(JobRow.state, func.count()).group_by(JobRow.state)).all()
    return Overview(
        providers=_count(
            session, live.with_only_columns(func.count(func.distinct(PoolRow.provider_id)))
        ),
        pools=_count(session, live.with_only_columns(func.count())),
        cards=total,
        free_cards=max(0, total - held),
        domestic_cards=domestic,
        cards_by_vendor=dict(by_vendor.most_common()),
        cards_by_model=dict(by_model.most_common()),
        jobs_by_state={state: int(count) for state, count in jobs},
    )


def _count(session: Session, query: Select[Any]) -> int:
    return int(session.scalar(query) or 0)


def domestic_vendors(vendors: dict[str, int]) -> set[str]:
    return {a.vendor for a in CATALOG if a.domestic and a.vendor in vendors}
