"""Voucher use cases, each inside the caller's unit of work: programs (agencies), funding from
outside, applications and decisions (audited), grants, the hooks settlement calls at a job's
submit and settlement, expiry and reclaim, and agency reports computed from the ledger.

Money moves only through the ledger: external -> program budget (funding), budget -> grant
(approval), grant -(hold at submit)-> settlement clearing -> provider (settlement), clearing ->
grant (refund), grant -> budget (reclaim after the validity ends). The budget and every grant
carry the no-overdraft flag, so no interleaving can pay past either (invariant 11).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from suanli.adapters.db.ledger_repo import AccountSpec, transfers
from suanli.adapters.db.tables import JobRow, OrganisationRow, PoolRow, UsageRow
from suanli.adapters.db.tables_ledger import LedgerAccountRow
from suanli.adapters.db.tables_vouchers import (
    VoucherApplicationRow,
    VoucherGrantRow,
    VoucherProgramRow,
    VoucherRedemptionRow,
)
from suanli.domain.accelerators import get_accelerator
from suanli.domain.ledger import (
    TEXT_LENGTH_MAX,
    Account,
    AccountKind,
    InsufficientFunds,
    InvalidTransfer,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRequest,
)
from suanli.domain.money import price_milli_card_seconds, require_fen
from suanli.domain.scheduling.feasibility import feasible_pools
from suanli.domain.vouchers import (
    BEIJING,
    RATIO_BP_MAX,
    STACKED_PROGRAMS_MAX,
    BudgetShort,
    Category,
    EnterpriseFacts,
    GrantState,
    HoldPlan,
    InvalidProgram,
    Order,
    Program,
    ProgramClosed,
    Redemption,
    Refusal,
    Rules,
    Split,
    SubsidyLine,
    eligibility_refusals,
    plan_hold,
    redeem,
    require_eligible,
    require_no_stacking_conflict,
    require_quota,
    settlement_split,
)
from suanli.errors import Conflict, InvalidInput, LimitExceeded, NotFound, PermissionDenied
from suanli.i18n import Msg, msg, render_stored, stored, t
from suanli.services import ledger
from suanli.services.common import Clock, Page, PageResult, Principal, audit, new_id, paginate
from suanli.services.organisations import are_related
from suanli.services.pools import pool_views
from suanli.services.spreadsheets import append_text_row, csv_safe

JOB_CATEGORY = Category.COMPUTE  # a job is a compute purchase; model and corpus orders come later
REASON_LENGTH_MAX = 500
OVERLAP_CANDIDATES_MAX = 10_000  # programs one validity check reads
EXPIRE_GRANTS_MAX = 1_000  # grants one expiry sweep reclaims; run it again for more
NOTE_QUERY_CHUNK = 1_000  # job ids per IN (...) when a statement asks for notes
REPORT_TRANSFERS_MAX = 10_000_000  # a program's ledger rows one report reads (streamed)
REPORT_GROUPS_MAX = 100_000  # enterprise × provider × accelerator combinations
REFUSED_LISTED_MAX = 500
NO_GRANT_NOTE = msg("无适用算力券", "no voucher grant")
POSTED_FLAGS = (int(TransferFlags.NONE), int(TransferFlags.POST_PENDING))


# ---------------------------------------------------------------------------------------------
# Accounts, ids and conversions


def budget_spec(program: VoucherProgramRow) -> AccountSpec:
    return AccountSpec(AccountKind.VOUCHER_PROGRAM_BUDGET, program.agency_id, program.id)


def grant_spec(program_id: str, enterprise_id: str) -> AccountSpec:
    return AccountSpec(AccountKind.VOUCHER_GRANT, enterprise_id, program_id)


def hold_id(job_id: str, grant_id: str) -> str:
    return f"job:{job_id}:voucher:{grant_id}:hold"


def capture_id(job_id: str, grant_id: str) -> str:
    """The settlement's post of a grant's hold; refunds name it as `voucher:<grant id>`."""
    return f"job:{job_id}:voucher:{grant_id}"


def to_program(row: VoucherProgramRow) -> Program:
    return Program(
        id=row.id,
        agency_id=row.agency_id,
        name=row.name,
        category=Category(row.category),
        budget_fen=row.budget_fen,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        rules=Rules.from_dict(row.rules),
    )


def facts_of(application: VoucherApplicationRow) -> EnterpriseFacts:
    return EnterpriseFacts(
        is_sme=application.is_sme,
        region=application.region,
        founded_on=application.founded_on,
        bad_credit_on=application.bad_credit_on,
    )


def _text(value: str, field_name: str, length_max: int, *, required: bool = True) -> str:
    cleaned = value.strip()
    if (required and not cleaned) or len(cleaned) > length_max:
        raise InvalidInput(
            msg(
                f"`{field_name}` 须为 1..{length_max} 个字符",
                f"{field_name} must be 1..{length_max} characters",
            ),
            field=field_name,
        )
    return cleaned


# ---------------------------------------------------------------------------------------------
# Access


def _require_agency(caller: Principal, what: Msg) -> None:
    if caller.org_kind != "agency":
        raise PermissionDenied(
            msg(f"只有主管部门可以{what.zh}", f"only an agency {what.en}"), field="organisation"
        )


def _program_row(session: Session, program_id: str) -> VoucherProgramRow:
    row = session.get(VoucherProgramRow, program_id)
    if row is None or row.deleted:
        raise NotFound(
            msg(f"没有补贴计划 {program_id}", f"program {program_id} not found"), field="program_id"
        )
    return row


def _owned_program(
    session: Session, caller: Principal, program_id: str, what: Msg, *, operator_too: bool = False
) -> VoucherProgramRow:
    """The program, if the caller's agency owns it (or, where allowed, the caller operates)."""
    if not (operator_too and caller.is_operator):
        _require_agency(caller, what)
    row = _program_row(session, program_id)
    if not caller.is_operator and row.agency_id != caller.org_id:
        raise PermissionDenied(
            msg(
                f"只有补贴计划 {program_id} 所属的主管部门可以{what.zh}",
                f"only the agency that owns program {program_id} {what.en}",
            ),
            field="program_id",
        )
    return row


# ---------------------------------------------------------------------------------------------
# Programs


def create_program(
    session: Session,
    clock: Clock,
    caller: Principal,
    *,
    name: str,
    category: str,
    budget_fen: int,
    valid_from: datetime,
    valid_until: datetime,
    rules: Rules,
) -> VoucherProgramRow:
    """An agency's program; refused if it overlaps another where either forbids stacking."""
    _require_agency(caller, msg("创建补贴计划", "creates voucher programs"))
    program = Program(
        id=new_id("vpr"),
        agency_id=caller.org_id,
        name=name.strip(),
        category=_category(category),
        budget_fen=budget_fen,
        valid_from=valid_from,
        valid_until=valid_until,
        rules=rules,
    )
    require_no_stacking_conflict(program, _overlapping(session, program))
    _require_name_free(session, program)
    row = _program_to_row(program, clock.now())
    session.add(row)
    session.flush()
    ledger.ensure_account(session, clock, budget_spec(row))
    audit(session, clock, caller, "voucher.program_create", row.id, budget_fen=budget_fen)
    return row


def _require_name_free(session: Session, program: Program) -> None:
    """One name per agency among its live programs (a deleted program frees its name, as a
    pool does); `program` itself may keep its own. The same words for create and rename."""
    taken = select(VoucherProgramRow.id).where(
        VoucherProgramRow.agency_id == program.agency_id,
        VoucherProgramRow.name == program.name,
        VoucherProgramRow.deleted.is_(False),
        VoucherProgramRow.id != program.id,
    )
    if session.scalar(taken) is not None:
        raise Conflict(
            msg(
                f"你已有名为 {program.name!r} 的补贴计划",
                f"you already have a program named {program.name!r}",
            ),
            field="name",
        )


