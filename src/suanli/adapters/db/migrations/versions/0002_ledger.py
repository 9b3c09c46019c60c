"""ledger tables: accounts, immutable transfers, hold states; seeds the platform accounts

Revision ID: 0002_ledger
Revises: 0001_core
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import suanli.adapters.db.types

revision = "0002_ledger"
down_revision = "0001_core"
branch_labels = None
depends_on = None

# Literal copies of suanli.domain.ledger values: a migration must not change when code does.
PLATFORM_ACCOUNTS = (
    ("cny:external_clearing", "external_clearing", 0),
    ("cny:settlement_clearing", "settlement_clearing", 1),
    ("cny:platform_revenue", "platform_revenue", 1),
)
ACCOUNT_KINDS = (
    "'enterprise_wallet','provider_receivable','platform_revenue','external_clearing',"
    "'settlement_clearing','voucher_program_budget','voucher_grant'"
)


def upgrade() -> None:
    accounts = _create_accounts()
    _create_transfers()
    _create_holds()
    now = datetime.now(UTC)
    op.bulk_insert(
        accounts,
        [
            {
                "id": id_,
                "ledger": 156,
                "kind": kind,
                "flags": flags,
                "owner_id": "",
                "reference": "",
                "debits_pending": 0,
                "debits_posted": 0,
                "credits_pending": 0,
                "credits_posted": 0,
                "created_at": now,
            }
            for id_, kind, flags in PLATFORM_ACCOUNTS
        ],
    )


def _create_accounts() -> sa.Table:
    return op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("ledger", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("debits_pending", sa.BigInteger(), nullable=False),
        sa.Column("debits_posted", sa.BigInteger(), nullable=False),
        sa.Column("credits_pending", sa.BigInteger(), nullable=False),
        sa.Column("credits_posted", sa.BigInteger(), nullable=False),
        sa.Column("created_at", suanli.adapters.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(f"kind IN ({ACCOUNT_KINDS})", name="ledger_account_kind"),
        sa.CheckConstraint("flags >= 0 AND flags <= 2", name="ledger_account_flags"),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0"
            " AND credits_posted >= 0",
            name="ledger_account_totals_non_negative",
        ),
        sa.CheckConstraint(
            "debits_pending <= 4611686018427387903 AND debits_posted <= 4611686018427387903"
            " AND credits_pending <= 4611686018427387903 AND credits_posted <= 4611686018427387903",
            name="ledger_account_totals_within_max",
        ),
        sa.CheckConstraint(
            "(flags & 1) = 0 OR debits_pending + debits_posted <= credits_posted",
            name="ledger_account_debits_within_credits",
        ),
        sa.CheckConstraint(
            "(flags & 2) = 0 OR credits_pending + credits_posted <= debits_posted",
            name="ledger_account_credits_within_debits",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ledger", "kind", "owner_id", "reference", name="uq_ledger_account"),
        sa.Index("ix_ledger_accounts_owner", "owner_id"),
    )


def _create_transfers() -> None:
    op.create_table(
        "ledger_transfers",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("ledger", sa.Integer(), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("debit_account_id", sa.String(length=100), nullable=False),
        sa.Column("credit_account_id", sa.String(length=100), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("pending_id", sa.String(length=100), nullable=True),
        sa.Column("timeout_s", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.Column("created_at", suanli.adapters.db.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name="ledger_transfer_amount_positive"),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name="ledger_transfer_two_sides"
        ),
        sa.CheckConstraint("flags IN (0, 1, 2, 4, 8)", name="ledger_transfer_flags"),
        sa.CheckConstraint(
            "(flags IN (2, 4, 8)) = (pending_id IS NOT NULL)", name="ledger_transfer_pending_id"
        ),
        sa.ForeignKeyConstraint(["debit_account_id"], ["ledger_accounts.id"]),
        sa.ForeignKeyConstraint(["credit_account_id"], ["ledger_accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.Index("ix_ledger_transfers_debit", "debit_account_id", "created_at"),
        sa.Index("ix_ledger_transfers_credit", "credit_account_id", "created_at"),
        # Settlement, refunds and statements find transfers by job or original transfer id.
        sa.Index(
            "ix_ledger_transfers_reference",
            "reference",
            sqlite_where=sa.text("reference <> ''"),
            postgresql_where=sa.text("reference <> ''"),
        ),
        sa.Index(
            "uq_ledger_transfers_pending",
            "pending_id",
            unique=True,
            sqlite_where=sa.text("pending_id IS NOT NULL"),
            postgresql_where=sa.text("pending_id IS NOT NULL"),
        ),
    )


def _create_holds() -> None:
    op.create_table(
        "ledger_holds",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("ledger", sa.Integer(), nullable=False),
        sa.Column("code", sa.Integer(), nullable=False),
        sa.Column("debit_account_id", sa.String(length=100), nullable=False),
        sa.Column("credit_account_id", sa.String(length=100), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", suanli.adapters.db.types.UTCDateTime(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("posted_fen", sa.BigInteger(), nullable=False),
        sa.Column("ended_by", sa.String(length=100), nullable=True),
        sa.Column("ended_at", suanli.adapters.db.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending','posted','voided','expired')", name="ledger_hold_state"
        ),
        sa.CheckConstraint("amount_fen > 0", name="ledger_hold_amount_positive"),
        sa.CheckConstraint(
            "posted_fen >= 0 AND posted_fen <= amount_fen", name="ledger_hold_posted_within"
        ),
        sa.CheckConstraint(
            "(state = 'posted') = (posted_fen > 0)", name="ledger_hold_posted_iff_posted_state"
        ),
        sa.CheckConstraint(
            "(state = 'pending') = (ended_by IS NULL)", name="ledger_hold_ended_iff_ended_by"
        ),
        sa.ForeignKeyConstraint(["id"], ["ledger_transfers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ended_by"),
        sa.Index("ix_ledger_holds_state_expiry", "state", "expires_at"),
    )


def downgrade() -> None:
    op.drop_table("ledger_holds")
    op.drop_table("ledger_transfers")
    op.drop_table("ledger_accounts")
