"""Wallet operations: top-up, balances, statements, provider payout, refunds, and the monthly
statement per organisation (one line per job) exported as CSV or printable HTML."""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from suanli.adapters.db.database import Database
from suanli.adapters.db.ledger_repo import (
    AccountSpec,
    StatementLine,
    statement_page,
    transact,
    transfers,
)
from suanli.adapters.db.tables import JobRow, OrganisationRow, UsageRow
from suanli.domain.calendar import BEIJING
from suanli.domain.ledger import (
    ENDING_FLAGS,
    LEDGER_CNY,
    TEXT_LENGTH_MAX,
    Account,
    AccountKind,
    Balance,
    InvalidTransfer,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRequest,
    ledger_for_currency,
    require_amount,
    transfer_code_word,
)
from suanli.domain.money import SECONDS_PER_HOUR, format_yuan
from suanli.domain.text import check_date
from suanli.errors import InvalidInput, NotFound, PermissionDenied
from suanli.i18n import Msg, current_language, msg, t
from suanli.services import ledger, vouchers
from suanli.services.common import (
    Clock,
    Page,
    PageResult,
    Principal,
    audit,
    new_id,
    require_ordered_range,
)
from suanli.services.spreadsheets import csv_safe

CHINA_STANDARD_TIME = BEIJING  # statements follow Beijing months
MONTH_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}")  # ASCII digits: no other spelling of a month
MONTHLY_LINES_MAX = 100_000  # one organisation's jobs in a month; beyond this, split the export
SUBSIDY_CODES = (int(TransferCode.VOUCHER_REDEMPTION),)
CSV_COLUMNS = (
    "job_id",
    "job_name",
    "settled_at",
    "pool",
    "accelerator",
    "cards",
    "card_hours",
    "unit_price_fen_per_card_hour",
    "amount_fen",
    "subsidy_fen",
    "subsidy_note",
    "fee_fen",
    "payable_fen",
)


# ---------------------------------------------------------------------------------------------
# Views


@dataclass(frozen=True)
class AccountView:
    account_id: str
    kind: str
    currency: str
    owner_id: str
    posted_fen: int  # credits posted minus debits posted (what the owner has, for these kinds)
    pending_fen: int  # held: debits pending
    available_fen: int  # posted minus held
    incoming_pending_fen: int  # credits pending (e.g. holds waiting to settle into clearing)
    totals: Balance


def account_view(account: Account) -> AccountView:
    balance = account.balance
    return AccountView(
        account_id=account.id,
        kind=account.kind.value,
        currency="CNY" if account.ledger == LEDGER_CNY else str(account.ledger),
        owner_id=account.owner_id,
        posted_fen=balance.credit_balance_fen,
        pending_fen=balance.debits_pending,
        available_fen=balance.available_fen,
        incoming_pending_fen=balance.credits_pending,
        totals=balance,
    )


def empty_wallet(org_id: str) -> AccountView:
    """The view of a wallet that was never funded (it is created by the first top-up)."""
    return AccountView(
        ledger.wallet_id(org_id), "enterprise_wallet", "CNY", org_id, 0, 0, 0, 0, Balance()
    )


# ---------------------------------------------------------------------------------------------
# Access


def _require_operator(caller: Principal, what: Msg) -> None:
    if not caller.is_operator:
        raise PermissionDenied(
            msg(f"只有平台运营方可以{what.zh}", f"only the operator {what.en}"),
            field="organisation",
        )


def _require_org(session: Session, caller: Principal, org_id: str) -> OrganisationRow:
    """The organisation, if the caller may see its money (itself, or the operator)."""
    org = session.get(OrganisationRow, org_id)
    if org is None or (not caller.is_operator and caller.org_id != org_id):
        raise NotFound(
            msg(f"没有机构 {org_id}", f"organisation {org_id} not found"), field="org_id"
        )
    return org


def _require_text(value: str, field: str, *, required: bool = True) -> str:
    cleaned = value.strip()
    if (required and not cleaned) or len(cleaned) > TEXT_LENGTH_MAX:
        raise InvalidInput(
            msg(
                f"`{field}` 须为 1..{TEXT_LENGTH_MAX} 个字符",
                f"{field} must be 1..{TEXT_LENGTH_MAX} characters",
            ),
            field=field,
        )
    return cleaned


# ---------------------------------------------------------------------------------------------
# Top-up, payout, refund