def _category(value: str) -> Category:
    try:
        return Category(value)
    except ValueError:
        choices = ", ".join(c.value for c in Category)
        raise InvalidProgram(
            msg(f"类别须为以下之一：{choices}", f"category must be one of {choices}"),
            field="category",
        ) from None


def _program_to_row(program: Program, now: datetime) -> VoucherProgramRow:
    return VoucherProgramRow(
        id=program.id,
        agency_id=program.agency_id,
        name=program.name,
        category=program.category.value,
        budget_fen=program.budget_fen,
        valid_from=program.valid_from,
        valid_until=program.valid_until,
        rules=program.rules.to_dict(),
        deleted=False,
        created_at=now,
    )


def _overlapping(session: Session, program: Program) -> list[Program]:
    """Live programs whose validity overlaps `program`'s (any agency: a contract is one)."""
    query = (
        select(VoucherProgramRow)
        .where(
            VoucherProgramRow.deleted.is_(False),
            VoucherProgramRow.valid_from < program.valid_until,
            VoucherProgramRow.valid_until > program.valid_from,
        )
        .limit(OVERLAP_CANDIDATES_MAX)
    )
    return [to_program(row) for row in session.scalars(query)]


def list_programs(
    session: Session, page: Page, *, agency_id: str | None = None, open_at: datetime | None = None
) -> PageResult[VoucherProgramRow]:
    """Programs are public policy: every organisation may list them (to apply, or to audit).
    Newest first, like challenges, pairs and jobs: what an agency just created is on page one."""
    query = select(VoucherProgramRow).where(VoucherProgramRow.deleted.is_(False))
    if agency_id is not None:
        query = query.where(VoucherProgramRow.agency_id == agency_id)
    if open_at is not None:
        query = query.where(
            VoucherProgramRow.valid_from <= open_at, VoucherProgramRow.valid_until > open_at
        )
    newest_first = (VoucherProgramRow.created_at.desc(), VoucherProgramRow.id.desc())
    return paginate(session, query.order_by(*newest_first), page)


def sees_blacklist(caller: Principal, program: VoucherProgramRow) -> bool:
    """A program's blacklist names enterprises: its agency and the operator read it; other
    callers read only how many it names."""
    return caller.is_operator or program.agency_id == caller.org_id


def get_program(session: Session, program_id: str) -> VoucherProgramRow:
    return _program_row(session, program_id)


def update_program(
    session: Session,
    clock: Clock,
    caller: Principal,
    program_id: str,
    *,
    name: str | None = None,
    blacklist: Sequence[str] | None = None,
) -> VoucherProgramRow:
    """Renames a program or replaces its blacklist; money rules stay as announced."""
    row = _owned_program(session, caller, program_id, msg("修改这个补贴计划", "edits this program"))
    program = to_program(row)
    new_rules = program.rules
    if blacklist is not None:
        new_rules = Rules.from_dict({**program.rules.to_dict(), "blacklist": list(blacklist)})
    updated = Program(
        program.id,
        program.agency_id,
        (name if name is not None else program.name).strip(),
        program.category,
        program.budget_fen,
        program.valid_from,
        program.valid_until,
        new_rules,
    )
    if updated.name != row.name:
        _require_name_free(session, updated)
    row.name, row.rules = updated.name, updated.rules.to_dict()
    session.flush()
    audit(
        session,
        clock,
        caller,
        "voucher.program_update",
        row.id,
        blacklist=list(new_rules.blacklist),
    )
    return row


def delete_program(session: Session, clock: Clock, caller: Principal, program_id: str) -> None:
    """Only a program that no money has touched may go; afterwards, let it expire instead."""
    row = _owned_program(
        session, caller, program_id, msg("删除这个补贴计划", "deletes this program")
    )
    budget = ledger.repository(session).accounts([budget_spec(row).id]).get(budget_spec(row).id)
    if budget is not None and any(budget.balance.totals()):
        raise Conflict(
            msg(
                "这个补贴计划已有资金往来，不能删除",
                "money has moved through this program; it cannot be deleted",
            ),
            field="program_id",
        )
    row.deleted = True
    session.flush()
    audit(session, clock, caller, "voucher.program_delete", row.id)


def fund_program(
    session: Session,
    clock: Clock,
    caller: Principal,
    *,
    program_id: str,
    amount_fen: int,
    external_reference: str,
) -> tuple[Transfer, bool]:
    """Records budget received from the agency's treasury: external -> program budget. The same
    reference twice is one funding (the second answer says it was already recorded); all
    funding together never exceeds the declared budget."""
    row = _owned_program(
        session,
        caller,
        program_id,
        msg("为这个补贴计划注资", "funds this program"),
        operator_too=True,
    )
    reference = _text(external_reference, "external_reference", TEXT_LENGTH_MAX)
    request = TransferRequest(
        id=ledger.derived_transfer_id("vfund", row.id, reference),
        amount_fen=require_fen(amount_fen),
        code=TransferCode.VOUCHER_FUNDING,
        debit_account_id=ledger.EXTERNAL_ACCOUNT_ID,
        credit_account_id=budget_spec(row).id,
        reference=reference,
        memo=f"voucher program {row.id}",
    )
    # Lock the budget first: concurrent fundings then see each other's totals.
    ledger.repository(session).accounts([budget_spec(row).id], lock=True)
    replay = ledger.repository(session).transfers([request.id])
    funded = _funded_fen(session, budget_spec(row).id)
    if not replay and funded + amount_fen > row.budget_fen:
        raise InvalidProgram(
            msg(
                f"注资后将达 {funded + amount_fen} 分，超过预算 {row.budget_fen} 分",
                f"funding would reach {funded + amount_fen} fen, above the budget of "
                f"{row.budget_fen} fen",
            ),
            field="amount_fen",
        )
    transfer = ledger.submit_referenced(session, clock, request)
    if not replay:
        audit(
            session, clock, caller, "voucher.program_fund", row.id, about_org=row.agency_id,
            amount_fen=amount_fen,
        )  # fmt: skip
    return transfer, bool(replay)


def _funded_fen(session: Session, budget_account_id: str) -> int:
    """What the treasury sent, net of what went back to it (a refunded funding): the figure the
    report's totals, its burn-down and the budget cap all use, so they never disagree."""
    external = ledger.EXTERNAL_ACCOUNT_ID
    signed = case(
        (transfers.c.credit_account_id == budget_account_id, transfers.c.amount_fen),
        else_=-transfers.c.amount_fen,
    )
    query = select(func.coalesce(func.sum(signed), 0)).where(
        transfers.c.flags.in_(POSTED_FLAGS),
        or_(
            and_(
                transfers.c.debit_account_id == external,
                transfers.c.credit_account_id == budget_account_id,
            ),
            and_(
                transfers.c.debit_account_id == budget_account_id,
                transfers.c.credit_account_id == external,
            ),
        ),
    )
    return int(session.execute(query).scalar_one())


