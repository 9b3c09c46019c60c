"""Voucher tables: programs (rules as JSON), applications, grants, and per-job redemptions.

Money never lives here: budgets and grants are ledger accounts. These rows hold the decisions
(who applied, who approved, which rule bound on which job) that the ledger cannot explain.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from suanli.adapters.db.tables import Base

CATEGORIES_SQL = "'compute','model','corpus','smart'"
OPEN_APPLICATION_SQL = "state IN ('pending','approved')"


class VoucherProgramRow(Base):
    __tablename__ = "voucher_programs"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(10))
    budget_fen: Mapped[int] = mapped_column(BigInteger)
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    __table_args__ = (
        CheckConstraint(f"category IN ({CATEGORIES_SQL})", name="voucher_program_category"),
        CheckConstraint("budget_fen > 0", name="voucher_program_budget_positive"),
        CheckConstraint("valid_from < valid_until", name="voucher_program_validity"),
        # Only among live programs: a deleted program's name may be used again.
        Index(
            "uq_voucher_program_name_live",
            "agency_id",
            "name",
            unique=True,
            postgresql_where=text("NOT deleted"),
            sqlite_where=text("NOT deleted"),
        ),
    )


class VoucherApplicationRow(Base):
    __tablename__ = "voucher_applications"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("voucher_programs.id"))
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    state: Mapped[str] = mapped_column(String(10))
    is_sme: Mapped[bool] = mapped_column(Boolean)
    region: Mapped[str] = mapped_column(String(200))
    founded_on: Mapped[date] = mapped_column(Date)
    bad_credit_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    requested_fen: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text, default="")
    granted_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    __table_args__ = (
        CheckConstraint(
            "state IN ('pending','approved','rejected')", name="voucher_application_state"
        ),
        CheckConstraint("requested_fen > 0", name="voucher_application_requested_positive"),
        Index("ix_voucher_applications_program_state", "program_id", "state"),
        # One open application per enterprise and program, whatever requests race.
        Index(
            "uq_voucher_application_open",
            "program_id",
            "enterprise_id",
            unique=True,
            postgresql_where=text(OPEN_APPLICATION_SQL),
            sqlite_where=text(OPEN_APPLICATION_SQL),
        ),
    )


class VoucherGrantRow(Base):
    """One per enterprise per program: the program's money set aside for it is a ledger account."""

    __tablename__ = "voucher_grants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("voucher_programs.id"))
    enterprise_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    application_id: Mapped[str] = mapped_column(ForeignKey("voucher_applications.id"), unique=True)
    quota_fen: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[str] = mapped_column(String(100), unique=True)
    state: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime]
    expired_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (
        UniqueConstraint("program_id", "enterprise_id", name="uq_voucher_grant"),
        CheckConstraint("quota_fen > 0", name="voucher_grant_quota_positive"),
        CheckConstraint("state IN ('active','expired')", name="voucher_grant_state"),
    )


class VoucherRedemptionRow(Base):
    """What one grant reserved at a job's submit, and what it paid (or why not) at settlement."""

    __tablename__ = "voucher_redemptions"
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("voucher_grants.id"), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("voucher_programs.id"))
    enterprise_id: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(10))
    held_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    yearly_spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # frozen at submit
    ratio_bp: Mapped[int] = mapped_column(Integer, default=0)
    wanted_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    outcome: Mapped[str] = mapped_column(String(40), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    __table_args__ = (
        CheckConstraint("state IN ('held','settled','released')", name="voucher_redemption_state"),
        CheckConstraint(
            "held_fen >= 0 AND subsidy_fen >= 0 AND subsidy_fen <= held_fen",
            name="voucher_redemption_within_hold",
        ),
        Index("ix_voucher_redemptions_program_state", "program_id", "state"),
    )