def top_up(
    session: Session,
    clock: Clock,
    caller: Principal,
    *,
    org_id: str,
    amount_fen: int,
    external_reference: str,
    currency: str = "CNY",
    memo: str = "",
) -> Transfer:
    """Records money received for an enterprise (bank transfer, payment gateway): external ->
    wallet. The external reference identifies the payment, so recording it twice is a replay."""
    transfer, _replayed = top_up_or_replay(
        session, clock, caller, org_id=org_id, amount_fen=amount_fen,
        external_reference=external_reference, currency=currency, memo=memo,
    )  # fmt: skip
    return transfer


def top_up_or_replay(
    session: Session,
    clock: Clock,
    caller: Principal,
    *,
    org_id: str,
    amount_fen: int,
    external_reference: str,
    currency: str = "CNY",
    memo: str = "",
) -> tuple[Transfer, bool]:
    """`top_up`, and whether the reference was already in the ledger (nothing credited again).
    That is read under the wallet's row lock: concurrent duplicates queue there, and each
    after the first sees the first one's transfer, so exactly one is told it credited."""
    _require_operator(caller, msg("登记充值", "records top-ups"))
    org = _require_org(session, caller, org_id)
    if org.kind != "enterprise":
        raise InvalidInput(
            msg("只有企业有可充值的钱包", "only an enterprise has a wallet to top up"),
            field="org_id",
        )
    reference = _require_text(external_reference, "external_reference")
    request = TransferRequest(
        id=ledger.derived_transfer_id("topup", reference),
        amount_fen=require_amount(amount_fen),
        code=TransferCode.TOP_UP,
        debit_account_id=ledger.EXTERNAL_ACCOUNT_ID,
        credit_account_id=ledger.wallet_id(org_id),
        ledger=ledger_for_currency(currency),
        reference=reference,
        memo=_require_text(memo, "memo", required=False),
    )
    ledger.ensure_account(session, clock, AccountSpec(AccountKind.ENTERPRISE_WALLET, org_id))
    transfer, replayed = ledger.submit_referenced_once(
        session, clock, request, ledger.wallet_id(org_id)
    )
    if not replayed:
        audit(
            session, clock, caller, "wallet.top_up", transfer.id, about_org=org_id,
            org_id=org_id, amount_fen=amount_fen,
        )  # fmt: skip
    return transfer, replayed


def payout(
    session: Session,
    clock: Clock,
    caller: Principal,
    *,
    provider_id: str,
    amount_fen: int,
    external_reference: str,
    currency: str = "CNY",
) -> tuple[Transfer, bool]:
    """Pays a provider what it is owed: receivable -> external (the bank transfer's reference);
    and whether the reference was already paid (nothing paid again)."""
    _require_operator(caller, msg("给算力提供方结算", "pays providers out"))
    org = _require_org(session, caller, provider_id)
    if org.kind != "provider":
        raise InvalidInput(
            msg("只有算力提供方可以结算提现", "only a provider is paid out"), field="provider_id"
        )
    reference = _require_text(external_reference, "external_reference")
    request = TransferRequest(
        id=ledger.derived_transfer_id("payout", reference),
        amount_fen=require_amount(amount_fen),
        code=TransferCode.PAYOUT,
        debit_account_id=ledger.receivable_id(provider_id),
        credit_account_id=ledger.EXTERNAL_ACCOUNT_ID,
        ledger=ledger_for_currency(currency),
        reference=reference,
    )
    transfer, replayed = ledger.submit_referenced_once(
        session, clock, request, ledger.receivable_id(provider_id)
    )
    if not replayed:
        audit(
            session, clock, caller, "wallet.payout", transfer.id, about_org=provider_id,
            org_id=provider_id, amount_fen=amount_fen,
        )  # fmt: skip
    return transfer, replayed