def require_refundable(session: Session, original: Transfer, amount_fen: int) -> None:
    """What a refund (`POST /v1/refunds`) may do to a program's money. Refunding a funding is
    the treasury's clawback: it takes back only the funded, unallocated budget, never what
    approved grants hold (reserved by jobs or not). A grant, or a reclaim of unused grant
    money, is an agency's decision, not a payment: no refund reverses it. The caller has
    locked the transfer's accounts."""
    if original.code in (TransferCode.VOUCHER_GRANT, TransferCode.VOUCHER_RETURN):
        raise InvalidTransfer(
            msg(
                f"{original.id} 是补贴计划内部的额度划转（发放或收回），不能退款；"
                "额度在计划结束后自动收回预算",
                f"{original.id} moves quota inside a voucher program (a grant or a reclaim) "
                "and is not refunded; unused quota returns to the budget when the program ends",
            ),
            field="transfer_id",
        )
    if original.code != TransferCode.VOUCHER_FUNDING:
        return
    budget = ledger.repository(session).account(original.credit_account_id)
    unallocated = budget.balance.available_fen
    if amount_fen > unallocated:
        raise InvalidTransfer(
            msg(
                f"补贴计划 {budget.reference} 已注资且未分配的只有 {unallocated} 分，"
                f"退不了 {amount_fen} 分：已批给企业的额度不能收回",
                f"program {budget.reference} has {unallocated} fen funded and unallocated, "
                f"so {amount_fen} fen cannot be refunded: approved grants keep their money",
            ),
            field="amount_fen",
            unallocated_fen=unallocated,
        )


@dataclass(frozen=True)
class ProgramTotals:
    """From the ledger: funded = remaining (unallocated) + committed (in grants) + paid."""

    funded_fen: int
    remaining_fen: int
    committed_fen: int
    paid_fen: int


def program_totals(session: Session, row: VoucherProgramRow) -> ProgramTotals:
    budget_id = budget_spec(row).id
    budget = ledger.repository(session).accounts([budget_id]).get(budget_id)
    remaining = budget.balance.credit_balance_fen if budget else 0
    in_grants = select(
        func.coalesce(func.sum(LedgerAccountRow.credits_posted - LedgerAccountRow.debits_posted), 0)
    ).where(
        LedgerAccountRow.reference == row.id,
        LedgerAccountRow.kind == AccountKind.VOUCHER_GRANT.value,
    )
    committed = int(session.execute(in_grants).scalar_one())
    funded = _funded_fen(session, budget_id)
    return ProgramTotals(funded, remaining, committed, funded - remaining - committed)


# ---------------------------------------------------------------------------------------------
# Applications and decisions


def apply(
    session: Session,
    clock: Clock,
    caller: Principal,
    *,
    program_id: str,
    facts: EnterpriseFacts,
    requested_fen: int,
    note: str = "",
) -> VoucherApplicationRow:
    """An enterprise applies, declaring its facts; refused at once if the program has ended or
    its rules exclude the enterprise (with every reason)."""
    if caller.org_kind != "enterprise":
        raise PermissionDenied(
            msg("只有企业可以申请算力券", "only an enterprise applies for vouchers"),
            field="organisation",
        )
    program_row = _program_row(session, program_id)
    program = to_program(program_row)
    facts.require_past(clock.now().astimezone(BEIJING).date())
    require_quota(program, requested_fen, field="requested_fen")
    require_eligible(program, caller.org_id, facts, clock.now())
    open_states = ("pending", "approved")
    existing = select(VoucherApplicationRow.id).where(
        VoucherApplicationRow.program_id == program_id,
        VoucherApplicationRow.enterprise_id == caller.org_id,
        VoucherApplicationRow.state.in_(open_states),
    )
    if session.scalar(existing) is not None:
        raise Conflict(
            msg(
                "你在这个补贴计划中已有待审核的申请",
                "you already have an open application to this program",
            ),
            field="program_id",
        )
    row = _application_row(program_id, caller.org_id, facts, requested_fen, note, clock.now())
    session.add(row)
    session.flush()
    audit(
        session, clock, caller, "voucher.apply", row.id, about_org=program_row.agency_id,
        program_id=program_id, requested_fen=requested_fen,
    )  # fmt: skip
    return row


def _application_row(
    program_id: str,
    enterprise_id: str,
    facts: EnterpriseFacts,
    requested_fen: int,
    note: str,
    now: datetime,
) -> VoucherApplicationRow:
    return VoucherApplicationRow(
        id=new_id("vap"),
        program_id=program_id,
        enterprise_id=enterprise_id,
        state="pending",
        is_sme=facts.is_sme,
        region=facts.region.strip(),
        founded_on=facts.founded_on,
        bad_credit_on=facts.bad_credit_on,
        requested_fen=requested_fen,
        note=_text(note, "note", REASON_LENGTH_MAX, required=False),
        reason="",
        created_at=now,
    )


def _visible_applications(session: Session, caller: Principal) -> Select[Any]:
    query = select(VoucherApplicationRow)
    if caller.is_operator:
        return query
    if caller.org_kind == "agency":
        mine = select(VoucherProgramRow.id).where(VoucherProgramRow.agency_id == caller.org_id)
        return query.where(VoucherApplicationRow.program_id.in_(mine))
    return query.where(VoucherApplicationRow.enterprise_id == caller.org_id)


def list_applications(
    session: Session,
    caller: Principal,
    page: Page,
    *,
    program_id: str | None = None,
    state: str | None = None,
) -> PageResult[VoucherApplicationRow]:
    """An enterprise sees its own; an agency those to its programs; the operator all."""
    query = _visible_applications(session, caller)
    if program_id is not None:
        query = query.where(VoucherApplicationRow.program_id == program_id)
    if state is not None:
        if state not in ("pending", "approved", "rejected"):
            raise InvalidInput(
                msg(
                    "状态须为 `pending`、`approved` 或 `rejected`",
                    "state is pending, approved or rejected",
                ),
                field="state",
            )
        query = query.where(VoucherApplicationRow.state == state)
    order = (VoucherApplicationRow.created_at, VoucherApplicationRow.id)
    return paginate(session, query.order_by(*order), page)


def get_application(
    session: Session, caller: Principal, application_id: str
) -> VoucherApplicationRow:
    query = _visible_applications(session, caller).where(VoucherApplicationRow.id == application_id)
    row = session.scalar(query)
    if row is None:
        raise NotFound(
            msg(f"没有申请 {application_id}", f"application {application_id} not found"),
            field="application_id",
        )
    return row


def enterprise_names(
    session: Session, applications: Sequence[VoucherApplicationRow]
) -> dict[str, str]:
    """The applying enterprises' names by id: one query for a page of applications."""
    return _org_names(session, {application.enterprise_id for application in applications})


def _pending_for_decision(
    session: Session, caller: Principal, application_id: str
) -> tuple[VoucherApplicationRow, VoucherProgramRow]:
    """The owning agency only: neither the operator nor another agency grants public money."""
    _require_agency(caller, msg("审批算力券申请", "decides voucher applications"))
    application = session.get(VoucherApplicationRow, application_id, with_for_update=True)
    if application is None:
        raise NotFound(
            msg(f"没有申请 {application_id}", f"application {application_id} not found"),
            field="application_id",
        )
    program = _program_row(session, application.program_id)
    if program.agency_id != caller.org_id:
        raise PermissionDenied(
            msg(
                "只有补贴计划所属的主管部门可以审批申请",
                "only the agency that owns the program decides its applications",
            ),
            field="application_id",
        )
    if application.state != "pending":
        raise Conflict(
            msg(
                f"申请 {application_id} 已是 `{application.state}` 状态",
                f"application {application_id} is already {application.state}",
            ),
            field="state",
        )
    return application, program


