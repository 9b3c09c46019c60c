"""Read-only pages any visitor may see without signing in, as city platforms publish them:
the city overview, the 算力超市 catalogue, voucher programs and published scenes. Each shows
only the public face: no backend, connection, labels or contact."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from suanli.adapters.matching.industry import industry_label
from suanli.api.deps import AppState, DbSession, PageParams
from suanli.api.routes_scenes import IndustryFilter
from suanli.api.routes_vouchers import rules_public
from suanli.api.schemas import PageOf
from suanli.domain.accelerators import get_accelerator
from suanli.services import catalogue, scenes, vouchers
from suanli.services.common import Page

router = APIRouter(prefix="/v1/public", tags=["public"])

ShortList = Annotated[list[str], Query(max_length=50)]


class ProductPublic(BaseModel):
    """A pool as a product of the storefront."""

    id: str
    name: str
    provider_id: str
    provider_name: str
    accelerator_model: str
    vendor: str
    domestic: bool = Field(description="国产: a domestic accelerator")
    memory_gib: float | None
    nodes: int
    cards_per_node: int
    cards: int
    free_cards: int = Field(description="cards not held by a placed or running job now")
    region: str
    price_fen_per_card_hour: int
    software: dict[str, Any]


class OverviewPublic(BaseModel):
    providers: int
    pools: int
    cards: int
    free_cards: int
    domestic_cards: int
    domestic_share: float = Field(description="domestic cards / all cards, 0 when none")
    cards_by_vendor: dict[str, int]
    cards_by_model: dict[str, int] = Field(description="the chips on sale, for the filters")
    vendors_domestic: list[str] = Field(description="which of those vendors are 国产")
    jobs_by_state: dict[str, int]
    open_programs: int
    open_opportunities: int
    open_capabilities: int


class ProgramPolicyPublic(BaseModel):
    id: str
    agency_id: str
    name: str
    category: str
    budget_fen: int
    valid_from: datetime
    valid_until: datetime
    rules: dict[str, Any]


class SceneItemPublic(BaseModel):
    id: str
    kind: str
    org: str
    title: str
    description: str
    industry: str
    tags: list[str]
    region: str
    status: str
    extra: dict[str, Any]
    created_at: datetime


@router.get("/overview")
def overview(session: DbSession, app: AppState) -> OverviewPublic:
    city = catalogue.city_overview(session)
    open_items = {
        kind: scenes.list_items(
            session, kind, Page(limit=1), scenes.ItemFilters(status="open")
        ).total
        for kind in ("opportunities", "capabilities")
    }
    programs = vouchers.list_programs(session, Page(limit=1), open_at=app.clock.now())
    return OverviewPublic(
        **city.__dict__,
        vendors_domestic=sorted(catalogue.domestic_vendors(city.cards_by_vendor)),
        domestic_share=round(city.domestic_cards / city.cards, 4) if city.cards else 0.0,
        open_programs=programs.total,
        open_opportunities=open_items["opportunities"],
        open_capabilities=open_items["capabilities"],
    )


@router.get("/pools")
def products(
    session: DbSession,
    page: PageParams,
    accelerator: ShortList = [],  # noqa: B006 (FastAPI copies defaults)
    vendor: ShortList = [],  # noqa: B006
    domestic: bool | None = None,
    region: Annotated[str | None, Query(max_length=200)] = None,
    price_min_fen: Annotated[int | None, Query(ge=0, le=10**9)] = None,
    price_max_fen: Annotated[int | None, Query(ge=0, le=10**9)] = None,
    free_cards_min: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    ids: ShortList = [],  # noqa: B006
    sort: Annotated[str, Query(pattern="^(price|-price|cards|-cards|newest)$")] = "price",
) -> PageOf[ProductPublic]:
    """The catalogue, paged on the server: chip (`accelerator`), `vendor`, 国产 (`domestic`),
    region prefix, price per 卡时 in fen, free cards now; `ids` (2 to 4) to compare."""
    filters = catalogue.PoolFilters(
        accelerators=tuple(accelerator),
        vendors=tuple(vendor),
        domestic=domestic,
        region=region,
        price_min_fen=price_min_fen,
        price_max_fen=price_max_fen,
        free_cards_min=free_cards_min,
        ids=tuple(ids),
        sort=sort,
    )
    result = catalogue.list_products(session, filters, page)
    items = [product_public(item) for item in result.items]
    return PageOf[ProductPublic](
        items=items, total=result.total, offset=result.offset, limit=result.limit
    )


def product_public(product: catalogue.Product) -> ProductPublic:
    pool = product.pool
    accelerator = get_accelerator(pool.accelerator_model)
    return ProductPublic(
        id=pool.id,
        name=pool.name,
        provider_id=pool.provider_id,
        provider_name=product.provider_name,
        accelerator_model=pool.accelerator_model,
        vendor=accelerator.vendor,
        domestic=accelerator.domestic,
        memory_gib=accelerator.memory_gib,
        nodes=pool.nodes,
        cards_per_node=pool.cards_per_node,
        cards=pool.nodes * pool.cards_per_node,
        free_cards=product.free_cards,
        region=pool.region,
        price_fen_per_card_hour=pool.price_fen_per_card_hour,
        software=dict(pool.software or {}),
    )


@router.get("/programs")
def programs(
    session: DbSession, app: AppState, page: PageParams, open_only: bool = True
) -> PageOf[ProgramPolicyPublic]:
    """Voucher programs and their rules (public policy); open ones by default."""
    open_at = app.clock.now() if open_only else None
    result = vouchers.list_programs(session, page, open_at=open_at)
    items = [
        ProgramPolicyPublic(
            id=row.id,
            agency_id=row.agency_id,
            name=row.name,
            category=row.category,
            budget_fen=row.budget_fen,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            rules=rules_public(row.rules),
        )
        for row in result.items
    ]
    return PageOf[ProgramPolicyPublic](
        items=items, total=result.total, offset=result.offset, limit=result.limit
    )


@router.get("/scenes/{kind}")
def published_scenes(
    kind: Literal["opportunities", "capabilities"],
    session: DbSession,
    page: PageParams,
    industry: IndustryFilter = None,
) -> PageOf[SceneItemPublic]:
    """Open opportunities and capabilities as published; contacts stay with their owners."""
    item_kind = scenes.require_kind(kind)
    filters = scenes.ItemFilters(industry=industry, status="open")
    result = scenes.list_items(session, item_kind, page, filters)
    items = [scene_public(row, kind) for row in result.items]
    return PageOf[SceneItemPublic](
        items=items, total=result.total, offset=result.offset, limit=result.limit
    )


def scene_public(row: Any, kind: str) -> SceneItemPublic:
    if kind == "opportunities":
        extra = {"budget_fen": row.budget_fen, "deadline": row.deadline}
    else:
        extra = {"maturity": row.maturity, "deployment_modes": row.deployment_modes}
    return SceneItemPublic(
        id=row.id,
        kind=kind,
        org=row.org_name,
        title=row.title,
        description=row.description,
        industry=industry_label(row.industry),
        tags=list(row.tags),
        region=row.region,
        status=row.status,
        extra=extra,
        created_at=row.created_at,
    )