def refund(
    session: Session,
    clock: Clock,
    caller: Principal,
    *,
    transfer_id: str,
    reason: str,
    amount_fen: int | None = None,
    idempotency_key: str | None = None,
) -> Transfer:
    """Reverses a posted transfer, wholly or in part, by a new transfer the other way
    (invariant 3: nothing is edited). Refunds of one transfer never exceed its amount."""
    _require_operator(caller, msg("退款", "refunds"))
    original = _refundable(session, transfer_id)
    # Lock both accounts before summing earlier refunds: concurrent refunds serialise here.
    ledger.repository(session).accounts(
        [original.debit_account_id, original.credit_account_id], lock=True
    )
    earlier_refunds, refunded_fen = _refunds_of(session, original.id)
    remaining = original.amount_fen - refunded_fen
    amount = remaining if amount_fen is None else require_amount(amount_fen)
    if amount <= 0 or amount > remaining:
        raise InvalidTransfer(
            msg(
                f"{original.id} 最多还能退 {remaining} 分",
                f"at most {remaining} fen of {original.id} can still be refunded",
            ),
            field="amount_fen",
        )
    vouchers.require_refundable(session, original, amount)
    # Without a caller's key, the refund's place in this transfer's refunds names it: both
    # accounts are locked above, so two refunds never see the same count, even at one instant.
    key = idempotency_key or ledger.derived_transfer_id("once", original.id, str(earlier_refunds))
    request = TransferRequest(
        id=ledger.derived_transfer_id("refund", caller.org_id, key),
        amount_fen=amount,
        code=TransferCode.REFUND,
        debit_account_id=original.credit_account_id,
        credit_account_id=original.debit_account_id,
        ledger=original.ledger,
        reference=original.id,
        memo=_require_text(reason, "reason"),
    )
    (transfer,) = ledger.submit(session, clock, [request])
    audit(
        session,
        clock,
        caller,
        "wallet.refund",
        transfer.id,
        original=original.id,
        amount_fen=amount,
    )
    return transfer


def refund_job(
    session: Session, clock: Clock, caller: Principal, *, job_id: str, reason: str
) -> list[Transfer]:
    """Reverses a job's whole settlement in one batch: the provider's share and the fee go
    back to clearing, and clearing pays the wallet back and each voucher grant its subsidy.
    A job is refunded at most once."""
    _require_operator(caller, msg("退款", "refunds"))
    subsidy_parts = vouchers.refund_parts(session, job_id)
    settled_parts = ("capture", "provider", "fee", *subsidy_parts)
    settled = ledger.repository(session).transfers(f"job:{job_id}:{p}" for p in settled_parts)
    capture = settled.get(f"job:{job_id}:capture")
    if capture is None and not subsidy_parts:
        raise NotFound(
            msg(f"作业 {job_id} 没有可退的结算", f"job {job_id} has no settlement to refund"),
            field="job_id",
        )
    note = _require_text(reason, "reason")
    repository = ledger.repository(session)
    # Lock every account first, so a concurrent transfer-by-transfer refund cannot interleave.
    sides = {side for t in settled.values() for side in (t.debit_account_id, t.credit_account_id)}
    repository.accounts(sides, lock=True)
    replayed = repository.transfers(f"job:{job_id}:refund:{part}" for part in settled_parts)
    if not replayed and any(_refunded_fen(session, t.id) for t in settled.values()):
        raise InvalidTransfer(
            msg(
                "这个作业已部分退款，其余部分请逐笔退",
                "part of this job was refunded already; refund the rest transfer by transfer",
            ),
            field="job_id",
        )
    batch = [
        TransferRequest(
            id=f"job:{job_id}:refund:{part}",
            amount_fen=settled[f"job:{job_id}:{part}"].amount_fen,
            code=TransferCode.REFUND,
            debit_account_id=settled[f"job:{job_id}:{part}"].credit_account_id,
            credit_account_id=settled[f"job:{job_id}:{part}"].debit_account_id,
            reference=f"job:{job_id}:{part}",
            memo=note,
        )
        # Clearing is refilled before it pays out.
        for part in ("provider", "fee", "capture", *subsidy_parts)
        if f"job:{job_id}:{part}" in settled
    ]
    done = ledger.submit(session, clock, batch)
    amount = capture.amount_fen if capture else 0
    audit(session, clock, caller, "wallet.refund_job", job_id, amount_fen=amount)
    return done


def demo_top_up(app: HasDatabase, org_id: str, *, amount_fen: int) -> Transfer:
    """Funds an enterprise for demos and tests, as the platform would on a bank transfer."""
    system = Principal(user_id="system", org_id="platform", org_kind="operator")
    reference = f"demo:{org_id}:{new_id('pay')}"

    def work(session: Session) -> Transfer:
        return top_up(
            session,
            app.clock,
            system,
            org_id=org_id,
            amount_fen=amount_fen,
            external_reference=reference,
            memo="demo funding",
        )

    return transact(app.db, work)


