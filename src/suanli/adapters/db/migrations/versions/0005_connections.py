"""cluster connection tables: a provider's Ray or Slurm cluster, credentials encrypted

Revision ID: 0005_connections
Revises: 0004_scenes
"""

import sqlalchemy as sa
from alembic import op

import suanli.adapters.db.types

revision = "0005_connections"
down_revision = "0004_scenes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_connections",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=True),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column("last_checked_at", suanli.adapters.db.types.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("capacity", sa.JSON(), nullable=False),
        sa.Column("created_at", suanli.adapters.db.types.UTCDateTime(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.CheckConstraint("kind IN ('ray','slurm')", name="connection_kind"),
        sa.ForeignKeyConstraint(["provider_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cluster_connections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_connections_provider_id"), ["provider_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cluster_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_connections_provider_id"))
    op.drop_table("cluster_connections")