def approve(
    session: Session, clock: Clock, caller: Principal, *, application_id: str, quota_fen: int
) -> VoucherGrantRow:
    """Grants a quota (no larger than the cap) out of the funded, unallocated budget."""
    application, program_row = _pending_for_decision(session, caller, application_id)
    program = to_program(program_row)
    now = clock.now()
    if program.ended_at(now):
        raise ProgramClosed(
            msg(f"补贴计划 {program.id} 已结束", f"program {program.id} has ended"),
            field="application_id",
        )
    refusals = eligibility_refusals(
        program.rules,
        application.enterprise_id,
        facts_of(application),
        now.astimezone(BEIJING).date(),
    )
    if refusals:
        raise InvalidInput(
            msg(
                "企业已不符合条件：" + "；".join(r.text.zh for r in refusals),
                "the enterprise is no longer eligible: " + "; ".join(r.text.en for r in refusals),
            ),
            field="application_id",
            reasons=[r.value for r in refusals],
        )
    require_quota(program, quota_fen)
    grant = _open_grant(session, clock, application, program_row, quota_fen)
    application.state, application.granted_fen = "approved", quota_fen
    application.decided_by, application.decided_at = caller.user_id, now
    session.flush()
    audit(
        session,
        clock,
        caller,
        "voucher.approve",
        application.id,
        about_org=application.enterprise_id,
        grant_id=grant.id,
        quota_fen=quota_fen,
    )
    return grant


def _open_grant(
    session: Session,
    clock: Clock,
    application: VoucherApplicationRow,
    program: VoucherProgramRow,
    quota_fen: int,
) -> VoucherGrantRow:
    """Creates the grant account and moves the quota into it from the budget, whose
    no-overdraft flag refuses an approval beyond the unallocated budget (invariant 11)."""
    spec = grant_spec(program.id, application.enterprise_id)
    ledger.ensure_account(session, clock, spec)
    request = TransferRequest(
        id=f"voucher:grant:{application.id}",
        amount_fen=quota_fen,
        code=TransferCode.VOUCHER_GRANT,
        debit_account_id=budget_spec(program).id,
        credit_account_id=spec.id,
        reference=application.id,
    )
    try:
        ledger.submit(session, clock, [request])
    except InsufficientFunds as error:
        if error.account_id != request.debit_account_id:
            raise
        raise BudgetShort(program.id, quota_fen, quota_fen - error.missing_fen) from error
    # Checked only now, under the grant account's lock: two applications approved at once
    # cannot both open a grant (the loser's transfer rolls back with this error).
    held = select(VoucherGrantRow.id).where(
        VoucherGrantRow.program_id == program.id,
        VoucherGrantRow.enterprise_id == application.enterprise_id,
    )
    if session.scalar(held) is not None:
        raise Conflict(
            msg(
                "这家企业在这个补贴计划中已获发放",
                "this enterprise already holds a grant in this program",
            ),
            field="application_id",
        )
    grant = VoucherGrantRow(
        id=new_id("vgr"),
        program_id=program.id,
        enterprise_id=application.enterprise_id,
        application_id=application.id,
        quota_fen=quota_fen,
        account_id=spec.id,
        state="active",
        created_at=clock.now(),
    )
    session.add(grant)
    return grant


def reject(
    session: Session, clock: Clock, caller: Principal, *, application_id: str, reason: str
) -> VoucherApplicationRow:
    application, _ = _pending_for_decision(session, caller, application_id)
    application.state = "rejected"
    application.reason = _text(reason, "reason", REASON_LENGTH_MAX)
    application.decided_by, application.decided_at = caller.user_id, clock.now()
    session.flush()
    audit(
        session, clock, caller, "voucher.reject", application.id,
        about_org=application.enterprise_id, reason=application.reason,
    )  # fmt: skip
    return application


# ---------------------------------------------------------------------------------------------
# Grants


@dataclass(frozen=True)
class GrantView:
    grant: VoucherGrantRow
    program_name: str
    enterprise_name: str  # who holds the grant, by name beside its id
    balance_fen: int  # posted: what is left of the quota, reserved part included
    reserved_fen: int  # held by jobs not yet settled
    available_fen: int


def list_grants(
    session: Session, caller: Principal, page: Page, *, program_id: str | None = None
) -> PageResult[GrantView]:
    query = select(VoucherGrantRow)
    if caller.org_kind == "agency":
        mine = select(VoucherProgramRow.id).where(VoucherProgramRow.agency_id == caller.org_id)
        query = query.where(VoucherGrantRow.program_id.in_(mine))
    elif not caller.is_operator:
        query = query.where(VoucherGrantRow.enterprise_id == caller.org_id)
    if program_id is not None:
        query = query.where(VoucherGrantRow.program_id == program_id)
    result = paginate(session, query.order_by(VoucherGrantRow.created_at, VoucherGrantRow.id), page)
    views = grant_views(session, result.items)
    return PageResult(items=views, total=result.total, offset=result.offset, limit=result.limit)


def grant_views(session: Session, grants: Sequence[VoucherGrantRow]) -> list[GrantView]:
    """Grants with their balances and names: one query each for a page, however long."""
    accounts = ledger.repository(session).accounts(g.account_id for g in grants)
    query = select(VoucherProgramRow.id, VoucherProgramRow.name).where(
        VoucherProgramRow.id.in_({g.program_id for g in grants})
    )
    program_names = {program_id: name for program_id, name in session.execute(query)}
    org_names = _org_names(session, {g.enterprise_id for g in grants})
    views = []
    for grant in grants:
        balance = accounts[grant.account_id].balance
        views.append(
            GrantView(
                grant,
                program_name=program_names.get(grant.program_id, ""),
                enterprise_name=org_names.get(grant.enterprise_id, ""),
                balance_fen=balance.credit_balance_fen,
                reserved_fen=balance.debits_pending,
                available_fen=balance.available_fen,
            )
        )
    return views


# ---------------------------------------------------------------------------------------------
# Settlement hooks: at submit (hold), at settlement (split), on release and refund


@dataclass(frozen=True)
class _ActiveGrant:
    grant: VoucherGrantRow
    program: Program
    facts: EnterpriseFacts


@dataclass(frozen=True)
class JobVoucherHold:
    """What a job's submit reserves: the enterprise's share and each grant's."""

    plan: HoldPlan
    grants: list[_ActiveGrant]
    yearly_spend_fen: int

    @property
    def wallet_fen(self) -> int:
        return self.plan.wallet_fen


def _active_grants(session: Session, enterprise_id: str, at: datetime) -> list[_ActiveGrant]:
    """The enterprise's grants in programs open at `at` that cover compute, stacking order."""
    query = (
        select(VoucherGrantRow, VoucherProgramRow, VoucherApplicationRow)
        .join(VoucherProgramRow, VoucherProgramRow.id == VoucherGrantRow.program_id)
        .join(VoucherApplicationRow, VoucherApplicationRow.id == VoucherGrantRow.application_id)
        .where(
            VoucherGrantRow.enterprise_id == enterprise_id,
            VoucherGrantRow.state == "active",
            VoucherProgramRow.valid_from <= at,
            VoucherProgramRow.valid_until > at,
        )
        .order_by(VoucherGrantRow.id)
    )
    found = [
        _ActiveGrant(grant, to_program(program), facts_of(application))
        for grant, program, application in session.execute(query)
    ]
    covering = [a for a in found if a.program.category.covers(JOB_CATEGORY)]
    covering.sort(key=lambda a: (a.program.rules.stack_order, a.program.valid_from, a.program.id))
    return covering[:STACKED_PROGRAMS_MAX]


