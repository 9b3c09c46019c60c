"""orphan runs: runs given up while their cluster was unreachable, cancelled when it returns

Revision ID: 0006_orphan_runs
Revises: 0005_connections
"""

import sqlalchemy as sa
from alembic import op

import suanli.adapters.db.types

revision = "0006_orphan_runs"
down_revision = "0005_connections"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orphan_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("connection_id", sa.String(length=40), nullable=False),
        sa.Column("backend_job_id", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("lost_at", suanli.adapters.db.types.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", suanli.adapters.db.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending','cancelled','adopted','abandoned')", name="orphan_state"
        ),
        sa.ForeignKeyConstraint(["connection_id"], ["cluster_connections.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "backend_job_id", name="uq_orphan_run"),
    )
    with op.batch_alter_table("orphan_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orphan_runs_connection_id"), ["connection_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_orphan_runs_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("orphan_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orphan_runs_job_id"))
        batch_op.drop_index(batch_op.f("ix_orphan_runs_connection_id"))
    op.drop_table("orphan_runs")
