"""Money over HTTP: top-ups, balances, statements, payouts, refunds, monthly statements and the
operator's ledger check. Thin: parse, call one service in a retried unit of work, render."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from suanli.adapters.db.ledger_repo import CheckReport, StatementLine, transact
from suanli.adapters.db.tables_ledger import LedgerCheckRow
from suanli.api.deps import AppState, CurrentPrincipal, DbSession, PageParams
from suanli.api.schemas import PageOf, Strict
from suanli.api.types import Fen, Line, Text
from suanli.domain.ledger import TEXT_LENGTH_MAX, Transfer, TransferCode
from suanli.domain.text import check_instant
from suanli.errors import InvalidInput, PermissionDenied
from suanli.i18n import msg, t
from suanli.services import ledger, scenes_deals, wallets
from suanli.services.common import Page, PageResult, Principal

router = APIRouter(prefix="/v1", tags=["ledger"])

ReferenceField = Field(min_length=1, max_length=TEXT_LENGTH_MAX, examples=["ICBC-20250701-0001"])
IdempotencyKeyHeader = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


class TopUpCreate(Strict):
    amount_fen: Fen = Field(description="integer fen (分); floats are refused")
    currency: Line = Field(default="CNY", max_length=8)
    external_reference: Line = ReferenceField
    memo: Text = Field(default="", max_length=TEXT_LENGTH_MAX)


class PayoutCreate(Strict):
    provider_id: Line = Field(min_length=1, max_length=40)
    amount_fen: Fen
    currency: Line = Field(default="CNY", max_length=8)
    external_reference: Line = ReferenceField


class RefundCreate(Strict):
    transfer_id: Line | None = Field(default=None, max_length=100)
    job_id: Line | None = Field(default=None, max_length=40)
    amount_fen: Fen | None = Field(default=None, description="default: all that is left")
    reason: Text = Field(min_length=1, max_length=TEXT_LENGTH_MAX)


class TransferPublic(BaseModel):
    id: str
    code: str
    currency: str
    debit_account_id: str
    credit_account_id: str
    amount_fen: int
    flags: int
    pending_id: str | None
    reference: str
    memo: str
    timestamp: datetime


class AccountPublic(BaseModel):
    account_id: str
    kind: str
    currency: str
    owner_id: str
    posted_fen: int
    pending_fen: int
    available_fen: int
    incoming_pending_fen: int
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int


class StatementLinePublic(TransferPublic):
    direction: str
    signed_fen: int = Field(description="+ credits, - debits; 0 for a hold or a void")
    hold_state: str | None


class ViolationPublic(BaseModel):
    subject_id: str
    rule: str
    detail: str


class CheckPublic(BaseModel):
    ok: bool
    accounts_checked: int
    transfers_checked: int
    holds_checked: int
    violations: list[ViolationPublic]


class ExpiredPublic(BaseModel):
    expired: int


def _code_name(code: int) -> str:
    try:
        return TransferCode(code).name.lower()
    except ValueError:
        return str(code)


# Memos the platform writes itself are codes, worded when read; a tenant's memo (a top-up's,
# a refund's reason) is shown as typed.
_VOUCHER_FUNDING_MEMO = re.compile(r"voucher program (\S+)")


def memo_public(memo: str) -> str:
    """A transfer's memo in the reader's language when the platform wrote it."""
    if memo in scenes_deals.MEMO_WORDS:
        return scenes_deals.MEMO_WORDS[memo].render()
    if memo == "demo funding":
        return t("演示充值", "demo funding")
    funding = _VOUCHER_FUNDING_MEMO.fullmatch(memo)
    if funding:
        program = funding.group(1)
        return t(f"算力券项目 {program} 拨款", f"voucher program {program}")
    return memo


def transfer_public(transfer: Transfer) -> TransferPublic:
    return TransferPublic(
        id=transfer.id,
        code=_code_name(transfer.code),
        currency="CNY",
        debit_account_id=transfer.debit_account_id,
        credit_account_id=transfer.credit_account_id,
        amount_fen=transfer.amount_fen,
        flags=int(transfer.flags),
        pending_id=transfer.pending_id,
        reference=transfer.reference,
        memo=memo_public(transfer.memo),
        timestamp=transfer.timestamp,
    )


def account_public(view: wallets.AccountView) -> AccountPublic:
    totals = view.totals
    return AccountPublic(
        account_id=view.account_id,
        kind=view.kind,
        currency=view.currency,
        owner_id=view.owner_id,
        posted_fen=view.posted_fen,
        pending_fen=view.pending_fen,
        available_fen=view.available_fen,
        incoming_pending_fen=view.incoming_pending_fen,
        debits_pending=totals.debits_pending,
        debits_posted=totals.debits_posted,
        credits_pending=totals.credits_pending,
        credits_posted=totals.credits_posted,
    )


def line_public(line: StatementLine) -> StatementLinePublic:
    transfer = line.transfer
    posts = transfer.flags in (0, 2)  # plain or post: money moved; pending/void/expire did not
    sign = 1 if line.direction == "credit" else -1
    return StatementLinePublic(
        **transfer_public(transfer).model_dump(),
        direction=line.direction,
        signed_fen=sign * transfer.amount_fen if posts else 0,
        hold_state=line.hold_state,
    )


# ---------------------------------------------------------------------------------------------
# Writes: each in its own unit of work, retried as a whole on serialization failure or deadlock


class RecordedTransferPublic(TransferPublic):
    """A transfer named by the caller's external reference (a bank transfer's): the same
    reference again answers 200 with the first transfer and `already_recorded: true`."""

    already_recorded: bool = Field(
        description="true: this reference was recorded before; no money moved again"
    )


def recorded_public(
    transfer: Transfer, already: bool, response: Response
) -> RecordedTransferPublic:
    """201 for money that moved now; 200 for a reference recorded before (moving nothing)."""
    if already:
        response.status_code = 200
    return RecordedTransferPublic(
        **transfer_public(transfer).model_dump(), already_recorded=already
    )


@router.post("/wallets/{org_id}/top-ups", status_code=201)
def top_up(
    org_id: str, body: TopUpCreate, caller: CurrentPrincipal, app: AppState, response: Response
) -> RecordedTransferPublic:
    """Records money received; the same `external_reference` again answers 200 with
    `already_recorded: true` and the first transfer, crediting nothing."""

    def record(session: Session) -> tuple[Transfer, bool]:
        return wallets.top_up_or_replay(
            session,
            app.clock,
            caller,
            org_id=org_id,
            amount_fen=body.amount_fen,
            external_reference=body.external_reference,
            currency=body.currency,
            memo=body.memo,
        )

    return recorded_public(*transact(app.db, record), response)


@router.post("/payouts", status_code=201)
def payout(
    body: PayoutCreate, caller: CurrentPrincipal, app: AppState, response: Response
) -> RecordedTransferPublic:
    """Pays a provider out; the same `external_reference` again answers 200 with
    `already_recorded: true` and the first payout, paying nothing."""
    recorded = transact(
        app.db,
        lambda session: wallets.payout(
            session,
            app.clock,
            caller,
            provider_id=body.provider_id,
            amount_fen=body.amount_fen,
            external_reference=body.external_reference,
            currency=body.currency,
        ),
    )
    return recorded_public(*recorded, response)


@router.post("/refunds", status_code=201)
def refund(
    body: RefundCreate, caller: CurrentPrincipal, app: AppState, key: IdempotencyKeyHeader = None
) -> list[TransferPublic]:
    """Reverses one transfer (wholly or `amount_fen` of it), or a job's whole settlement."""
    if (body.transfer_id is None) == (body.job_id is None):
        raise InvalidInput(
            msg(
                "`transfer_id` 和 `job_id` 须且只能给一个",
                "name exactly one of transfer_id and job_id",
            ),
            field="transfer_id",
        )
    if body.job_id is not None:
        job_id = body.job_id
        done = transact(
            app.db,
            lambda s: wallets.refund_job(s, app.clock, caller, job_id=job_id, reason=body.reason),
        )
        return [transfer_public(t) for t in done]
    transfer_id = body.transfer_id or ""
    one = transact(
        app.db,
        lambda session: wallets.refund(
            session,
            app.clock,
            caller,
            transfer_id=transfer_id,
            reason=body.reason,
            amount_fen=body.amount_fen,
            idempotency_key=key,
        ),
    )
    return [transfer_public(one)]