def yearly_spend_fen(session: Session, enterprise_id: str, at: datetime) -> int:
    """What the enterprise bought on the platform this Beijing calendar year, before `at`."""
    year_start = datetime(at.astimezone(BEIJING).year, 1, 1, tzinfo=BEIJING)
    query = select(func.coalesce(func.sum(UsageRow.amount_fen), 0)).where(
        UsageRow.owner_id == enterprise_id, UsageRow.ended_at >= year_start
    )
    return int(session.execute(query).scalar_one())


def plan_job_hold(
    session: Session, job: JobRow, max_price_fen_per_card_hour: int
) -> JobVoucherHold | None:
    """The expected subsidy over every pool the job may land on, each order priced at the
    job's price cap (as the wallet-only hold is): a pool repriced within the cap after the
    submit is still covered. None without a usable grant.

    The orders are priced first, without locks; then the wallet, clearing and grant accounts
    are locked in id order (the order the ledger locks in, so no deadlock) and the grants'
    balances read under the lock: the plan is exact, and the lock is held only briefly."""
    active = _active_grants(session, job.owner_id, job.submitted_at)
    if not active:
        return None
    spend = yearly_spend_fen(session, job.owner_id, job.submitted_at)
    orders = _candidate_orders(session, job, spend, max_price_fen_per_card_hour)
    if not orders:
        return None
    ids = [ledger.wallet_id(job.owner_id), ledger.CLEARING_ACCOUNT_ID]
    locked = ledger.repository(session).accounts(
        ids + [a.grant.account_id for a in active], lock=True
    )
    states = [
        GrantState(a.program, a.grant.id, a.facts, locked[a.grant.account_id].balance.available_fen)
        for a in active
    ]
    return JobVoucherHold(plan_hold(orders, states), active, spend)


@dataclass(frozen=True)
class PoolSubsidy:
    """What one feasible pool's order would cost the enterprise with its grants applied."""

    pool_id: str
    amount_fen: int
    enterprise_fen: int
    lines: tuple[SubsidyLine, ...]


def voucher_quote(
    session: Session, enterprise_id: str, spec: dict[str, Any], at: datetime
) -> list[PoolSubsidy]:
    """Per feasible pool, each active grant's expected subsidy and what the enterprise pays,
    at the job's maximum run time and the pool's price (read without locks); the hold itself
    is priced at the job's cap, so it covers a repricing up to the cap."""
    active = _active_grants(session, enterprise_id, at)
    if not active:
        return []
    draft = JobRow(owner_id=enterprise_id, spec=spec, submitted_at=at)
    orders = _candidate_orders(session, draft, yearly_spend_fen(session, enterprise_id, at))
    balances = ledger.repository(session).accounts(a.grant.account_id for a in active)
    states = [
        GrantState(
            a.program, a.grant.id, a.facts, balances[a.grant.account_id].balance.available_fen
        )
        for a in active
    ]
    pool_ids = _feasible_pool_ids(session, spec)
    quotes = []
    for pool_id, order in zip(pool_ids, orders, strict=True):
        redemption = redeem(order, states)
        quotes.append(
            PoolSubsidy(pool_id, order.amount_fen, redemption.enterprise_fen, redemption.lines)
        )
    return quotes


def _feasible_pool_ids(session: Session, spec: dict[str, Any]) -> list[str]:
    from suanli.services.jobs import spec_from_dict

    return [view.pool.id for view in feasible_pools(spec_from_dict(spec), pool_views(session))]


def _candidate_orders(
    session: Session, job: JobRow, spend_fen: int, price_cap: int | None = None
) -> list[Order]:
    """One order per feasible pool, at the job's maximum run time there, priced at the pool's
    price, or with `price_cap` at the cap over the pools within it (what a hold must cover:
    an enterprise's share only grows with the amount, so the cap's share covers any price
    up to it)."""
    from suanli.services.jobs import spec_from_dict  # jobs imports settlement, which imports us

    spec = spec_from_dict(dict(job.spec))
    if price_cap is not None:
        spec = replace(spec, max_price_fen_per_card_hour=price_cap)
    milli_card_seconds = spec.max_run_time_s * spec.milli_cards
    related: dict[str, bool] = {}
    orders = []
    for view in feasible_pools(spec, pool_views(session)):
        pool = view.pool
        if pool.provider_id not in related:
            related[pool.provider_id] = are_related(session, job.owner_id, pool.provider_id)
        orders.append(
            Order(
                enterprise_id=job.owner_id,
                provider_id=pool.provider_id,
                provider_region=pool.region.label(),
                category=JOB_CATEGORY,
                amount_fen=price_milli_card_seconds(
                    milli_card_seconds,
                    pool.price_fen_per_card_hour if price_cap is None else price_cap,
                ),
                domestic=view.accelerator.domestic,
                at=job.submitted_at,
                yearly_spend_fen=spend_fen,
                related=related[pool.provider_id],
            )
        )
    return orders


def hold_requests(job: JobRow, hold: JobVoucherHold) -> list[TransferRequest]:
    """One pending transfer grant -> clearing per grant that expects to pay something."""
    return [
        TransferRequest(
            id=hold_id(job.id, active.grant.id),
            amount_fen=hold.plan.grant_fen[active.grant.id],
            code=TransferCode.VOUCHER_REDEMPTION,
            debit_account_id=active.grant.account_id,
            credit_account_id=ledger.CLEARING_ACCOUNT_ID,
            flags=TransferFlags.PENDING,
            reference=job.id,
        )
        for active in hold.grants
        if hold.plan.grant_fen[active.grant.id] > 0
    ]


def record_holds(session: Session, clock: Clock, job: JobRow, hold: JobVoucherHold) -> None:
    """A row per grant, even one reserving nothing, so statements can say why."""
    for active in hold.grants:
        best = _best_line(hold.plan.redemptions, active.grant.id)
        session.add(
            VoucherRedemptionRow(
                job_id=job.id,
                grant_id=active.grant.id,
                program_id=active.program.id,
                enterprise_id=job.owner_id,
                state="held",
                held_fen=hold.plan.grant_fen[active.grant.id],
                yearly_spend_fen=hold.yearly_spend_fen,
                ratio_bp=best.ratio_bp if best else 0,
                wanted_fen=best.wanted_fen if best else 0,
                subsidy_fen=0,
                outcome=best.outcome if best else "",
                note=stored(best.note, REASON_LENGTH_MAX) if best else "",
                created_at=clock.now(),
            )
        )
    session.flush()


def _best_line(redemptions: Iterable[Redemption], grant_id: str) -> SubsidyLine | None:
    lines = [line for r in redemptions if (line := r.line_for(grant_id)) is not None]
    return max(lines, key=lambda line: line.subsidy_fen, default=None)


def reserved_for_job(session: Session, job_id: str) -> list[VoucherRedemptionRow]:
    query = (
        select(VoucherRedemptionRow)
        .where(VoucherRedemptionRow.job_id == job_id)
        .order_by(VoucherRedemptionRow.grant_id)
        .limit(STACKED_PROGRAMS_MAX)
    )
    return list(session.scalars(query))


