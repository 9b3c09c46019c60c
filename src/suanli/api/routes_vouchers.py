"""Vouchers over HTTP: programs (agencies), funding, applications (enterprises), approvals and
rejections (the owning agency), grants, expiry and the agency report (JSON, CSV, XLSX).
Thin: parse, call one service in a retried unit of work, render."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from suanli.adapters.db.ledger_repo import transact
from suanli.adapters.db.tables_vouchers import (
    VoucherApplicationRow,
    VoucherGrantRow,
    VoucherProgramRow,
)
from suanli.api.deps import AppState, CurrentPrincipal, DbSession, PageParams
from suanli.api.routes_ledger import RecordedTransferPublic, recorded_public
from suanli.api.schemas import PageOf, Strict
from suanli.api.types import CalendarDate, Fen, Line, Text
from suanli.domain.calendar import in_beijing
from suanli.domain.divisions import canonical_region
from suanli.domain.ledger import TEXT_LENGTH_MAX
from suanli.domain.text import check_date, check_instant
from suanli.domain.vouchers import (
    BEIJING,
    LOOKBACK_YEARS_MAX,
    RATIO_BP_MAX,
    SCOPE_ITEMS_MAX,
    STARTUP_YEARS_MAX,
    TIERS_MAX,
    EnterpriseFacts,
    ProviderScope,
    RatioTier,
    Rules,
    parse_ratio,
    ratio_text,
)
from suanli.errors import InvalidInput
from suanli.i18n import msg
from suanli.services import vouchers
from suanli.services.common import PageResult, Principal

router = APIRouter(prefix="/v1/vouchers", tags=["vouchers"])
STACK_ORDER_MAX = 1_000  # domain.vouchers.Rules checks -1000..1000 too, for stored rules

# a decimal, not a float: its text ("0.3") or a JSON number; never a boolean
Ratio = Annotated[
    Decimal,
    Field(strict=False, examples=["0.3"], description="0..1, at most 4 decimals"),
]
Items = Annotated[list[Annotated[Line, Field(max_length=200)]], Field(max_length=SCOPE_ITEMS_MAX)]
Moment = Annotated[
    str,
    Field(
        max_length=40,
        examples=["2025-01-01"],
        description="a date (Beijing midnight) or an ISO time with zone",
    ),
]


class TierCreate(Strict):
    ratio: Ratio
    label: Line = Field(default="", max_length=200)
    sme: bool | None = None
    domestic: bool | None = Field(default=None, description="true: 国产 only; false: others")
    yearly_spend_max_fen: Fen | None = Field(default=None, description="including the order")
    startup_age_max_years: int | None = Field(default=None, ge=1, le=STARTUP_YEARS_MAX)


class ProgramCreate(Strict):
    name: Line = Field(min_length=1, max_length=200, examples=["杭州市算力券 2025"])
    category: Line = Field(pattern="^(compute|model|corpus|smart)$")
    budget_fen: Fen
    valid_from: Moment
    valid_until: Moment = Field(description="exclusive end: [valid_from, valid_until)")
    base_ratio: Ratio
    tiers: list[TierCreate] = Field(default_factory=list, max_length=TIERS_MAX)
    cap_per_enterprise_fen: Fen
    cap_per_order_fen: Fen | None = None
    provider_scope: Line = Field(default="all", pattern="^(all|list|region)$")
    provider_ids: Items = Field(default_factory=list)
    provider_regions: Items = Field(default_factory=list, examples=[["浙江/杭州"]])
    enterprise_regions: Items = Field(default_factory=list)
    sme_only: bool = False
    blacklist: Items = Field(default_factory=list)
    bad_credit_lookback_years: int | None = Field(default=None, ge=1, le=LOOKBACK_YEARS_MAX)
    stacking_allowed: bool = True
    max_combined_ratio: Ratio = Decimal(1)
    stack_order: int = Field(default=0, ge=-STACK_ORDER_MAX, le=STACK_ORDER_MAX)


class ProgramUpdate(Strict):
    name: Line | None = Field(default=None, min_length=1, max_length=200)
    blacklist: Items | None = None


class FundingCreate(Strict):
    amount_fen: Fen
    external_reference: Line = Field(min_length=1, max_length=TEXT_LENGTH_MAX)


class TotalsPublic(BaseModel):
    funded_fen: int
    committed_fen: int
    paid_fen: int
    remaining_fen: int


class ProgramPublic(BaseModel):
    id: str
    agency_id: str
    name: str
    category: str
    budget_fen: int
    valid_from: datetime
    valid_until: datetime
    rules: dict[str, Any]
    totals: TotalsPublic | None = None
    created_at: datetime


class ApplicationCreate(Strict):
    is_sme: bool
    region: Line = Field(min_length=1, max_length=200, examples=["浙江/杭州/余杭"])
    founded_on: CalendarDate
    bad_credit_on: CalendarDate | None = Field(default=None, description="latest bad-credit record")
    requested_fen: Fen
    note: Text = Field(default="", max_length=500)


class ApplicationPublic(BaseModel):
    id: str
    program_id: str
    enterprise_id: str
    enterprise_name: str = Field(description="the applying enterprise's name")
    state: str
    is_sme: bool
    region: str
    founded_on: date
    bad_credit_on: date | None
    requested_fen: int
    note: str
    granted_fen: int | None
    reason: str
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime


class ApprovalCreate(Strict):
    quota_fen: Fen = Field(description="no larger than the program's cap per enterprise")


class RejectionCreate(Strict):
    reason: Text = Field(min_length=1, max_length=500)


class GrantPublic(BaseModel):
    id: str
    program_id: str
    program_name: str
    enterprise_id: str
    enterprise_name: str = Field(description="the granted enterprise's name")
    application_id: str
    quota_fen: int
    account_id: str
    state: str
    balance_fen: int
    reserved_fen: int
    available_fen: int
    created_at: datetime
    expired_at: datetime | None


class ExpiryPublic(BaseModel):
    grants_expired: int
    reclaimed_fen: int


# ---------------------------------------------------------------------------------------------
# Conversions


def moment(text: str, field: str) -> datetime:
    """'2025-01-01' is Beijing midnight; a time must carry its zone."""
    try:
        if len(text) == 10:
            day = check_date(date.fromisoformat(text), field)
            return datetime(day.year, day.month, day.day, tzinfo=BEIJING)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            msg(f"`{field}` 须为日期或 ISO 时间", f"{field} must be a date or an ISO time"),
            field=field,
        ) from None
    if parsed.tzinfo is None:
        raise InvalidInput(
            msg(
                f"`{field}` 须带时区，如 2025-01-01T00:00:00+08:00",
                f"{field} needs a time zone, e.g. 2025-01-01T00:00:00+08:00",
            ),
            field=field,
        )
    # Shown as +08:00 from the start: the create answer must read as every later read does.
    return in_beijing(check_instant(parsed, field))


def rules_from(body: ProgramCreate) -> Rules:
    tiers = tuple(
        RatioTier(
            ratio_bp=parse_ratio(tier.ratio, "tiers.ratio"),
            label=tier.label,
            sme=tier.sme,
            domestic=tier.domestic,
            yearly_spend_max_fen=tier.yearly_spend_max_fen,
            startup_age_max_years=tier.startup_age_max_years,
        )
        for tier in body.tiers
    )
    return Rules(
        base_ratio_bp=parse_ratio(body.base_ratio, "base_ratio"),
        cap_per_enterprise_fen=body.cap_per_enterprise_fen,
        tiers=tiers,
        cap_per_order_fen=body.cap_per_order_fen,
        provider_scope=ProviderScope(body.provider_scope),
        provider_ids=tuple(body.provider_ids),
        provider_regions=tuple(
            canonical_region(r, "provider_regions") for r in body.provider_regions
        ),
        enterprise_regions=tuple(
            canonical_region(r, "enterprise_regions") for r in body.enterprise_regions
        ),
        sme_only=body.sme_only,
        blacklist=tuple(body.blacklist),
        bad_credit_lookback_years=body.bad_credit_lookback_years,
        stacking_allowed=body.stacking_allowed,
        max_combined_ratio_bp=parse_ratio(body.max_combined_ratio, "max_combined_ratio"),
        stack_order=body.stack_order,
    )


def rules_public(stored: dict[str, Any], *, with_blacklist: bool = False) -> dict[str, Any]:
    """Stored basis points shown as exact ratio strings ('0.3') beside them. The blacklist
    names enterprises, so only its program's agency and the operator read it; everyone else
    reads how many it names (`blacklist_size`)."""
    data = dict(stored)
    data["blacklist_size"] = len(stored.get("blacklist") or [])
    if not with_blacklist:
        data.pop("blacklist", None)
    data["base_ratio"] = ratio_text(int(stored["base_ratio_bp"]))
    data["max_combined_ratio"] = ratio_text(int(stored.get("max_combined_ratio_bp", RATIO_BP_MAX)))
    data["tiers"] = [
        {**tier, "ratio": ratio_text(int(tier["ratio_bp"]))} for tier in stored.get("tiers", [])
    ]
    return data


def program_public(
    row: VoucherProgramRow, caller: Principal, totals: vouchers.ProgramTotals | None = None
) -> ProgramPublic:
    return ProgramPublic(
        id=row.id,
        agency_id=row.agency_id,
        name=row.name,
        category=row.category,
        budget_fen=row.budget_fen,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        rules=rules_public(row.rules, with_blacklist=vouchers.sees_blacklist(caller, row)),
        totals=TotalsPublic(**totals.__dict__) if totals else None,
        created_at=row.created_at,
    )


def application_public(row: VoucherApplicationRow, names: dict[str, str]) -> ApplicationPublic:
    """`names`: the enterprises' names by id (vouchers.enterprise_names: one query a page)."""
    stored = {
        field: getattr(row, field)
        for field in ApplicationPublic.model_fields.keys() - {"enterprise_name"}
    }
    return ApplicationPublic(**stored, enterprise_name=names.get(row.enterprise_id, ""))