@router.post("/ledger/holds/expire")
def expire_holds(caller: CurrentPrincipal, app: AppState) -> ExpiredPublic:
    _require_operator(caller)
    return ExpiredPublic(expired=ledger.expire_holds(app.db, app.clock, caller))


# ---------------------------------------------------------------------------------------------
# Reads


@router.get("/wallets/{org_id}/balances")
def balances(org_id: str, caller: CurrentPrincipal, session: DbSession) -> list[AccountPublic]:
    return [account_public(view) for view in wallets.balances(session, caller, org_id)]


@router.get("/wallets/{org_id}/statement")
def wallet_statement(
    org_id: str,
    caller: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    since: datetime | None = None,
    until: datetime | None = None,
) -> PageOf[StatementLinePublic]:
    """The organisation's main account: an enterprise's wallet, a provider's receivable."""
    _require_aware(since, until)
    result = wallets.org_statement(session, caller, org_id, page, since, until)
    return _page(result)


@router.get("/ledger/accounts/{account_id}/statement")
def account_statement(
    account_id: str,
    caller: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    since: datetime | None = None,
    until: datetime | None = None,
) -> PageOf[StatementLinePublic]:
    return _statement(session, caller, account_id, page, since, until)


def _statement(
    session: Session,
    caller: Principal,
    account_id: str,
    page: Page,
    since: datetime | None,
    until: datetime | None,
) -> PageOf[StatementLinePublic]:
    _require_aware(since, until)
    return _page(wallets.statement(session, caller, account_id, page, since, until))


