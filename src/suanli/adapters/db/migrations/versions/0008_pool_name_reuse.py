"""pool names are unique among live pools only: a deleted pool's name can be used again

The unique constraint (provider_id, name) covered soft-deleted pools too, so re-creating a
pool under a deleted one's name failed inside the database. A partial unique index replaces it.

Revision ID: 0008_pool_name_reuse
Revises: 0007_orphan_lookup
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_pool_name_reuse"
down_revision = "0007_orphan_lookup"
branch_labels = None
depends_on = None

LIVE = sa.text("NOT deleted")


def upgrade() -> None:
    with op.batch_alter_table("pools", schema=None) as batch_op:
        batch_op.drop_constraint("uq_pool_name", type_="unique")
    op.create_index(
        "uq_pool_name_live",
        "pools",
        ["provider_id", "name"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_pool_name_live", table_name="pools")
    # The old constraint covers deleted pools too: a deleted pool takes its id as its name.
    op.execute("UPDATE pools SET name = id WHERE deleted")
    with op.batch_alter_table("pools", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_pool_name", ["provider_id", "name"])