def grant_public(view: vouchers.GrantView) -> GrantPublic:
    grant: VoucherGrantRow = view.grant
    return GrantPublic(
        id=grant.id,
        program_id=grant.program_id,
        program_name=view.program_name,
        enterprise_id=grant.enterprise_id,
        enterprise_name=view.enterprise_name,
        application_id=grant.application_id,
        quota_fen=grant.quota_fen,
        account_id=grant.account_id,
        state=grant.state,
        balance_fen=view.balance_fen,
        reserved_fen=view.reserved_fen,
        available_fen=view.available_fen,
        created_at=grant.created_at,
        expired_at=grant.expired_at,
    )


def _page(result: PageResult[Any], convert: Any) -> dict[str, Any]:
    items = [convert(item) for item in result.items]
    return {"items": items, "total": result.total, "offset": result.offset, "limit": result.limit}


# ---------------------------------------------------------------------------------------------
# Programs


@router.post("/programs", status_code=201)
def create_program(body: ProgramCreate, caller: CurrentPrincipal, app: AppState) -> ProgramPublic:
    rules = rules_from(body)
    valid_from, valid_until = (
        moment(body.valid_from, "valid_from"),
        moment(body.valid_until, "valid_until"),
    )
    row = transact(
        app.db,
        lambda session: vouchers.create_program(
            session,
            app.clock,
            caller,
            name=body.name,
            category=body.category,
            budget_fen=body.budget_fen,
            valid_from=valid_from,
            valid_until=valid_until,
            rules=rules,
        ),
    )
    return program_public(row, caller, vouchers.ProgramTotals(0, 0, 0, 0))