class HasDatabase(Protocol):
    db: Database
    clock: Clock


def _refundable(session: Session, transfer_id: str) -> Transfer:
    found = ledger.repository(session).transfers([transfer_id]).get(transfer_id)
    if found is None:
        raise NotFound(
            msg(f"没有转账 {transfer_id}", f"transfer {transfer_id} not found"), field="transfer_id"
        )
    if found.flags & TransferFlags.PENDING or found.flags & (
        ENDING_FLAGS & ~TransferFlags.POST_PENDING
    ):
        raise InvalidTransfer(
            msg(
                "只有已入账的款项可以退款；冻结款项请撤销冻结",
                "only posted money can be refunded; void a hold instead",
            ),
            field="transfer_id",
        )
    if found.code == TransferCode.REFUND:
        raise InvalidTransfer(
            msg("退款不能再退，请另做一笔转账", "a refund is not refunded; make a new transfer"),
            field="transfer_id",
        )
    return found


def _refunds_of(session: Session, transfer_id: str) -> tuple[int, int]:
    """How many refunds a transfer has had, and their fen, in one query."""
    query = select(func.count(), func.coalesce(func.sum(transfers.c.amount_fen), 0)).where(
        transfers.c.code == int(TransferCode.REFUND), transfers.c.reference == transfer_id
    )
    count, fen = session.execute(query).one()
    return int(count), int(fen)


def _refunded_fen(session: Session, transfer_id: str) -> int:
    return _refunds_of(session, transfer_id)[1]


# ---------------------------------------------------------------------------------------------
# Balances and statements


def balances(session: Session, caller: Principal, org_id: str) -> list[AccountView]:
    """Every account the organisation owns, with posted, pending and available amounts."""
    org = _require_org(session, caller, org_id)
    views = [account_view(a) for a in ledger.repository(session).accounts_of(org_id)]
    if org.kind == "enterprise" and not any(v.kind == "enterprise_wallet" for v in views):
        views.insert(0, empty_wallet(org_id))
    return views


def platform_balances(session: Session, caller: Principal) -> list[AccountView]:
    _require_operator(caller, msg("查看平台的账户", "sees the platform's accounts"))
    ids = [ledger.EXTERNAL_ACCOUNT_ID, ledger.CLEARING_ACCOUNT_ID, ledger.REVENUE_ACCOUNT_ID]
    found = ledger.repository(session).accounts(ids)
    return [account_view(found[i]) for i in ids if i in found]


def statement(
    session: Session,
    caller: Principal,
    account_id: str,
    page: Page,
    since: datetime | None = None,
    until: datetime | None = None,
) -> PageResult[StatementLine]:
    """The account's transfers in [since, until), oldest first, one page at a time."""
    account = ledger.repository(session).accounts([account_id]).get(account_id)
    if account is None or not (caller.is_operator or account.owner_id == caller.org_id):
        raise NotFound(
            msg(f"没有账户 {account_id}", f"account {account_id} not found"), field="account_id"
        )
    require_ordered_range(since, until, "since", "until", half_open=True)
    lines, total = statement_page(
        session.connection(), account_id, since, until, page.offset, page.limit
    )
    return PageResult(items=lines, total=total, offset=page.offset, limit=page.limit)


def org_statement(
    session: Session,
    caller: Principal,
    org_id: str,
    page: Page,
    since: datetime | None = None,
    until: datetime | None = None,
) -> PageResult[StatementLine]:
    """The statement of an organisation's main account; empty while it was never used."""
    account_id = main_account_id(session, caller, org_id)
    if not ledger.repository(session).accounts([account_id]):
        return PageResult(items=[], total=0, offset=page.offset, limit=page.limit)
    return statement(session, caller, account_id, page, since, until)


def main_account_id(session: Session, caller: Principal, org_id: str) -> str:
    """The account an organisation's statement is about: a wallet, or a provider's receivable."""
    org = _require_org(session, caller, org_id)
    return ledger.receivable_id(org_id) if org.kind == "provider" else ledger.wallet_id(org_id)


# ---------------------------------------------------------------------------------------------
# The monthly statement