def split_for_settlement(
    session: Session,
    clock: Clock,
    job: JobRow,
    usage: UsageRow,
    charge_fen: int,
    rows: Sequence[VoucherRedemptionRow],
) -> Split:
    """Who pays the charge: the domain's redemption on the pool the job ran on, each grant
    capped by what it reserved at submit. A second call (a replay) returns the first split."""
    if rows and all(row.state == "settled" for row in rows):
        return _recorded_split(job, charge_fen, rows)
    redemption = redeem(
        _settled_order(session, job, usage, charge_fen, rows), _states(session, rows)
    )
    split = settlement_split(charge_fen, redemption, job.hold_fen)
    now = clock.now()
    for row in rows:
        line = redemption.line_for(row.grant_id)
        if line is not None:
            row.ratio_bp, row.wanted_fen, row.subsidy_fen = (
                line.ratio_bp,
                line.wanted_fen,
                line.subsidy_fen,
            )
            row.outcome, row.note = line.outcome, stored(line.note, REASON_LENGTH_MAX)
        row.state, row.settled_at = "settled", now
    session.flush()
    return split


def _recorded_split(job: JobRow, charge_fen: int, rows: Sequence[VoucherRedemptionRow]) -> Split:
    grants = {row.grant_id: row.subsidy_fen for row in rows}
    enterprise = min(charge_fen - sum(grants.values()), job.hold_fen)
    return Split(enterprise + sum(grants.values()), enterprise, grants)


def _settled_order(
    session: Session,
    job: JobRow,
    usage: UsageRow,
    charge_fen: int,
    rows: Sequence[VoucherRedemptionRow],
) -> Order:
    pool = session.get(PoolRow, usage.pool_id)
    return Order(
        enterprise_id=job.owner_id,
        provider_id=usage.provider_id,
        provider_region=pool.region if pool else "",
        category=JOB_CATEGORY,
        amount_fen=charge_fen,
        domestic=get_accelerator(usage.accelerator_model).domestic,
        at=job.submitted_at,  # the order's terms are those of its submit
        yearly_spend_fen=rows[0].yearly_spend_fen if rows else 0,
        related=are_related(session, job.owner_id, usage.provider_id),
    )


def _states(session: Session, rows: Sequence[VoucherRedemptionRow]) -> list[GrantState]:
    """Each grant may pay at most what it reserved; its program's rules are read afresh (a
    blacklisting after submit still refuses)."""
    query = (
        select(VoucherGrantRow.id, VoucherProgramRow, VoucherApplicationRow)
        .join(VoucherProgramRow, VoucherProgramRow.id == VoucherGrantRow.program_id)
        .join(VoucherApplicationRow, VoucherApplicationRow.id == VoucherGrantRow.application_id)
        .where(VoucherGrantRow.id.in_([row.grant_id for row in rows]))
    )
    found = {
        grant_id: (program, application)
        for grant_id, program, application in session.execute(query)
    }
    states = []
    for row in rows:
        if row.grant_id not in found:
            raise NotFound(
                msg(f"发放记录 {row.grant_id} 已不存在", f"grant {row.grant_id} vanished"),
                field="grant_id",
            )
        program, application = found[row.grant_id]
        states.append(
            GrantState(to_program(program), row.grant_id, facts_of(application), row.held_fen)
        )
    return states


def capture_requests(
    job_id: str, rows: Sequence[VoucherRedemptionRow], split: Split
) -> list[TransferRequest]:
    """Posts each grant's share of its hold (the rest returns to the grant) or voids it."""
    requests = []
    for row in rows:
        if row.held_fen <= 0:
            continue
        paid = split.grant_fen.get(row.grant_id, 0)
        requests.append(
            TransferRequest(
                id=capture_id(job_id, row.grant_id)
                if paid
                else capture_id(job_id, row.grant_id) + ":release",
                amount_fen=paid,
                code=TransferCode.VOUCHER_REDEMPTION if paid else TransferCode.VOUCHER_RETURN,
                flags=TransferFlags.POST_PENDING if paid else TransferFlags.VOID_PENDING,
                pending_id=hold_id(job_id, row.grant_id),
                reference=job_id,
            )
        )
    return requests


def release_requests(
    clock: Clock, job_id: str, rows: Sequence[VoucherRedemptionRow]
) -> list[TransferRequest]:
    """Voids every reservation of a job that ends without a charge."""
    requests = []
    for row in rows:
        if row.held_fen > 0:
            requests.append(
                TransferRequest(
                    id=capture_id(job_id, row.grant_id) + ":release",
                    amount_fen=0,
                    code=TransferCode.VOUCHER_RETURN,
                    flags=TransferFlags.VOID_PENDING,
                    pending_id=hold_id(job_id, row.grant_id),
                    reference=job_id,
                )
            )
        row.state, row.settled_at = "released", row.settled_at or clock.now()
    return requests


def refund_parts(session: Session, job_id: str) -> list[str]:
    """The settlement transfers of a job's subsidies, as `job:<id>:<part>` parts for a refund,
    which returns each to its grant."""
    query = select(VoucherRedemptionRow.grant_id).where(
        VoucherRedemptionRow.job_id == job_id,
        VoucherRedemptionRow.state == "settled",
        VoucherRedemptionRow.subsidy_fen > 0,
    )
    return [f"voucher:{grant_id}" for grant_id in session.scalars(query)]


def subsidy_notes(session: Session, job_ids: Sequence[str]) -> dict[str, str]:
    """Per job, what the vouchers paid or why they paid nothing (for statement lines)."""
    notes: dict[str, list[str]] = defaultdict(list)
    paid: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(job_ids), NOTE_QUERY_CHUNK):
        chunk = job_ids[start : start + NOTE_QUERY_CHUNK]
        query = select(
            VoucherRedemptionRow.job_id,
            VoucherRedemptionRow.state,
            VoucherRedemptionRow.subsidy_fen,
            VoucherRedemptionRow.note,
        ).where(VoucherRedemptionRow.job_id.in_(chunk))
        for job_id, state, subsidy, note in session.execute(query):
            # A released reservation's note is what was expected, not what happened.
            shown = render_stored(note)
            notes[job_id].append(shown if state == "settled" else Refusal.NOTHING_TO_PAY.message)
            if subsidy > 0:
                paid[job_id].append(shown)
    return {
        job_id: t("；", "; ").join(
            paid.get(job_id) or sorted(set(notes.get(job_id, [str(NO_GRANT_NOTE)])))
        )
        for job_id in job_ids
    }


# ---------------------------------------------------------------------------------------------
# Expiry and reclaim


@dataclass(frozen=True)
class ExpiryResult:
    grants_expired: int
    reclaimed_fen: int


def expire_grants(session: Session, clock: Clock, caller: Principal) -> ExpiryResult:
    """After a program's validity ends, what its grants hold unused returns to its budget.

    Reservations of jobs still running stay until they settle; the next sweep reclaims what
    they leave, as it does a subsidy a refund returns later."""
    if not (caller.is_operator or caller.org_kind == "agency"):
        raise PermissionDenied(
            msg(
                "只有主管部门或平台运营方可以让发放额度到期",
                "only an agency or the operator expires grants",
            ),
            field="organisation",
        )
    now = clock.now()
    expired = reclaimed = 0
    for grant, program in _due_grants(session, caller, now):
        reclaimed += _reclaim(session, clock, grant, program)
        if grant.state == "active":
            grant.state, grant.expired_at = "expired", now
            expired += 1
    session.flush()
    if expired or reclaimed:  # the runtime sweeps every minute: log changes, not sweeps
        audit(
            session,
            clock,
            caller,
            "voucher.expire",
            "grants",
            grants_expired=expired,
            reclaimed_fen=reclaimed,
        )
    return ExpiryResult(expired, reclaimed)


