"""consoles: recorded ledger checks, and the dashboard's utilisation index

- ledger_checks: each full ledger check the operator runs from the console (when, by whom,
  counts, the first violations), so the console shows the ledger's status without re-running.
- usage_records.ended_at is indexed: the city dashboard reads the usage lines of a window.

Revision ID: 0017_consoles
Revises: 0010_identity
"""

import sqlalchemy as sa
from alembic import op

import suanli.adapters.db.types

revision = "0017_consoles"
down_revision = "0010_identity"
branch_labels = None
depends_on = None

UTC_DT = suanli.adapters.db.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "ledger_checks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("started_at", UTC_DT(), nullable=False),
        sa.Column("finished_at", UTC_DT(), nullable=False),
        sa.Column("requested_by", sa.String(40), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("accounts_checked", sa.BigInteger(), nullable=False),
        sa.Column("transfers_checked", sa.BigInteger(), nullable=False),
        sa.Column("holds_checked", sa.BigInteger(), nullable=False),
        sa.Column("violation_count", sa.Integer(), nullable=False),
        sa.Column("violations", sa.JSON(), nullable=False),
    )
    op.create_index("ix_ledger_checks_started", "ledger_checks", ["started_at"])
    op.create_index("ix_usage_records_ended", "usage_records", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_usage_records_ended", table_name="usage_records")
    op.drop_index("ix_ledger_checks_started", table_name="ledger_checks")
    op.drop_table("ledger_checks")
