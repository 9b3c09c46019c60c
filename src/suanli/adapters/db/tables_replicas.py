"""The scheduler lease: which process leads the scheduling loop, and its fencing epoch."""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from suanli.adapters.db.tables import Base

SCHEDULER_LEASE = "scheduler"


class SchedulerLeaseRow(Base):
    """One row per lease. `epoch` grows by one at every change of holder; a leader's writes
    check it in their own transaction, so a deposed leader's writes fail (services/leadership.py).
    Times are the database's clock in epoch seconds, so the replicas' clocks never matter."""

    __tablename__ = "scheduler_leases"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), default="")
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at_s: Mapped[float] = mapped_column(Float, default=0.0)
