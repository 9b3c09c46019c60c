"""The city dashboard (城市大屏): public aggregates, no credential, cached a few seconds."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from suanli.api.deps import AppState
from suanli.services import dashboard
from suanli.services.dashboard import DashboardCache

router = APIRouter(prefix="/v1/public", tags=["dashboard"])


class VendorCardsPublic(BaseModel):
    vendor: str
    domestic: bool
    pools: int
    cards: int
    busy_cards: int


class UtilisationPublic(BaseModel):
    start: datetime
    end: datetime
    used_card_seconds: int
    capacity_card_seconds: int
    utilisation_bp: int


class DashboardPublic(BaseModel):
    at: datetime
    hours: int
    cards: int
    domestic_cards: int
    domestic_share_bp: int
    busy_cards: int
    vendors: list[VendorCardsPublic]
    utilisation: list[UtilisationPublic]
    jobs_by_state: dict[str, int]
    jobs_total: int
    gmv_fen: int
    vouchers_paid_fen: int
    pipeline: dict[str, int]
    opportunities: int
    capabilities: int


@router.get("/dashboard")
def city_dashboard(
    request: Request,
    app: AppState,
    hours: Annotated[int, Query(ge=1, le=dashboard.WINDOW_HOURS_MAX)] = (
        dashboard.WINDOW_HOURS_DEFAULT
    ),
) -> DashboardPublic:
    """The city's market at a glance, for the wall screen and the public overview: cards by
    vendor and the domestic share, utilisation over the last `hours` (24 buckets), jobs by
    state, GMV, vouchers paid and the scenes pipeline. Aggregates only, no names."""
    cache = _cache(request, app.settings.dashboard_cache_s)

    def build() -> dashboard.Dashboard:
        with app.db.session() as session:
            step_s = app.settings.dashboard_utilisation_step_s
            return dashboard.dashboard(session, app.clock.now(), hours, step_s)

    return dashboard_public(cache.get(hours, build), hours)


def _cache(request: Request, ttl_s: float) -> DashboardCache:
    cache: DashboardCache | None = getattr(request.app.state, "dashboard_cache", None)
    if cache is None:
        cache = request.app.state.dashboard_cache = DashboardCache(ttl_s)
    return cache


def dashboard_public(view: dashboard.Dashboard, hours: int) -> DashboardPublic:
    return DashboardPublic(
        at=view.at,
        hours=hours,
        cards=view.cards,
        domestic_cards=view.domestic_cards,
        domestic_share_bp=view.domestic_share_bp,
        busy_cards=view.busy_cards,
        vendors=[VendorCardsPublic(**vendor.__dict__) for vendor in view.vendors],
        utilisation=[
            UtilisationPublic(**bucket.__dict__, utilisation_bp=bucket.utilisation_bp)
            for bucket in view.utilisation
        ],
        jobs_by_state=view.jobs_by_state,
        jobs_total=sum(view.jobs_by_state.values()),
        gmv_fen=view.gmv_fen,
        vouchers_paid_fen=view.vouchers_paid_fen,
        pipeline=view.pipeline,
        opportunities=view.opportunities,
        capabilities=view.capabilities,
    )