@dataclass(frozen=True)
class MonthlyLine:
    job_id: str
    job_name: str
    settled_at: datetime
    pool: str
    accelerator: str
    cards: int
    card_seconds: int
    unit_price_fen_per_card_hour: int
    amount_fen: int  # what the job cost in all: paid from the wallet plus any subsidy
    subsidy_fen: int  # paid by vouchers (智能券)
    subsidy_note: str  # which voucher paid, or why none did
    fee_fen: int  # the platform's fee out of amount_fen
    payable_fen: int  # enterprise: paid from its wallet; provider: its share after the fee

    @property
    def card_hours(self) -> str:
        # Display only, never money: four decimals show a card-second's worth of precision.
        return str((Decimal(self.card_seconds) / SECONDS_PER_HOUR).quantize(Decimal("0.0001")))


@dataclass(frozen=True)
class MonthlyStatement:
    org_id: str
    org_name: str
    org_kind: str
    month: str  # YYYY-MM, Beijing time
    period_start: datetime
    period_end: datetime
    account_id: str
    opening_fen: int
    closing_fen: int
    movements_fen: dict[str, int]  # transfer code name -> net posted effect on the account
    lines: list[MonthlyLine]

    @property
    def total_amount_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)

    @property
    def total_subsidy_fen(self) -> int:
        return sum(line.subsidy_fen for line in self.lines)

    @property
    def total_payable_fen(self) -> int:
        return sum(line.payable_fen for line in self.lines)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a YYYY-MM month in Beijing time, as aware datetimes."""
    try:
        if not MONTH_PATTERN.fullmatch(month):  # strptime alone takes 2026-1 for January
            raise ValueError(month)
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=CHINA_STANDARD_TIME)
    except ValueError as error:
        raise InvalidInput(
            msg("月份格式须为 2025-07", "month must look like 2025-07"), field="month"
        ) from error
    check_date(start.date(), "month")
    end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start, end


def monthly_statement(
    session: Session, caller: Principal, org_id: str, month: str
) -> MonthlyStatement:
    org = _require_org(session, caller, org_id)
    if org.kind not in ("enterprise", "provider"):
        raise InvalidInput(
            msg(
                "月度对账单只提供给企业和算力提供方",
                "monthly statements are for enterprises and providers",
            ),
            field="org_id",
        )
    start, end = month_bounds(month)
    account_id = main_account_id(session, caller, org_id)
    return MonthlyStatement(
        org_id=org.id,
        org_name=org.name,
        org_kind=org.kind,
        month=month,
        period_start=start,
        period_end=end,
        account_id=account_id,
        opening_fen=_posted_balance_before(session, account_id, start),
        closing_fen=_posted_balance_before(session, account_id, end),
        movements_fen=_movements(session, account_id, start, end),
        lines=_job_lines(session, org, start, end),
    )


_POSTED = (int(TransferFlags.NONE), int(TransferFlags.POST_PENDING))


def _signed_amount(account_id: str) -> Any:
    """Credits add, debits subtract (every account with a statement is credit-normal)."""
    return case(
        (transfers.c.credit_account_id == account_id, transfers.c.amount_fen),
        else_=-transfers.c.amount_fen,
    )


def _touching(account_id: str) -> Any:
    return (transfers.c.debit_account_id == account_id) | (
        transfers.c.credit_account_id == account_id
    )


def _posted_balance_before(session: Session, account_id: str, moment: datetime) -> int:
    query = select(func.coalesce(func.sum(_signed_amount(account_id)), 0)).where(
        _touching(account_id), transfers.c.flags.in_(_POSTED), transfers.c.created_at < moment
    )
    return int(session.execute(query).scalar_one())


def _movements(session: Session, account_id: str, start: datetime, end: datetime) -> dict[str, int]:
    query = (
        select(transfers.c.code, func.sum(_signed_amount(account_id)))
        .where(
            _touching(account_id),
            transfers.c.flags.in_(_POSTED),
            transfers.c.created_at >= start,
            transfers.c.created_at < end,
        )
        .group_by(transfers.c.code)
    )
    return {_code_name(code): int(total) for code, total in session.execute(query)}


def _code_name(code: int) -> str:
    try:
        return TransferCode(code).name.lower()
    except ValueError:
        return str(code)


_JOB_CODES = (
    int(TransferCode.JOB_CAPTURE),
    int(TransferCode.PLATFORM_FEE),
    int(TransferCode.PROVIDER_SHARE),
    *SUBSIDY_CODES,
)


def _job_lines(
    session: Session, org: OrganisationRow, start: datetime, end: datetime
) -> list[MonthlyLine]:
    """One line per job of the organisation that ended in [start, end)."""
    side = UsageRow.owner_id if org.kind == "enterprise" else UsageRow.provider_id
    usage_filter = (side == org.id, UsageRow.ended_at >= start, UsageRow.ended_at < end)
    usage_rows = session.execute(
        select(UsageRow, JobRow.name)
        .join(JobRow, JobRow.id == UsageRow.job_id)
        .where(*usage_filter)
        .order_by(UsageRow.ended_at, UsageRow.job_id)
        .limit(MONTHLY_LINES_MAX)
    ).all()
    money = _job_money(session, usage_filter)
    notes = vouchers.subsidy_notes(session, [usage.job_id for usage, _ in usage_rows])
    return [
        _line(usage, name, org.kind, money.get(usage.job_id, {}), notes.get(usage.job_id, ""))
        for usage, name in usage_rows
    ]


def _job_money(session: Session, usage_filter: tuple[Any, ...]) -> dict[str, dict[int, int]]:
    """Per job, per transfer code, the posted fen that settled it (and any subsidy)."""
    query = (
        select(UsageRow.job_id, transfers.c.code, func.sum(transfers.c.amount_fen))
        .join(transfers, transfers.c.reference == UsageRow.job_id)
        .where(*usage_filter, transfers.c.code.in_(_JOB_CODES), transfers.c.flags.in_(_POSTED))
        .group_by(UsageRow.job_id, transfers.c.code)
    )
    money: dict[str, dict[int, int]] = {}
    for job_id, code, total in session.execute(query):
        money.setdefault(job_id, {})[code] = int(total)
    return money


def _line(
    usage: UsageRow, job_name: str, kind: str, money: dict[int, int], note: str
) -> MonthlyLine:
    captured = money.get(int(TransferCode.JOB_CAPTURE), 0)
    subsidy = sum(money.get(code, 0) for code in SUBSIDY_CODES)
    fee = money.get(int(TransferCode.PLATFORM_FEE), 0)
    amount = captured + subsidy
    payable = captured if kind == "enterprise" else money.get(int(TransferCode.PROVIDER_SHARE), 0)
    return MonthlyLine(
        job_id=usage.job_id,
        job_name=job_name,
        settled_at=usage.ended_at,
        pool=usage.pool_id,
        accelerator=usage.accelerator_model,
        cards=usage.cards,
        card_seconds=usage.card_seconds,
        unit_price_fen_per_card_hour=usage.price_fen_per_card_hour,
        amount_fen=amount,
        subsidy_fen=subsidy,
        # A zero subsidy's note (why) comes from vouchers; one language per statement.
        subsidy_note=note or (t("智能券", "voucher") if subsidy else ""),
        fee_fen=fee,
        payable_fen=payable,
    )


# ---------------------------------------------------------------------------------------------
# Exports


def statement_csv(statement: MonthlyStatement) -> str:
    """One row per job; amounts in integer fen (a spreadsheet divides by 100, never we).

    Machine-readable in every language: the header is the same codes (`CSV_COLUMNS`) whatever
    the reader's language, because spreadsheets and accountants filter and import on them. The
    CSV has no per-movement rows, so no transfer code to word; were one added, it would keep
    the code and put the worded one in a column of its own beside it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in statement.lines:
        writer.writerow(_csv_cells(line))
    return out.getvalue()


