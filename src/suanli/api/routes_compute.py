"""Pools, jobs, quotes, logs and usage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from suanli.adapters.backends.base import LOG_OFFSET_MAX
from suanli.adapters.db.tables import PoolRow
from suanli.api.deps import AppState, CurrentPrincipal, DbSession, PageParams
from suanli.api.schemas import (
    GrantSubsidyPublic,
    JobPublic,
    JobSpecIn,
    LogPublic,
    PageOf,
    PoolCreate,
    PoolPublic,
    PoolSubsidyPublic,
    PoolUpdate,
    QuotePublic,
    UsagePublic,
)
from suanli.domain.accelerators import get_accelerator
from suanli.domain.jobs import TERMINAL_STATES, JobState
from suanli.services import jobs, pools, vouchers
from suanli.services.common import Principal

router = APIRouter(prefix="/v1")


@router.post("/pools", status_code=201, tags=["pools"])
def create_pool(
    body: PoolCreate, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> PoolPublic:
    row = pools.create_pool(session, app.clock, caller, body.model_dump())
    return pool_public(row, caller, 0)


@router.get("/pools", tags=["pools"])
def list_pools(
    caller: CurrentPrincipal, session: DbSession, page: PageParams, mine: bool = False
) -> PageOf[PoolPublic]:
    result = pools.list_pools(session, caller, page, mine=mine)
    held = pools.allocated_cards(session, [row.id for row in result.items])
    items = [pool_public(row, caller, held.get(row.id, 0)) for row in result.items]
    return PageOf[PoolPublic](items=items, total=result.total, offset=page.offset, limit=page.limit)


@router.get("/pools/{pool_id}", tags=["pools"])
def get_pool(pool_id: str, caller: CurrentPrincipal, session: DbSession) -> PoolPublic:
    row = pools.get_pool(session, caller, pool_id)
    return pool_public(row, caller, pools.allocated_cards(session, [row.id]).get(row.id, 0))


@router.patch("/pools/{pool_id}", tags=["pools"])
def update_pool(
    pool_id: str, body: PoolUpdate, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> PoolPublic:
    fields = body.model_dump(exclude_none=True)
    row = pools.update_pool(session, app.clock, caller, pool_id, fields)
    return pool_public(row, caller, pools.allocated_cards(session, [row.id]).get(row.id, 0))


@router.delete("/pools/{pool_id}", status_code=204, tags=["pools"])
def delete_pool(
    pool_id: str, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> Response:
    pools.delete_pool(session, app.clock, caller, pool_id)
    return Response(status_code=204)


@router.post("/jobs/quote", tags=["jobs"])
def quote(
    body: JobSpecIn, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> QuotePublic:
    """The price range over the feasible pools; for an enterprise, also what each of its
    active voucher grants would pay and what it would pay itself, pool by pool."""
    spec = jobs.requested_spec(body.model_dump())
    result = jobs.quote(session, spec)
    subsidies = []
    if caller.org_kind == "enterprise" and result.feasible_pools:
        found = vouchers.voucher_quote(
            session, caller.org_id, jobs.spec_to_dict(spec), app.clock.now()
        )
        listed = {line["pool_id"] for line in result.feasible_pools}
        subsidies = [pool_subsidy_public(item) for item in found if item.pool_id in listed]
    return QuotePublic(**result.__dict__, vouchers=subsidies)


def pool_subsidy_public(item: vouchers.PoolSubsidy) -> PoolSubsidyPublic:
    grants = [
        GrantSubsidyPublic(
            grant_id=line.grant_id,
            program_id=line.program_id,
            program_name=line.program_name,
            subsidy_fen=line.subsidy_fen,
            note=str(line.note),  # in the reader's language
        )
        for line in item.lines
    ]
    return PoolSubsidyPublic(
        pool_id=item.pool_id,
        amount_fen=item.amount_fen,
        enterprise_pays_fen=item.enterprise_fen,
        grants=grants,
    )


@router.post("/jobs", status_code=201, tags=["jobs"])
def submit_job(
    body: JobSpecIn, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> JobPublic:
    spec = jobs.requested_spec(body.model_dump())
    row = jobs.submit_job(session, app.settings, app.clock, caller, spec)
    return public_job(row, caller)


@router.get("/jobs", tags=["jobs"])
def list_jobs(
    caller: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    state: Annotated[str | None, Query(max_length=20)] = None,
) -> PageOf[JobPublic]:
    result = jobs.list_jobs(session, caller, page, state)
    items = [public_job(row, caller) for row in result.items]
    return PageOf[JobPublic](items=items, total=result.total, offset=page.offset, limit=page.limit)


@router.get("/jobs/{job_id}", tags=["jobs"])
def get_job(job_id: str, caller: CurrentPrincipal, session: DbSession) -> JobPublic:
    return public_job(jobs.get_job(session, caller, job_id), caller)


@router.post("/jobs/{job_id}/cancel", tags=["jobs"])
def cancel_job(
    job_id: str, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> JobPublic:
    row = jobs.request_cancel(session, app.settings, app.clock, caller, job_id)
    return public_job(row, caller)


@router.get("/jobs/{job_id}/logs", tags=["jobs"])
def job_logs(
    job_id: str,
    caller: CurrentPrincipal,
    session: DbSession,
    app: AppState,
    offset: Annotated[int, Query(ge=0, le=LOG_OFFSET_MAX)] = 0,
) -> LogPublic:
    row = jobs.get_job(session, caller, job_id)
    finished = JobState(row.state) in TERMINAL_STATES
    if row.pool_id is None or row.backend_job_id is None:
        return LogPublic(text="", next_offset=offset, finished=finished)
    pool = pools.get_pool(session, caller, row.pool_id)
    backend = app.backends.for_pool(pool.backend, pool.connection_id)
    chunk = backend.logs(row.backend_job_id, offset)
    return LogPublic(text=chunk.text, next_offset=chunk.next_offset, finished=finished)


@router.get("/jobs/{job_id}/usage", tags=["jobs"])
def job_usage(job_id: str, caller: CurrentPrincipal, session: DbSession) -> UsagePublic:
    return UsagePublic.model_validate(jobs.get_usage(session, caller, job_id))


def pool_public(row: PoolRow, caller: Principal, held_cards: int) -> PoolPublic:
    """The catalogue's face of a pool, plus its internals for its provider and the operator."""
    accelerator = get_accelerator(row.accelerator_model)
    internal = pools.sees_internals(caller, row)
    return PoolPublic(
        id=row.id,
        provider_id=row.provider_id,
        name=row.name,
        accelerator_model=row.accelerator_model,
        vendor=accelerator.vendor,
        domestic=accelerator.domestic,
        nodes=row.nodes,
        cards_per_node=row.cards_per_node,
        region=row.region,
        price_fen_per_card_hour=row.price_fen_per_card_hour,
        software=dict(row.software or {}),
        available=row.available,
        free_cards=max(0, row.nodes * row.cards_per_node - held_cards),
        shareable=row.shareable,
        cpus_per_node=row.cpus_per_node,
        host_memory_gib_per_node=row.host_memory_gib_per_node,
        backend=row.backend if internal else None,
        connection_id=row.connection_id if internal else None,
        labels=dict(row.labels or {}) if internal else None,
    )


def public_job(row: object, caller: Principal) -> JobPublic:
    """Providers see jobs on their pools, but not their customers' commands or environment."""
    job = JobPublic.model_validate(row)
    if caller.org_kind == "provider":
        spec = {k: v for k, v in job.spec.items() if k not in ("command", "env")}
        job = job.model_copy(update={"spec": spec})
    return job
