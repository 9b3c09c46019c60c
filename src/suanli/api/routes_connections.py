"""Provider cluster connections (Ray, Slurm): add, list, show, check, capacity, remove.

Credentials go in and never come out: every answer carries only `has_credentials`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from suanli.api.deps import AppState, CurrentPrincipal, DbSession, PageParams
from suanli.api.schemas import PageOf, Strict
from suanli.api.types import Line, Text
from suanli.services import connections

router = APIRouter(prefix="/v1", tags=["connections"])
OPTIONS_MAX = 20
CREDENTIALS_MAX = 10


class ConnectionCreate(Strict):
    name: Line = Field(min_length=1, max_length=200)
    kind: Line = Field(min_length=1, max_length=20, examples=["ray", "slurm"])
    address: Line = Field(
        default="",
        max_length=500,
        description="Ray: the dashboard URL, http(s)://host[:port] only (no path, query or "
        "user:password: a token goes in credentials); Slurm: the cluster's slurm.conf on the "
        "suanli host",
        examples=["http://10.0.0.5:8265", "/etc/slurm/slurm.conf"],
    )
    options: dict[Line, Any] = Field(default_factory=dict, max_length=OPTIONS_MAX)
    credentials: dict[Line, Line] = Field(
        default_factory=dict,
        max_length=CREDENTIALS_MAX,
        description="stored encrypted, never returned (Ray: {'token': ...})",
    )
    provider_id: Line | None = Field(default=None, max_length=40, description="operator only")


class ConnectionReview(Strict):
    reason: Text = Field(default="", max_length=1_000, description="required to reject")


class ConnectionPublic(BaseModel):
    id: str
    provider_id: str
    provider_name: str = Field(default="", description="in lists only")
    name: str
    kind: str
    address: str
    options: dict[str, Any]
    has_credentials: bool
    healthy: bool
    last_checked_at: datetime | None
    last_error: str
    capacity: dict[str, int] = Field(description="free cards per catalog model, last read")
    created_at: datetime
    review_state: str = Field(description="pending until the operator approves; then approved")
    review_reason: str


class CapacityPublic(BaseModel):
    connection_id: str
    capacity: dict[str, int]
    read_at: datetime


class ConnectionDeleted(BaseModel):
    id: str
    pools_removed: list[str]


@router.post("/connections", status_code=201)
def create_connection(
    body: ConnectionCreate, caller: CurrentPrincipal, app: AppState
) -> ConnectionPublic:
    """Checks the cluster before storing: unreachable (502), refused (422, naming the field)."""
    row = connections.create_connection(
        app.db, app.settings.data_dir, app.clock, caller, body.model_dump()
    )
    return ConnectionPublic(**connections.public_view(row))


@router.get("/connections")
def list_connections(
    caller: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    review_state: Annotated[str | None, Query(pattern="^(pending|approved|rejected)$")] = None,
) -> PageOf[ConnectionPublic]:
    """The provider's own; every provider's for the operator (`?review_state=pending`: the
    connections waiting for its review)."""
    result = connections.list_connections(session, caller, page, review_state)
    names = connections.provider_names(session, result.items)
    items = [
        ConnectionPublic(**connections.public_view(row), provider_name=names[row.provider_id])
        for row in result.items
    ]
    return PageOf[ConnectionPublic](
        items=items, total=result.total, offset=page.offset, limit=page.limit
    )


@router.get("/connections/{connection_id}")
def get_connection(
    connection_id: str, caller: CurrentPrincipal, session: DbSession
) -> ConnectionPublic:
    row = connections.get_connection(session, caller, connection_id)
    return ConnectionPublic(**connections.public_view(row))


@router.get("/connections/{connection_id}/capacity")
def read_capacity(connection_id: str, caller: CurrentPrincipal, app: AppState) -> CapacityPublic:
    """Free cards per model, read from the cluster now."""
    reading = connections.read_capacity(app.db, app.backends, app.clock, caller, connection_id)
    return CapacityPublic(**reading)


@router.post("/connections/{connection_id}/check")
def check_connection(
    connection_id: str, caller: CurrentPrincipal, app: AppState
) -> ConnectionPublic:
    """Health and capacity now, as the periodic poll does; updates the pools' availability."""
    row = connections.check_connection(app.db, app.backends, app.clock, caller, connection_id)
    return ConnectionPublic(**connections.public_view(row))


@router.post("/connections/{connection_id}/approve")
def approve_connection(
    connection_id: str,
    body: ConnectionReview,
    caller: CurrentPrincipal,
    session: DbSession,
    app: AppState,
) -> ConnectionPublic:
    """The operator approves a provider's connection; pools can then be listed on it."""
    row = connections.review_connection(
        session, app.clock, caller, connection_id, approve=True, reason=body.reason
    )
    return ConnectionPublic(**connections.public_view(row))


@router.post("/connections/{connection_id}/reject")
def reject_connection(
    connection_id: str,
    body: ConnectionReview,
    caller: CurrentPrincipal,
    session: DbSession,
    app: AppState,
) -> ConnectionPublic:
    """The operator rejects a provider's connection, with a reason."""
    row = connections.review_connection(
        session, app.clock, caller, connection_id, approve=False, reason=body.reason
    )
    return ConnectionPublic(**connections.public_view(row))


@router.delete("/connections/{connection_id}")
def delete_connection(
    connection_id: str, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> ConnectionDeleted:
    """Refused (409) while a pool on it has an active job; removes its pools with it."""
    removed = connections.delete_connection(session, app.clock, caller, connection_id)
    session.commit()  # the backend is forgotten only once the removal is durable
    app.backends.forget(connection_id)
    return ConnectionDeleted(id=connection_id, pools_removed=removed)