def _require_aware(since: datetime | None, until: datetime | None) -> None:
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(
                msg(
                    f"`{name}` 须带时区，如 2025-07-01T00:00:00+08:00",
                    f"{name} needs a time zone, e.g. 2025-07-01T00:00:00+08:00",
                ),
                field=name,
            )
        if moment is not None:
            check_instant(moment, name)


def _page(result: PageResult[StatementLine]) -> PageOf[StatementLinePublic]:
    items = [line_public(line) for line in result.items]
    return PageOf[StatementLinePublic](
        items=items, total=result.total, offset=result.offset, limit=result.limit
    )


@router.get("/ledger/platform")
def platform_accounts(caller: CurrentPrincipal, session: DbSession) -> list[AccountPublic]:
    return [account_public(view) for view in wallets.platform_balances(session, caller)]


@router.get("/statements/{org_id}/{month}", response_model=None)
def monthly_statement(
    org_id: str,
    month: str,
    caller: CurrentPrincipal,
    session: DbSession,
    format: Annotated[str, Query(pattern="^(json|csv|html)$")] = "json",
) -> Response | dict[str, Any]:
    """One line per job that ended in the month (Beijing time); CSV and printable HTML too."""
    statement = wallets.monthly_statement(session, caller, org_id, month)
    filename = f"statement-{org_id}-{month}"
    if format == "csv":
        return Response(
            wallets.statement_csv(statement),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    if format == "html":  # no script, no outside resource, never framed: like the portal's pages
        return Response(
            wallets.statement_html(statement),
            media_type="text/html; charset=utf-8",
            headers=STATEMENT_HTML_HEADERS,
        )
    return _statement_json(statement)


STATEMENT_HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


def _statement_json(statement: wallets.MonthlyStatement) -> dict[str, Any]:
    lines = [
        {**line.__dict__, "card_hours": line.card_hours, "settled_at": line.settled_at.isoformat()}
        for line in statement.lines
    ]
    return {
        "org_id": statement.org_id,
        "org_name": statement.org_name,
        "month": statement.month,
        "account_id": statement.account_id,
        "period_start": statement.period_start.isoformat(),
        "period_end": statement.period_end.isoformat(),
        "opening_fen": statement.opening_fen,
        "closing_fen": statement.closing_fen,
        "movements_fen": statement.movements_fen,
        "total_amount_fen": statement.total_amount_fen,
        "total_subsidy_fen": statement.total_subsidy_fen,
        "total_payable_fen": statement.total_payable_fen,
        "lines": lines,
    }


@router.get("/ledger/check")
def check(caller: CurrentPrincipal, app: AppState) -> CheckPublic:
    """Rebuilds every balance from the transfers and checks every invariant (operator)."""
    _require_operator(caller)
    return check_public(ledger.run_check(app.db))


class RecordedCheckPublic(CheckPublic):
    id: str
    started_at: datetime
    finished_at: datetime
    requested_by: str
    violation_count: int


@router.post("/ledger/checks", status_code=201)
def record_check(caller: CurrentPrincipal, app: AppState) -> RecordedCheckPublic:
    """Runs the full check and records it: the operator console's ledger status."""
    _require_operator(caller)
    return recorded_check_public(ledger.record_check(app.db, app.clock, caller))


@router.get("/ledger/checks")
def list_checks(
    caller: CurrentPrincipal, session: DbSession, page: PageParams
) -> PageOf[RecordedCheckPublic]:
    """Recorded checks, newest first: the first item is the ledger's current status."""
    result = ledger.list_checks(session, caller, page)
    items = [recorded_check_public(row) for row in result.items]
    return PageOf[RecordedCheckPublic](
        items=items, total=result.total, offset=result.offset, limit=result.limit
    )


def recorded_check_public(row: LedgerCheckRow) -> RecordedCheckPublic:
    return RecordedCheckPublic(
        id=row.id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        requested_by=row.requested_by,
        ok=row.ok,
        accounts_checked=row.accounts_checked,
        transfers_checked=row.transfers_checked,
        holds_checked=row.holds_checked,
        violation_count=row.violation_count,
        violations=[ViolationPublic(**v) for v in row.violations],
    )


def check_public(report: CheckReport) -> CheckPublic:
    return CheckPublic(
        ok=report.ok,
        accounts_checked=report.accounts_checked,
        transfers_checked=report.transfers_checked,
        holds_checked=report.holds_checked,
        violations=[ViolationPublic(**v.__dict__) for v in report.violations],
    )


def _require_operator(caller: Principal) -> None:
    if not caller.is_operator:
        raise PermissionDenied(
            msg("只有平台运营方可以这样做", "only the operator may do this"), field="organisation"
        )