def _csv_cells(line: MonthlyLine) -> list[object]:
    """Text as text: a job name such as `=HYPERLINK(...)` must not run as a formula when the
    enterprise's finance team opens the file (numbers stay numbers)."""
    return [
        csv_safe(cell) if isinstance(cell, str) else cell
        for cell in (
            line.job_id,
            line.job_name,
            line.settled_at.astimezone(CHINA_STANDARD_TIME).isoformat(timespec="seconds"),
            line.pool,
            line.accelerator,
            line.cards,
            line.card_hours,
            line.unit_price_fen_per_card_hour,
            line.amount_fen,
            line.subsidy_fen,
            line.subsidy_note,
            line.fee_fen,
            line.payable_fen,
        )
    ]


def statement_html(statement: MonthlyStatement) -> str:
    """A self-contained printable page (A4, no scripts, no external resources), all in the
    reader's language: the movements name why money moved in words (作业扣款 / job charge), not
    as transfer codes; what tenants typed (names, notes) stays as typed."""
    escape = html.escape
    rows = "\n".join(_html_row(line) for line in statement.lines)
    movements = "".join(
        f"<tr><td>{escape(transfer_code_word(code))}</td><td class=n>{format_yuan(fen)}</td></tr>"
        for code, fen in sorted(statement.movements_fen.items())
    )
    labels = {key: escape(t(zh, en)) for key, (zh, en) in _HTML_LABELS.items()}
    heading = t("月度对账单", "monthly statement")
    return _HTML_PAGE.format(
        **labels,
        lang="en" if current_language() == "en" else "zh-CN",
        title=escape(f"{statement.org_name} · {statement.month} {heading}"),
        org=escape(statement.org_name),
        org_id=escape(statement.org_id),
        month=escape(statement.month),
        account=escape(statement.account_id),
        opening=format_yuan(statement.opening_fen),
        closing=format_yuan(statement.closing_fen),
        movements=movements,
        rows=rows,
        total_amount=format_yuan(statement.total_amount_fen),
        total_subsidy=format_yuan(statement.total_subsidy_fen),
        total_payable=format_yuan(statement.total_payable_fen),
    )


