"""Settlement hooks the job lifecycle calls, all inside the caller's unit of work.

Contract (the job service relies on it):
- `hold_for_job` runs at submit, before the job is queued; it returns the held amount in fen
  and raises LedgerError (with the missing amount) when funds are short.
- `settle_job` runs once per finished run with its metered usage line; it posts the metered
  amount, releases the rest and credits provider and platform fee in one atomic batch.
- `release_job_hold` runs when a job ends without a charge (cancel before start, provider fault).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from suanli.adapters.db.tables import JobRow, UsageRow
from suanli.config import Settings
from suanli.services.common import Clock


def hold_for_job(
    session: Session, settings: Settings, clock: Clock, job: JobRow, max_price_fen_per_card_hour: int
) -> int:
    """Places the job's hold; returns its amount. Skeleton: no ledger yet, so nothing is held."""
    return 0


def settle_job(
    session: Session, settings: Settings, clock: Clock, job: JobRow, usage: UsageRow
) -> None:
    """Posts the metered amount. Skeleton: the usage line itself is the record."""


def release_job_hold(session: Session, settings: Settings, clock: Clock, job: JobRow) -> None:
    """Voids the job's hold. Skeleton: nothing to void."""