def _due_grants(
    session: Session, caller: Principal, now: datetime
) -> list[tuple[VoucherGrantRow, VoucherProgramRow]]:
    available = (
        LedgerAccountRow.credits_posted
        - LedgerAccountRow.debits_posted
        - LedgerAccountRow.debits_pending
    )
    query = (
        select(VoucherGrantRow, VoucherProgramRow)
        .join(VoucherProgramRow, VoucherProgramRow.id == VoucherGrantRow.program_id)
        .join(LedgerAccountRow, LedgerAccountRow.id == VoucherGrantRow.account_id)
        .where(
            VoucherProgramRow.valid_until <= now,
            or_(VoucherGrantRow.state == "active", available > 0),
        )
        .order_by(VoucherGrantRow.id)
        .limit(EXPIRE_GRANTS_MAX)
    )
    if not caller.is_operator:
        query = query.where(VoucherProgramRow.agency_id == caller.org_id)
    return list(session.execute(query))


def _reclaim(
    session: Session, clock: Clock, grant: VoucherGrantRow, program: VoucherProgramRow
) -> int:
    budget_id = budget_spec(program).id
    locked = ledger.repository(session).accounts([grant.account_id, budget_id], lock=True)
    account: Account = locked[grant.account_id]
    amount = account.balance.available_fen
    if amount <= 0:
        return 0
    request = TransferRequest(
        # Posted debits only grow, so each reclaim of one grant gets an id of its own.
        id=f"voucher:reclaim:{grant.id}:{account.balance.debits_posted}",
        amount_fen=amount,
        code=TransferCode.VOUCHER_RETURN,
        debit_account_id=grant.account_id,
        credit_account_id=budget_id,
        reference=grant.id,
    )
    ledger.submit(session, clock, [request])
    return amount


# ---------------------------------------------------------------------------------------------
# Reports, from the ledger


@dataclass(frozen=True)
class BurnDownDay:
    day: date  # Beijing
    funded_fen: int  # cumulative at the end of the day, as are the next three
    committed_fen: int
    paid_fen: int
    remaining_fen: int
    paid_on_day_fen: int


@dataclass(frozen=True)
class SubsidyBy:
    key: str
    name: str
    subsidy_fen: int
    orders: int
    domestic: bool | None = None  # vendors only
    share_bp: int = 0  # of the program's total subsidy


@dataclass(frozen=True)
class RefusedReason:
    outcome: str
    orders: int
    wanted_fen: int  # what the ratio alone would have paid


@dataclass(frozen=True)
class RefusedOrder:
    job_id: str
    enterprise_id: str
    outcome: str
    wanted_fen: int
    note: str
    settled_at: datetime | None


@dataclass(frozen=True)
class ProgramReport:
    program_id: str
    program_name: str
    budget_fen: int
    totals: ProgramTotals
    burn_down: list[BurnDownDay]
    by_enterprise: list[SubsidyBy]
    by_provider: list[SubsidyBy]
    by_vendor: list[SubsidyBy]
    domestic_share_bp: int
    refused: list[RefusedReason]
    refused_orders: list[RefusedOrder] = field(default_factory=list)


def program_report(session: Session, caller: Principal, program_id: str) -> ProgramReport:
    """The owning agency's (or the operator's) view of a program, every figure from the ledger
    except the refusals, which are non-events and come from the redemption decisions."""
    row = _owned_program(
        session,
        caller,
        program_id,
        msg("查看这个补贴计划的报表", "reads this program's report"),
        operator_too=True,
    )
    by_enterprise, by_provider, by_vendor = _subsidy_breakdowns(session, row.id)
    total = sum(item.subsidy_fen for item in by_vendor)
    domestic = sum(item.subsidy_fen for item in by_vendor if item.domestic)
    refused, refused_orders = _refusals(session, row.id)
    return ProgramReport(
        program_id=row.id,
        program_name=row.name,
        budget_fen=row.budget_fen,
        totals=program_totals(session, row),
        burn_down=_burn_down(session, row),
        by_enterprise=by_enterprise,
        by_provider=by_provider,
        by_vendor=by_vendor,
        domestic_share_bp=domestic * RATIO_BP_MAX // total if total else 0,
        refused=refused,
        refused_orders=refused_orders,
    )


def _program_accounts(program_id: str) -> Select[Any]:
    return select(LedgerAccountRow.id).where(
        LedgerAccountRow.reference == program_id,
        LedgerAccountRow.kind.in_(
            (AccountKind.VOUCHER_PROGRAM_BUDGET.value, AccountKind.VOUCHER_GRANT.value)
        ),
    )


def _burn_down(session: Session, program: VoucherProgramRow) -> list[BurnDownDay]:
    """Each posted transfer touching the budget or a grant, classified by where money went:
    external -> budget is funding; money leaving both for anywhere else is paid."""
    budget_id = budget_spec(program).id
    ids = _program_accounts(program.id)
    query = (
        select(
            transfers.c.debit_account_id,
            transfers.c.credit_account_id,
            transfers.c.amount_fen,
            transfers.c.created_at,
        )
        .where(
            transfers.c.flags.in_(POSTED_FLAGS),
            or_(transfers.c.debit_account_id.in_(ids), transfers.c.credit_account_id.in_(ids)),
        )
        .order_by(transfers.c.created_at, transfers.c.id)
    )
    days: list[BurnDownDay] = []
    running = _Running(budget_id, set(session.scalars(ids)))
    for count, (debit, credit, amount, at) in enumerate(_stream(session, query), start=1):
        if count > REPORT_TRANSFERS_MAX:
            raise LimitExceeded(
                msg(
                    f"一份报表最多读取 {REPORT_TRANSFERS_MAX} 笔转账",
                    f"a report reads at most {REPORT_TRANSFERS_MAX} transfers",
                )
            )
        day = at.astimezone(BEIJING).date()
        same_day = bool(days) and days[-1].day == day
        if not same_day:
            running.paid_on_day = 0
        running.apply(debit, credit, amount)
        if same_day:
            days[-1] = running.snapshot(day)
        else:
            days.append(running.snapshot(day))
    return days


@dataclass
class _Running:
    budget_id: str
    program_ids: set[str]
    funded: int = 0
    remaining: int = 0
    committed: int = 0
    paid_on_day: int = 0

    def apply(self, debit: str, credit: str, amount: int) -> None:
        before = self.funded - self.remaining - self.committed
        for account_id, sign in ((debit, -1), (credit, 1)):
            if account_id == self.budget_id:
                self.remaining += sign * amount
            elif account_id in self.program_ids:
                self.committed += sign * amount
        if debit == ledger.EXTERNAL_ACCOUNT_ID:
            self.funded += amount
        if credit == ledger.EXTERNAL_ACCOUNT_ID:
            self.funded -= amount
        self.paid_on_day += (self.funded - self.remaining - self.committed) - before

    def snapshot(self, day: date) -> BurnDownDay:
        paid = self.funded - self.remaining - self.committed
        return BurnDownDay(day, self.funded, self.committed, paid, self.remaining, self.paid_on_day)


def _stream(session: Session, query: Select[Any]) -> Iterator[tuple[Any, ...]]:
    result = session.execute(query.execution_options(yield_per=10_000))
    for row in result:
        yield tuple(row)


def _subsidy_breakdowns(
    session: Session, program_id: str
) -> tuple[list[SubsidyBy], list[SubsidyBy], list[SubsidyBy]]:
    """Net subsidy (redemptions less refunds to the grants) per enterprise, provider and
    accelerator vendor, from the ledger's transfers joined with the jobs' usage lines."""
    enterprise: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    provider: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    vendor: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    domestic: dict[str, bool] = {}
    for owner, provider_id, model, amount, orders in _subsidy_groups(session, program_id):
        accelerator = get_accelerator(model)
        domestic[accelerator.vendor] = accelerator.domestic
        for table, key in (
            (enterprise, owner),
            (provider, provider_id),
            (vendor, accelerator.vendor),
        ):
            table[key][0] += amount
            table[key][1] += orders
    names = _org_names(session, set(enterprise) | set(provider))
    total = sum(v[0] for v in vendor.values())
    return (
        _ranked(enterprise, names, total),
        _ranked(provider, names, total),
        _ranked(vendor, {}, total, domestic),
    )