def _html_row(line: MonthlyLine) -> str:
    cells = (
        html.escape(line.job_id),
        html.escape(line.job_name),
        line.settled_at.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M"),
        html.escape(line.accelerator),
        str(line.cards),
        line.card_hours,
        format_yuan(line.unit_price_fen_per_card_hour),
        format_yuan(line.amount_fen),
        format_yuan(line.subsidy_fen),
        html.escape(line.subsidy_note),
        format_yuan(line.payable_fen),
    )
    numeric = {4, 5, 6, 7, 8, 10}
    return (
        "<tr>"
        + "".join(
            f"<td class=n>{c}</td>" if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(cells)
        )
        + "</tr>"
    )


_HTML_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<style>
@page {{ size: A4 landscape; margin: 12mm; }}
body {{ font-family: "Noto Sans CJK SC", "PingFang SC", sans-serif; font-size: 11px; color: #111; }}
table {{ border-collapse: collapse; width: 100%; margin-top: 8px; }}
th, td {{ border: 1px solid #999; padding: 3px 5px; }}
th {{ background: #eee; }} td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
tfoot td {{ font-weight: bold; }}
</style></head><body>
<h1>{title}</h1>
<p>{l_org}: {org} ({org_id}) · {l_month}: {month} ({l_beijing}) · {l_account}: {account}</p>
<table><tr><th>{l_opening}</th><td class=n>{opening}</td>
<th>{l_closing}</th><td class=n>{closing}</td></tr></table>
<table><tr><th>{l_movement}</th><th>{l_amount}</th></tr>{movements}</table>
<table><thead><tr><th>{l_job}</th><th>{l_name}</th><th>{l_settled}</th>
<th>{l_accelerator}</th><th>{l_cards}</th><th>{l_card_hours}</th><th>{l_price}</th>
<th>{l_amount}</th><th>{l_subsidy}</th><th>{l_note}</th><th>{l_payable}</th></tr></thead>
<tbody>
{rows}
</tbody>
<tfoot><tr><td colspan=7>{l_total}</td><td class=n>{total_amount}</td>
<td class=n>{total_subsidy}</td><td></td><td class=n>{total_payable}</td></tr></tfoot></table>
</body></html>
"""

# The printable statement's words, in the reader's language (one language per document).
_HTML_LABELS = {
    "l_org": ("机构", "Organisation"),
    "l_month": ("月份", "Month"),
    "l_beijing": ("北京时间", "Beijing time"),
    "l_account": ("账户", "Account"),
    "l_opening": ("期初余额", "Opening balance"),
    "l_closing": ("期末余额", "Closing balance"),
    "l_movement": ("变动", "Movement"),
    "l_amount": ("金额", "Amount"),
    "l_job": ("作业", "Job"),
    "l_name": ("名称", "Name"),
    "l_settled": ("结算时间", "Settled"),
    "l_accelerator": ("加速卡", "Accelerator"),
    "l_cards": ("卡数", "Cards"),
    "l_card_hours": ("卡时", "Card-hours"),
    "l_price": ("单价（元/卡时）", "Price (¥/card-hour)"),
    "l_subsidy": ("补贴", "Subsidy"),
    "l_note": ("补贴说明", "Subsidy note"),
    "l_payable": ("应付", "Payable"),
    "l_total": ("合计", "Total"),
}
