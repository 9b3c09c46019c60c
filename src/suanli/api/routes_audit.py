"""The audit log: entries with filters and pages, CSV/XLSX export, the head, verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from suanli.api.deps import CurrentPrincipal, DbSession, PageParams
from suanli.api.schemas import PageOf
from suanli.api.schemas_identity import (
    AuditEntryPublic,
    AuditHeadPublic,
    AuditVerifyPublic,
    ChainProblemPublic,
)
from suanli.api.types import Instant, Line
from suanli.services import audit_trail

router = APIRouter(prefix="/v1/audit", tags=["audit"])
HASH_PATTERN = "^[0-9a-f]{64}$"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def audit_filters(
    actor_id: Annotated[Line | None, Query(max_length=64)] = None,
    org_id: Annotated[Line | None, Query(max_length=64)] = None,
    action: Annotated[
        Line | None, Query(max_length=80, description="exact, or a prefix ending in '.'")
    ] = None,
    object: Annotated[Line | None, Query(max_length=80, description="the object's id")] = None,
    since: Annotated[Instant | None, Query()] = None,
    until: Annotated[Instant | None, Query()] = None,
) -> audit_trail.AuditFilters:
    return audit_trail.AuditFilters(actor_id, org_id, action, object, since, until)


Filters = Annotated[audit_trail.AuditFilters, Depends(audit_filters)]


@router.get("")
def list_entries(
    caller: CurrentPrincipal, session: DbSession, page: PageParams, filters: Filters
) -> PageOf[AuditEntryPublic]:
    """Newest first. The operator sees every entry; an organisation sees its own users'
    entries and those about it (an agency: applications to its programs, proposals to its
    challenges)."""
    result = audit_trail.list_entries(session, caller, filters, page)
    items = [AuditEntryPublic(**audit_trail.entry_public(row)) for row in result.items]
    return PageOf[AuditEntryPublic](
        items=items, total=result.total, offset=page.offset, limit=page.limit
    )


@router.get("/export", response_model=None)
def export(
    caller: CurrentPrincipal,
    session: DbSession,
    filters: Filters,
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "csv",
) -> Response:
    """The visible entries in chain order, at most 100,000 (narrow since/until beyond)."""
    if format == "xlsx":
        return Response(
            audit_trail.export_xlsx(session, caller, filters),
            media_type=XLSX,
            headers={"Content-Disposition": 'attachment; filename="audit.xlsx"'},
        )
    return Response(
        audit_trail.export_csv(session, caller, filters),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


@router.get("/head")
def head(_caller: CurrentPrincipal, session: DbSession) -> AuditHeadPublic:
    """The chain's last position and hash: keep it outside the platform, and check later
    (`GET /v1/audit/verify?seq=&hash=`) that nothing up to it changed."""
    seq, last = audit_trail.head(session)
    return AuditHeadPublic(seq=seq, hash=last)


@router.get("/verify")
def verify(
    _caller: CurrentPrincipal,
    session: DbSession,
    seq: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    hash: Annotated[str | None, Query(pattern=HASH_PATTERN)] = None,
) -> AuditVerifyPublic:
    """Recomputes the whole chain and names the first entry edited, deleted or reordered;
    with `seq` and `hash` (a head kept earlier), also checks the chain still holds it. It
    answers with positions and hashes only, so every organisation may ask."""
    kept = (seq, hash) if seq is not None and hash is not None else None
    report = audit_trail.verify(session, kept)
    problem = None
    if report.problem is not None:
        problem = ChainProblemPublic(
            seq=report.problem.seq, kind=report.problem.kind, message=str(report.problem.message)
        )
    return AuditVerifyPublic(
        ok=report.ok,
        entries=report.entries,
        head_seq=report.head_seq,
        head_hash=report.head_hash,
        problem=problem,
    )
