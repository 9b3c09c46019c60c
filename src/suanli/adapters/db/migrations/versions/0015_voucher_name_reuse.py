"""voucher program names are unique among an agency's live programs only

The unique constraint (agency_id, name) covered deleted programs too, so a deleted program's
name could never be used again, and the refusal said the agency still had it. A partial unique
index replaces it, as 0008 did for pools.

Revision ID: 0015_voucher_name_reuse
Revises: 0014_job_price
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_voucher_name_reuse"
down_revision = "0014_job_price"
branch_labels = None
depends_on = None

LIVE = sa.text("NOT deleted")


def upgrade() -> None:
    with op.batch_alter_table("voucher_programs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_voucher_program_name", type_="unique")
    op.create_index(
        "uq_voucher_program_name_live",
        "voucher_programs",
        ["agency_id", "name"],
        unique=True,
        postgresql_where=LIVE,
        sqlite_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_voucher_program_name_live", table_name="voucher_programs")
    # The old constraint covers deleted programs too: a deleted program takes its id as its name.
    op.execute("UPDATE voucher_programs SET name = id WHERE deleted")
    with op.batch_alter_table("voucher_programs", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_voucher_program_name", ["agency_id", "name"])
