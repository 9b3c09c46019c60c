"""Health, catalog, organisations and relationships."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from suanli.api.deps import AppState, CurrentPrincipal, DbSession, PageParams
from suanli.api.schemas import (
    OrganisationCreate,
    OrganisationPublic,
    OrganisationRegistered,
    PageOf,
    RelationCreate,
)
from suanli.domain.accelerators import CATALOG, CATALOG_VERSION
from suanli.services import organisations

router = APIRouter()


@router.get("/healthz", tags=["ops"])
async def healthz(app: AppState) -> dict[str, Any]:
    """Up, with this process's role and whether it leads the scheduler (for load balancers
    and for finding the leader among replicas)."""
    return {"status": "ok", "role": app.role, "leading": app.leading()}


@router.get("/v1/catalog/accelerators", tags=["catalog"])
def accelerators(_caller: CurrentPrincipal) -> dict[str, Any]:
    return {"version": CATALOG_VERSION, "accelerators": [catalog_entry(a) for a in CATALOG]}


def catalog_entry(accelerator: Any) -> dict[str, Any]:
    data = asdict(accelerator)
    data["tflops"] = {str(k): v for k, v in accelerator.tflops.items()}
    return data


@router.get("/v1/me", tags=["organisations"])
def me(caller: CurrentPrincipal) -> dict[str, str]:
    return {"user_id": caller.user_id, "org_id": caller.org_id, "org_kind": caller.org_kind}


@router.post("/v1/organisations", status_code=201, tags=["organisations"])
def register_organisation(
    body: OrganisationCreate, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> OrganisationRegistered:
    """The operator creates an organisation (the only way to create an agency), active at once;
    its first user's token is returned once."""
    first = None
    if body.admin is not None:
        first = organisations.FirstAdmin(
            body.admin.display_name, body.admin.login, body.admin.password
        )
    issued = organisations.register_organisation(
        session,
        app.clock,
        caller,
        name=body.name,
        kind=body.kind,
        region=body.region,
        credit_code=body.credit_code,
        first=first,
    )
    org = organisations.get_organisation(session, caller, issued.org_id)
    return OrganisationRegistered(
        organisation=OrganisationPublic.model_validate(org),
        user_id=issued.user_id,
        token=issued.token,
    )


@router.get("/v1/organisations", tags=["organisations"])
def list_organisations(
    caller: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    state: Annotated[str | None, Query(pattern="^(pending|active|rejected|suspended)$")] = None,
    kind: Annotated[str | None, Query(pattern="^(operator|provider|enterprise|agency)$")] = None,
) -> PageOf[OrganisationPublic]:
    """Every organisation for the operator, a page at a time (`?state=pending`: the review
    queue; `?kind=provider`: one kind); one's own for anyone else."""
    result = organisations.list_organisations(session, caller, page, state, kind)
    return PageOf[OrganisationPublic](
        items=[OrganisationPublic.model_validate(row) for row in result.items],
        total=result.total,
        offset=result.offset,
        limit=result.limit,
    )


@router.get("/v1/organisations/{org_id}", tags=["organisations"])
def get_organisation(
    org_id: str, caller: CurrentPrincipal, session: DbSession
) -> OrganisationPublic:
    return OrganisationPublic.model_validate(
        organisations.get_organisation(session, caller, org_id)
    )


@router.post("/v1/organisations/relations", status_code=201, tags=["organisations"])
def declare_relation(
    body: RelationCreate, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> dict[str, Any]:
    row = organisations.declare_relation(session, app.clock, caller, **body.model_dump())
    return {"id": row.id, "from_org": row.from_org_id, "to_org": row.to_org_id, "kind": row.kind}
