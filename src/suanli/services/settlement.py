"""Settlement hooks the job lifecycle calls, all inside the caller's unit of work.

Contract (the job service relies on it):
- `hold_for_job` runs at submit, before the job is queued; it returns the held amount in fen
  and raises InsufficientFunds (a LedgerError carrying `missing_fen`) when funds are short.
- `settle_job` runs once per finished run with its metered usage line; it posts the metered
  amount (never more than the hold), releases the rest and credits the provider's receivable and
  the platform fee in one atomic batch.
- `release_job_hold` runs when a job ends without a charge (cancel before start, provider fault).

Every transfer id is derived from the job id, so a hook called twice is a replay, never a second
charge (invariants 4 and 10). Money moves: wallet -(hold)-> settlement clearing, which the same
batch that captures it splits into provider receivable and platform revenue; clearing nets to 0.
With vouchers (see services/vouchers.py), each grant holds its expected subsidy beside the
wallet's hold, and the settlement batch posts both before the split.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from suanli.adapters.db.ledger_repo import AccountSpec
from suanli.adapters.db.tables import JobRow, UsageRow
from suanli.adapters.db.tables_vouchers import VoucherRedemptionRow
from suanli.config import Settings
from suanli.domain.jobs import stored_milli_cards
from suanli.domain.ledger import (
    AccountKind,
    InsufficientFunds,
    TransferCode,
    TransferFlags,
    TransferRequest,
    UnknownAccount,
)
from suanli.domain.money import apply_basis_points, price_milli_card_seconds
from suanli.services import ledger, vouchers
from suanli.services.common import Clock


def hold_transfer_id(job_id: str) -> str:
    return f"job:{job_id}:hold"


def max_cost_fen(job: JobRow, max_price_fen_per_card_hour: int) -> int:
    """The most the job can cost: max run time × milli-cards × the highest feasible price."""
    milli_card_seconds = int(job.spec["max_run_time_s"]) * stored_milli_cards(job.spec)
    return price_milli_card_seconds(milli_card_seconds, max_price_fen_per_card_hour)


def _held_fen(job: JobRow, reserved: list[VoucherRedemptionRow]) -> int:
    return job.hold_fen + sum(row.held_fen for row in reserved)


def hold_covers(session: Session, job: JobRow, price_fen_per_card_hour: int) -> bool:
    """Whether the job's holds (wallet and grants) cover its maximum cost at this price. The
    hold was sized at submit by the highest price then; a pool whose price rose since, or a
    dearer pool listed since, may not be covered, and a job must never run on credit."""
    held = _held_fen(job, vouchers.reserved_for_job(session, job.id))
    return max_cost_fen(job, price_fen_per_card_hour) <= held


@dataclass(frozen=True)
class JobHold:
    """What `hold_for_job` will move, worked out before anything is locked."""

    wallet_id: str
    wallet_fen: int
    batch: list[TransferRequest]
    voucher_hold: vouchers.JobVoucherHold | None


def plan_job_hold(session: Session, job: JobRow, max_price_fen_per_card_hour: int) -> JobHold:
    """Reads only: the job's maximum cost, less the subsidy its vouchers expect."""
    amount = max_cost_fen(job, max_price_fen_per_card_hour)
    wallet = ledger.wallet_id(job.owner_id)
    if amount == 0:  # a free pool: nothing to hold, nothing to settle
        return JobHold(wallet, 0, [], None)
    voucher_hold = vouchers.plan_job_hold(session, job, max_price_fen_per_card_hour)
    wallet_fen = amount if voucher_hold is None else voucher_hold.wallet_fen
    batch = []
    if wallet_fen > 0:
        batch.append(
            TransferRequest(
                id=hold_transfer_id(job.id),
                amount_fen=wallet_fen,
                code=TransferCode.JOB_HOLD,
                debit_account_id=wallet,
                credit_account_id=ledger.CLEARING_ACCOUNT_ID,
                flags=TransferFlags.PENDING,
                reference=job.id,
            )
        )
    if voucher_hold is not None:
        batch += vouchers.hold_requests(job, voucher_hold)
    return JobHold(wallet, wallet_fen, batch, voucher_hold)


