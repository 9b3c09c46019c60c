"""replicas: the scheduler lease, a version on jobs, a home for local pools

- scheduler_leases: one row ("scheduler"), holder, fencing epoch, expiry (database clock).
- jobs.version: `queued -> placed` is a compare-and-set on (state, version).
- pools.home: the machine that runs a local pool's jobs.

Revision ID: 0012_replicas
Revises: 0011_card_sharing
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_replicas"
down_revision = "0011_card_sharing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    lease = op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.bulk_insert(lease, [{"name": "scheduler", "holder": "", "epoch": 0, "expires_at_s": 0.0}])
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("pools", schema=None) as batch_op:
        batch_op.add_column(sa.Column("home", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pools", schema=None) as batch_op:
        batch_op.drop_column("home")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("version")
    op.drop_table("scheduler_leases")
