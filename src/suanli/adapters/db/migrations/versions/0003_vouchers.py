"""voucher tables: programs, applications, grants, per-job redemptions

Revision ID: 0003_vouchers
Revises: 0002_ledger
"""

import sqlalchemy as sa
from alembic import op

import suanli.adapters.db.types

revision = "0003_vouchers"
down_revision = "0002_ledger"
branch_labels = None
depends_on = None

UTC_DATETIME = suanli.adapters.db.types.UTCDateTime


def upgrade() -> None:
    _create_programs()
    _create_applications()
    _create_grants()
    _create_redemptions()


def _create_programs() -> None:
    op.create_table(
        "voucher_programs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("agency_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("budget_fen", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", UTC_DATETIME(), nullable=False),
        sa.Column("valid_until", UTC_DATETIME(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.CheckConstraint(
            "category IN ('compute','model','corpus','smart')", name="voucher_program_category"
        ),
        sa.CheckConstraint("budget_fen > 0", name="voucher_program_budget_positive"),
        sa.CheckConstraint("valid_from < valid_until", name="voucher_program_validity"),
        sa.ForeignKeyConstraint(["agency_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agency_id", "name", name="uq_voucher_program_name"),
    )
    op.create_index("ix_voucher_programs_agency_id", "voucher_programs", ["agency_id"])


def _create_applications() -> None:
    op.create_table(
        "voucher_applications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("enterprise_id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("is_sme", sa.Boolean(), nullable=False),
        sa.Column("region", sa.String(length=200), nullable=False),
        sa.Column("founded_on", sa.Date(), nullable=False),
        sa.Column("bad_credit_on", sa.Date(), nullable=True),
        sa.Column("requested_fen", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("granted_fen", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=40), nullable=True),
        sa.Column("decided_at", UTC_DATETIME(), nullable=True),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending','approved','rejected')", name="voucher_application_state"
        ),
        sa.CheckConstraint("requested_fen > 0", name="voucher_application_requested_positive"),
        sa.ForeignKeyConstraint(["enterprise_id"], ["organisations.id"]),
        sa.ForeignKeyConstraint(["program_id"], ["voucher_programs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_voucher_applications_enterprise_id", "voucher_applications", ["enterprise_id"]
    )
    op.create_index(
        "ix_voucher_applications_program_state", "voucher_applications", ["program_id", "state"]
    )


def _create_grants() -> None:
    op.create_table(
        "voucher_grants",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("enterprise_id", sa.String(length=40), nullable=False),
        sa.Column("application_id", sa.String(length=40), nullable=False),
        sa.Column("quota_fen", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("expired_at", UTC_DATETIME(), nullable=True),
        sa.CheckConstraint("quota_fen > 0", name="voucher_grant_quota_positive"),
        sa.CheckConstraint("state IN ('active','expired')", name="voucher_grant_state"),
        sa.ForeignKeyConstraint(["application_id"], ["voucher_applications.id"]),
        sa.ForeignKeyConstraint(["enterprise_id"], ["organisations.id"]),
        sa.ForeignKeyConstraint(["program_id"], ["voucher_programs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id"),
        sa.UniqueConstraint("application_id"),
        sa.UniqueConstraint("program_id", "enterprise_id", name="uq_voucher_grant"),
    )
    op.create_index("ix_voucher_grants_enterprise_id", "voucher_grants", ["enterprise_id"])


def _create_redemptions() -> None:
    op.create_table(
        "voucher_redemptions",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("grant_id", sa.String(length=40), nullable=False),
        sa.Column("program_id", sa.String(length=40), nullable=False),
        sa.Column("enterprise_id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("held_fen", sa.BigInteger(), nullable=False),
        sa.Column("yearly_spend_fen", sa.BigInteger(), nullable=False),
        sa.Column("ratio_bp", sa.Integer(), nullable=False),
        sa.Column("wanted_fen", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_fen", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_DATETIME(), nullable=False),
        sa.Column("settled_at", UTC_DATETIME(), nullable=True),
        sa.CheckConstraint(
            "state IN ('held','settled','released')", name="voucher_redemption_state"
        ),
        sa.CheckConstraint(
            "held_fen >= 0 AND subsidy_fen >= 0 AND subsidy_fen <= held_fen",
            name="voucher_redemption_within_hold",
        ),
        sa.ForeignKeyConstraint(["grant_id"], ["voucher_grants.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.ForeignKeyConstraint(["program_id"], ["voucher_programs.id"]),
        sa.PrimaryKeyConstraint("job_id", "grant_id"),
    )
    op.create_index(
        "ix_voucher_redemptions_program_state", "voucher_redemptions", ["program_id", "state"]
    )


def downgrade() -> None:
    op.drop_index("ix_voucher_redemptions_program_state", table_name="voucher_redemptions")
    op.drop_table("voucher_redemptions")
    op.drop_index("ix_voucher_grants_enterprise_id", table_name="voucher_grants")
    op.drop_table("voucher_grants")
    op.drop_index("ix_voucher_applications_program_state", table_name="voucher_applications")
    op.drop_index("ix_voucher_applications_enterprise_id", table_name="voucher_applications")
    op.drop_table("voucher_applications")
    op.drop_index("ix_voucher_programs_agency_id", table_name="voucher_programs")
    op.drop_table("voucher_programs")