def _ranked(
    table: dict[str, list[int]],
    names: dict[str, str],
    total: int,
    domestic: dict[str, bool] | None = None,
) -> list[SubsidyBy]:
    items = [
        SubsidyBy(
            key=key,
            name=names.get(key, key),
            subsidy_fen=amount,
            orders=orders,
            domestic=domestic.get(key) if domestic is not None else None,
            share_bp=amount * RATIO_BP_MAX // total if total else 0,
        )
        for key, (amount, orders) in table.items()
    ]
    return sorted(items, key=lambda item: (-item.subsidy_fen, item.key))


def _subsidy_groups(session: Session, program_id: str) -> list[tuple[str, str, str, int, int]]:
    grants = aliased(LedgerAccountRow)
    paid = (
        select(
            grants.owner_id,
            UsageRow.provider_id,
            UsageRow.accelerator_model,
            func.sum(transfers.c.amount_fen),
            func.count(),
        )
        .select_from(transfers)
        .join(grants, grants.id == transfers.c.debit_account_id)
        .join(UsageRow, UsageRow.job_id == transfers.c.reference)
        .where(
            grants.reference == program_id,
            grants.kind == AccountKind.VOUCHER_GRANT.value,
            transfers.c.code == int(TransferCode.VOUCHER_REDEMPTION),
            transfers.c.flags == int(TransferFlags.POST_PENDING),
        )
        .group_by(grants.owner_id, UsageRow.provider_id, UsageRow.accelerator_model)
        .limit(REPORT_GROUPS_MAX)
    )
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for owner, provider_id, model, amount, orders in session.execute(paid):
        groups[(owner, provider_id, model)] = [int(amount), int(orders)]
    for owner, provider_id, model, amount in _refund_groups(session, program_id):
        groups[(owner, provider_id, model)][0] -= int(amount)
    return [(*key, amount, orders) for key, (amount, orders) in groups.items()]


def _refund_groups(session: Session, program_id: str) -> list[tuple[str, str, str, int]]:
    grants = aliased(LedgerAccountRow)
    original = transfers.alias("original")
    refunds = (
        select(
            grants.owner_id,
            UsageRow.provider_id,
            UsageRow.accelerator_model,
            func.sum(transfers.c.amount_fen),
        )
        .select_from(transfers)
        .join(grants, grants.id == transfers.c.credit_account_id)
        .join(original, and_(original.c.id == transfers.c.reference))
        .join(UsageRow, UsageRow.job_id == original.c.reference)
        .where(
            grants.reference == program_id,
            grants.kind == AccountKind.VOUCHER_GRANT.value,
            transfers.c.code == int(TransferCode.REFUND),
            original.c.code == int(TransferCode.VOUCHER_REDEMPTION),
        )
        .group_by(grants.owner_id, UsageRow.provider_id, UsageRow.accelerator_model)
        .limit(REPORT_GROUPS_MAX)
    )
    return [tuple(row) for row in session.execute(refunds)]  # type: ignore[misc]


def _org_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    query = select(OrganisationRow.id, OrganisationRow.name).where(OrganisationRow.id.in_(ids))
    return {org_id: name for org_id, name in session.execute(query)}


def _refusals(session: Session, program_id: str) -> tuple[list[RefusedReason], list[RefusedOrder]]:
    refused = and_(
        VoucherRedemptionRow.program_id == program_id,
        VoucherRedemptionRow.state == "settled",
        VoucherRedemptionRow.subsidy_fen == 0,
    )
    summary = (
        select(
            VoucherRedemptionRow.outcome,
            func.count(),
            func.coalesce(func.sum(VoucherRedemptionRow.wanted_fen), 0),
        )
        .where(refused)
        .group_by(VoucherRedemptionRow.outcome)
        .order_by(func.count().desc(), VoucherRedemptionRow.outcome)
    )
    reasons = [RefusedReason(o, int(n), int(w)) for o, n, w in session.execute(summary)]
    latest = (
        select(VoucherRedemptionRow)
        .where(refused)
        .order_by(VoucherRedemptionRow.settled_at.desc(), VoucherRedemptionRow.job_id)
        .limit(REFUSED_LISTED_MAX)
    )
    orders = [
        RefusedOrder(
            r.job_id, r.enterprise_id, r.outcome, r.wanted_fen, render_stored(r.note), r.settled_at
        )
        for r in session.scalars(latest)
    ]
    return reasons, orders


# ---------------------------------------------------------------------------------------------
# Exports: CSV (one section) and XLSX (a sheet per section); amounts in integer fen

REPORT_SECTIONS = ("burn_down", "by_enterprise", "by_provider", "by_vendor", "refused")


def report_rows(report: ProgramReport, section: str) -> list[list[Any]]:
    """A header row, then one row per item of the section."""
    if section == "burn_down":
        header = [
            "day",
            "funded_fen",
            "committed_fen",
            "paid_fen",
            "remaining_fen",
            "paid_on_day_fen",
        ]
        return [header] + [
            [
                d.day.isoformat(),
                d.funded_fen,
                d.committed_fen,
                d.paid_fen,
                d.remaining_fen,
                d.paid_on_day_fen,
            ]
            for d in report.burn_down
        ]
    if section in ("by_enterprise", "by_provider", "by_vendor"):
        items: list[SubsidyBy] = getattr(report, section)
        header = ["key", "name", "subsidy_fen", "orders", "share_bp", "domestic"]
        return [header] + [
            [
                i.key,
                i.name,
                i.subsidy_fen,
                i.orders,
                i.share_bp,
                "" if i.domestic is None else i.domestic,
            ]
            for i in items
        ]
    if section == "refused":
        header = ["outcome", "orders", "wanted_fen"]
        return [header] + [[r.outcome, r.orders, r.wanted_fen] for r in report.refused]
    raise InvalidInput(
        msg(
            f"报表部分须为以下之一：{'、'.join(REPORT_SECTIONS)}",
            f"section must be one of {', '.join(REPORT_SECTIONS)}",
        ),
        field="section",
    )


def report_csv(report: ProgramReport, section: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in report_rows(report, section):  # numbers as they are; text never as a formula
        writer.writerow([csv_safe(cell) if isinstance(cell, str) else cell for cell in row])
    return out.getvalue()


def report_xlsx(report: ProgramReport) -> bytes:
    workbook = Workbook()
    summary = workbook.active
    if summary is None:  # pragma: no cover - a new workbook always has a sheet
        summary = workbook.create_sheet()
    summary.title = "summary"
    totals = report.totals
    for row in (
        ["program_id", report.program_id],
        ["program_name", report.program_name],
        ["budget_fen", report.budget_fen],
        ["funded_fen", totals.funded_fen],
        ["committed_fen", totals.committed_fen],
        ["paid_fen", totals.paid_fen],
        ["remaining_fen", totals.remaining_fen],
        ["domestic_share_bp", report.domestic_share_bp],
    ):
        append_text_row(summary, row)
    for section in REPORT_SECTIONS:
        sheet = workbook.create_sheet(section)
        for row in report_rows(report, section):
            append_text_row(sheet, row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
