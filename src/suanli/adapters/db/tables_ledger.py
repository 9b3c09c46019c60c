"""Ledger tables: accounts with four running totals, immutable transfers, hold states.

The CHECK and UNIQUE constraints repeat the domain's rules as the last line of defence: even a
buggy writer cannot overdraw an account, end a hold twice or reuse a transfer id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from suanli.adapters.db.tables import Base

ACCOUNT_KINDS_SQL = (
    "'enterprise_wallet','provider_receivable','platform_revenue','external_clearing',"
    "'settlement_clearing','voucher_program_budget','voucher_grant'"
)
HOLD_STATES_SQL = "'pending','posted','voided','expired'"


class LedgerAccountRow(Base):
    __tablename__ = "ledger_accounts"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    ledger: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40))
    flags: Mapped[int] = mapped_column(Integer, default=0)
    owner_id: Mapped[str] = mapped_column(String(40), default="")
    reference: Mapped[str] = mapped_column(String(100), default="")
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("ledger", "kind", "owner_id", "reference", name="uq_ledger_account"),
        CheckConstraint(f"kind IN ({ACCOUNT_KINDS_SQL})", name="ledger_account_kind"),
        CheckConstraint("flags >= 0 AND flags <= 2", name="ledger_account_flags"),
        CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0"
            " AND credits_posted >= 0",
            name="ledger_account_totals_non_negative",
        ),
        CheckConstraint(
            "debits_pending <= 4611686018427387903 AND debits_posted <= 4611686018427387903"
            " AND credits_pending <= 4611686018427387903 AND credits_posted <= 4611686018427387903",
            name="ledger_account_totals_within_max",
        ),
        CheckConstraint(
            "(flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted",
            name="ledger_account_debits_within_credits",
        ),
        CheckConstraint(
            "(flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted",
            name="ledger_account_credits_within_debits",
        ),
        Index("ix_ledger_accounts_owner", "owner_id"),
    )


class LedgerTransferRow(Base):
    """Append-only (invariant 3): nothing updates or deletes a row here."""

    __tablename__ = "ledger_transfers"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # the client's idempotency id
    ledger: Mapped[int] = mapped_column(Integer)
    code: Mapped[int] = mapped_column(Integer)
    flags: Mapped[int] = mapped_column(Integer, default=0)
    debit_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    credit_account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    pending_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    timeout_s: Mapped[int] = mapped_column(Integer, default=0)
    reference: Mapped[str] = mapped_column(String(200), default="")
    memo: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="ledger_transfer_amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="ledger_transfer_two_sides"),
        CheckConstraint("flags IN (0, 1, 2, 4, 8)", name="ledger_transfer_flags"),
        CheckConstraint(
            "(flags IN (2, 4, 8)) = (pending_id IS NOT NULL)", name="ledger_transfer_pending_id"
        ),
        Index("ix_ledger_transfers_debit", "debit_account_id", "created_at"),
        Index("ix_ledger_transfers_credit", "credit_account_id", "created_at"),
        # Settlement, refunds and statements find transfers by job or original transfer id.
        Index(
            "ix_ledger_transfers_reference",
            "reference",
            sqlite_where=text("reference <> ''"),
            postgresql_where=text("reference <> ''"),
        ),
        # A hold is ended by at most one transfer (invariant 5), whatever the writer does.
        Index(
            "uq_ledger_transfers_pending",
            "pending_id",
            unique=True,
            sqlite_where=text("pending_id IS NOT NULL"),
            postgresql_where=text("pending_id IS NOT NULL"),
        ),
    )


class LedgerHoldRow(Base):
    """The state of one pending transfer; its `id` is that transfer's id."""

    __tablename__ = "ledger_holds"
    id: Mapped[str] = mapped_column(ForeignKey("ledger_transfers.id"), primary_key=True)
    ledger: Mapped[int] = mapped_column(Integer)
    code: Mapped[int] = mapped_column(Integer)
    debit_account_id: Mapped[str] = mapped_column(String(100))
    credit_account_id: Mapped[str] = mapped_column(String(100))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    posted_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    ended_by: Mapped[str | None] = mapped_column(String(100), nullable=True, unique=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (
        CheckConstraint(f"state IN ({HOLD_STATES_SQL})", name="ledger_hold_state"),
        CheckConstraint("amount_fen > 0", name="ledger_hold_amount_positive"),
        CheckConstraint(
            "posted_fen >= 0 AND posted_fen <= amount_fen", name="ledger_hold_posted_within"
        ),
        CheckConstraint(
            "(state = 'posted') = (posted_fen > 0)", name="ledger_hold_posted_iff_posted_state"
        ),
        CheckConstraint(
            "(state = 'pending') = (ended_by IS NULL)", name="ledger_hold_ended_iff_ended_by"
        ),
        Index("ix_ledger_holds_state_expiry", "state", "expires_at"),
    )


class LedgerCheckRow(Base):
    """One run of the full ledger check asked for by the operator (the console's status):
    when, by whom, what it counted and the first violations it found."""

    __tablename__ = "ledger_checks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    requested_by: Mapped[str] = mapped_column(String(40))
    ok: Mapped[bool] = mapped_column(Boolean)
    accounts_checked: Mapped[int] = mapped_column(BigInteger)
    transfers_checked: Mapped[int] = mapped_column(BigInteger)
    holds_checked: Mapped[int] = mapped_column(BigInteger)
    violation_count: Mapped[int] = mapped_column(Integer)
    violations: Mapped[list[Any]] = mapped_column(JSON, default=list)  # the first few only
    __table_args__ = (Index("ix_ledger_checks_started", "started_at"),)
