"""job price: the pool's price when the job was placed

- jobs.price_fen_per_card_hour: what the job's usage is priced at. A provider may change a
  pool's price at any time; a change applies to jobs placed afterwards, never to one already
  placed (services/runtime.py `meter`). Null while queued, and for jobs placed before this
  revision (those are priced at the pool's price when they end, as before).

Revision ID: 0014_job_price
Revises: 0013_job_list_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_job_price"
down_revision = "0013_job_list_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("price_fen_per_card_hour", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("price_fen_per_card_hour")