@router.get("/programs")
def list_programs(
    caller: CurrentPrincipal,
    session: DbSession,
    app: AppState,
    page: PageParams,
    agency_id: str | None = None,
    open_only: bool = False,
) -> PageOf[ProgramPublic]:
    """Every program (public policy), newest first; `open_only` keeps those open now."""
    open_at = app.clock.now() if open_only else None
    result = vouchers.list_programs(session, page, agency_id=agency_id, open_at=open_at)
    return PageOf[ProgramPublic](**_page(result, lambda row: program_public(row, caller)))


@router.get("/programs/{program_id}")
def show_program(program_id: str, caller: CurrentPrincipal, session: DbSession) -> ProgramPublic:
    row = vouchers.get_program(session, program_id)
    return program_public(row, caller, vouchers.program_totals(session, row))


@router.patch("/programs/{program_id}")
def update_program(
    program_id: str, body: ProgramUpdate, caller: CurrentPrincipal, app: AppState
) -> ProgramPublic:
    row = transact(
        app.db,
        lambda session: vouchers.update_program(
            session, app.clock, caller, program_id, name=body.name, blacklist=body.blacklist
        ),
    )
    return program_public(row, caller)


@router.delete("/programs/{program_id}", status_code=204)
def delete_program(program_id: str, caller: CurrentPrincipal, app: AppState) -> Response:
    transact(app.db, lambda s: vouchers.delete_program(s, app.clock, caller, program_id))
    return Response(status_code=204)


@router.post("/programs/{program_id}/funding", status_code=201)
def fund_program(
    program_id: str,
    body: FundingCreate,
    caller: CurrentPrincipal,
    app: AppState,
    response: Response,
) -> RecordedTransferPublic:
    """Budget received from the agency's treasury (external -> program budget); the same
    `external_reference` again answers 200 with `already_recorded: true`, funding nothing."""
    recorded = transact(
        app.db,
        lambda session: vouchers.fund_program(
            session,
            app.clock,
            caller,
            program_id=program_id,
            amount_fen=body.amount_fen,
            external_reference=body.external_reference,
        ),
    )
    return recorded_public(*recorded, response)


