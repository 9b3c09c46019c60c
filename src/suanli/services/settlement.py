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
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from suanli.adapters.db.ledger_repo import AccountSpec
from suanli.adapters.db.tables import JobRow, UsageRow
from suanli.config import Settings
from suanli.domain.ledger import (
    AccountKind,
    InsufficientFunds,
    TransferCode,
    TransferFlags,
    TransferRequest,
    UnknownAccount,
)
from suanli.domain.money import apply_basis_points, price_card_seconds
from suanli.services import ledger
from suanli.services.common import Clock


def hold_transfer_id(job_id: str) -> str:
    return f"job:{job_id}:hold"


def max_cost_fen(job: JobRow, max_price_fen_per_card_hour: int) -> int:
    """The most the job can cost: max run time × cards × the highest feasible price."""
    card_seconds = int(job.spec["max_run_time_s"]) * int(job.spec["cards"])
    return price_card_seconds(card_seconds, max_price_fen_per_card_hour)


def hold_for_job(
    session: Session,
    settings: Settings,
    clock: Clock,
    job: JobRow,
    max_price_fen_per_card_hour: int,
) -> int:
    """Holds the job's maximum cost on its owner's wallet; returns the amount held."""
    amount = max_cost_fen(job, max_price_fen_per_card_hour)
    if amount == 0:  # a free pool: nothing to hold, nothing to settle
        return 0
    wallet = ledger.wallet_id(job.owner_id)
    request = TransferRequest(
        id=hold_transfer_id(job.id),
        amount_fen=amount,
        code=TransferCode.JOB_HOLD,
        debit_account_id=wallet,
        credit_account_id=ledger.CLEARING_ACCOUNT_ID,
        flags=TransferFlags.PENDING,
        reference=job.id,
    )
    try:
        ledger.submit(session, clock, [request])
    except UnknownAccount as error:
        if error.account_id != wallet:
            raise
        raise InsufficientFunds(wallet, amount) from error  # never topped up: all of it missing
    return amount


def settle_job(
    session: Session, settings: Settings, clock: Clock, job: JobRow, usage: UsageRow
) -> None:
    """Captures the metered amount (capped by the hold) and splits it to provider and platform."""
    if job.hold_fen <= 0:
        return
    charge_fen = min(usage.amount_fen, job.hold_fen)
    if charge_fen == 0:
        release_job_hold(session, settings, clock, job)
        return
    fee_fen = apply_basis_points(charge_fen, settings.platform_fee_bp)
    share_fen = charge_fen - fee_fen
    receivable = ledger.ensure_account(
        session, clock, AccountSpec(AccountKind.PROVIDER_RECEIVABLE, usage.provider_id)
    )
    batch = [
        TransferRequest(
            id=f"job:{job.id}:capture",
            amount_fen=charge_fen,
            code=TransferCode.JOB_CAPTURE,
            flags=TransferFlags.POST_PENDING,
            pending_id=hold_transfer_id(job.id),
            reference=job.id,
        )
    ]
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


def release_job_hold(session: Session, settings: Settings, clock: Clock, job: JobRow) -> None:
    """Voids the job's hold: the enterprise pays nothing for this job."""
    if job.hold_fen <= 0:
        return
    request = TransferRequest(
        id=f"job:{job.id}:release",
        amount_fen=0,
        code=TransferCode.JOB_RELEASE,
        flags=TransferFlags.VOID_PENDING,
        pending_id=hold_transfer_id(job.id),
        reference=job.id,
    )
    # A hold already captured raises HoldAlreadyEnded: releasing after settling is a bug upstream.
    ledger.submit(session, clock, [request])