def apply_job_hold(session: Session, clock: Clock, job: JobRow, hold: JobHold) -> None:
    """Moves the planned hold. The hold's credit side is the one clearing account that every
    submit shares, locked until the commit: callers do this last (profiled: submits queued
    on that lock while the rest of their transaction ran under it)."""
    try:
        if hold.batch:
            ledger.submit(session, clock, hold.batch)
    except UnknownAccount as error:
        if error.account_id != hold.wallet_id:
            raise
        raise InsufficientFunds(hold.wallet_id, hold.wallet_fen) from error  # never topped up
    if hold.voucher_hold is not None:
        vouchers.record_holds(session, clock, job, hold.voucher_hold)


def hold_for_job(
    session: Session,
    settings: Settings,
    clock: Clock,
    job: JobRow,
    max_price_fen_per_card_hour: int,
) -> int:
    """Holds the job's maximum cost, less the subsidy its vouchers expect (reserved on the
    grants in the same batch), on its owner's wallet; returns the amount held on the wallet."""
    hold = plan_job_hold(session, job, max_price_fen_per_card_hour)
    apply_job_hold(session, clock, job, hold)
    return hold.wallet_fen


def settle_job(
    session: Session, settings: Settings, clock: Clock, job: JobRow, usage: UsageRow
) -> None:
    """Captures the metered amount (capped by the holds) and splits it to provider and platform.

    With vouchers, the grants' share (pure domain math) is posted from their holds in the same
    atomic batch as the enterprise's share: the provider is paid in full or nothing moves."""
    reserved = vouchers.reserved_for_job(session, job.id)
    charge_fen = min(usage.amount_fen, _held_fen(job, reserved))
    if charge_fen == 0:  # nothing held (a free pool) or nothing used: every reservation ends
        release_job_hold(session, settings, clock, job)
        return
    split = vouchers.split_for_settlement(session, clock, job, usage, charge_fen, reserved)
    fee_fen = apply_basis_points(split.charge_fen, settings.platform_fee_bp)
    share_fen = split.charge_fen - fee_fen
    receivable = ledger.ensure_account(
        session, clock, AccountSpec(AccountKind.PROVIDER_RECEIVABLE, usage.provider_id)
    )
    # Posts first: clearing receives before it pays out.
    batch = _wallet_capture(job, split.enterprise_fen)
    batch += vouchers.capture_requests(job.id, reserved, split)
    for purpose, code, credit, amount in (
        ("provider", TransferCode.PROVIDER_SHARE, receivable.id, share_fen),
        ("fee", TransferCode.PLATFORM_FEE, ledger.REVENUE_ACCOUNT_ID, fee_fen),
    ):
        if amount > 0:
            batch.append(
                TransferRequest(
                    id=f"job:{job.id}:{purpose}",
                    amount_fen=amount,
                    code=code,
                    debit_account_id=ledger.CLEARING_ACCOUNT_ID,
                    credit_account_id=credit,
                    reference=job.id,
                )
            )
    ledger.submit(session, clock, batch)


def _wallet_capture(job: JobRow, enterprise_fen: int) -> list[TransferRequest]:
    """Posts the enterprise's share of its hold, or voids the hold when vouchers paid it all."""
    if job.hold_fen <= 0:
        return []
    if enterprise_fen <= 0:
        return [_release_request(job)]
    return [
        TransferRequest(
            id=f"job:{job.id}:capture",
            amount_fen=enterprise_fen,
            code=TransferCode.JOB_CAPTURE,
            flags=TransferFlags.POST_PENDING,
            pending_id=hold_transfer_id(job.id),
            reference=job.id,
        )
    ]


def _release_request(job: JobRow) -> TransferRequest:
    return TransferRequest(
        id=f"job:{job.id}:release",
        amount_fen=0,
        code=TransferCode.JOB_RELEASE,
        flags=TransferFlags.VOID_PENDING,
        pending_id=hold_transfer_id(job.id),
        reference=job.id,
    )


def release_job_hold(session: Session, settings: Settings, clock: Clock, job: JobRow) -> None:
    """Voids the job's holds, the wallet's and the grants': the enterprise pays nothing."""
    reserved = vouchers.reserved_for_job(session, job.id)
    batch = [_release_request(job)] if job.hold_fen > 0 else []
    batch += vouchers.release_requests(clock, job.id, reserved)
    # A hold already captured raises HoldAlreadyEnded: releasing after settling is a bug upstream.
    if batch:
        ledger.submit(session, clock, batch)