@router.get("/programs/{program_id}/report", response_model=None)
def program_report(
    program_id: str,
    caller: CurrentPrincipal,
    session: DbSession,
    format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
    section: Annotated[str, Query(pattern="^[a-z_]{1,20}$")] = "burn_down",
) -> Response | dict[str, Any]:
    """Burn-down, subsidy by enterprise/provider/vendor, refusals; CSV is one `section`."""
    report = vouchers.program_report(session, caller, program_id)
    filename = f"voucher-report-{program_id}"
    if format == "csv":
        return Response(
            vouchers.report_csv(report, section),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}-{section}.csv"'},
        )
    if format == "xlsx":
        return Response(
            vouchers.report_xlsx(report),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
        )
    return report_json(report)


def report_json(report: vouchers.ProgramReport) -> dict[str, Any]:
    def items(values: list[Any]) -> list[dict[str, Any]]:
        return [dict(value.__dict__) for value in values]

    return {
        "program_id": report.program_id,
        "program_name": report.program_name,
        "budget_fen": report.budget_fen,
        "totals": dict(report.totals.__dict__),
        "burn_down": [{**d.__dict__, "day": d.day.isoformat()} for d in report.burn_down],
        "by_enterprise": items(report.by_enterprise),
        "by_provider": items(report.by_provider),
        "by_vendor": items(report.by_vendor),
        "domestic_share_bp": report.domestic_share_bp,
        "refused": items(report.refused),
        "refused_orders": items(report.refused_orders),
    }


# ---------------------------------------------------------------------------------------------
# Applications and decisions


@router.post("/programs/{program_id}/applications", status_code=201)
def apply(
    program_id: str, body: ApplicationCreate, caller: CurrentPrincipal, app: AppState
) -> ApplicationPublic:
    facts = EnterpriseFacts(
        is_sme=body.is_sme,
        region=canonical_region(body.region),
        founded_on=body.founded_on,
        bad_credit_on=body.bad_credit_on,
    )

    def work(session: Any) -> ApplicationPublic:
        row = vouchers.apply(
            session,
            app.clock,
            caller,
            program_id=program_id,
            facts=facts,
            requested_fen=body.requested_fen,
            note=body.note,
        )
        return application_public(row, vouchers.enterprise_names(session, [row]))

    return transact(app.db, work)


@router.get("/applications")
def list_applications(
    caller: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    program_id: str | None = None,
    state: str | None = None,
) -> PageOf[ApplicationPublic]:
    """Each with its enterprise's name (`enterprise_name`) beside its id."""
    result = vouchers.list_applications(session, caller, page, program_id=program_id, state=state)
    names = vouchers.enterprise_names(session, result.items)
    return PageOf[ApplicationPublic](**_page(result, lambda row: application_public(row, names)))


@router.get("/applications/{application_id}")
def show_application(
    application_id: str, caller: CurrentPrincipal, session: DbSession
) -> ApplicationPublic:
    row = vouchers.get_application(session, caller, application_id)
    return application_public(row, vouchers.enterprise_names(session, [row]))


@router.post("/applications/{application_id}/approve", status_code=201)
def approve(
    application_id: str, body: ApprovalCreate, caller: CurrentPrincipal, app: AppState
) -> GrantPublic:
    """The owning agency grants a quota out of the funded, unallocated budget."""

    def work(session: Any) -> vouchers.GrantView:
        grant = vouchers.approve(
            session, app.clock, caller, application_id=application_id, quota_fen=body.quota_fen
        )
        session.flush()
        return vouchers.grant_views(session, [grant])[0]

    return grant_public(transact(app.db, work))


@router.post("/applications/{application_id}/reject")
def reject(
    application_id: str, body: RejectionCreate, caller: CurrentPrincipal, app: AppState
) -> ApplicationPublic:
    def work(session: Any) -> ApplicationPublic:
        row = vouchers.reject(
            session, app.clock, caller, application_id=application_id, reason=body.reason
        )
        return application_public(row, vouchers.enterprise_names(session, [row]))

    return transact(app.db, work)


# ---------------------------------------------------------------------------------------------
# Grants and expiry


@router.get("/grants")
def list_grants(
    caller: CurrentPrincipal, session: DbSession, page: PageParams, program_id: str | None = None
) -> PageOf[GrantPublic]:
    """An enterprise's own grants; an agency's programs' grants; the operator's all."""
    result = vouchers.list_grants(session, caller, page, program_id=program_id)
    return PageOf[GrantPublic](**_page(result, grant_public))


@router.post("/expire")
def expire(caller: CurrentPrincipal, app: AppState) -> ExpiryPublic:
    """Returns what ended programs' grants hold unused to their budgets (agency: its own)."""
    result = transact(app.db, lambda session: vouchers.expire_grants(session, app.clock, caller))
    return ExpiryPublic(grants_expired=result.grants_expired, reclaimed_fen=result.reclaimed_fen)
