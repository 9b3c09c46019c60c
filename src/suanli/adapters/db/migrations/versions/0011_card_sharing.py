"""card sharing: pools may sell shares of a card; jobs hold one; usage is metered in milli

- pools.shareable (existing pools: true, the default: a pool takes shares of a card unless
  its provider marks it false), pools.cpus_per_node and pools.host_memory_gib_per_node
  (null: not declared, nothing is limited);
- jobs.card_share: the share a fractional job holds, {"node", "card", "milli"} (null for
  whole-card jobs, whose node_cards say what they hold);
- usage_records.milli_card_seconds: what a line is priced on (card-seconds × 1000 for whole
  cards; existing lines are filled so), and usage_records.card_milli (1000 = whole cards).

Revision ID: 0011_card_sharing
Revises: 0017_consoles
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_card_sharing"
down_revision = "0017_consoles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pools", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shareable", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("cpus_per_node", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("host_memory_gib_per_node", sa.Float(), nullable=True))
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_share", sa.JSON(), nullable=True))
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("card_milli", sa.Integer(), nullable=False, server_default="1000")
        )
        batch_op.add_column(
            sa.Column("milli_card_seconds", sa.BigInteger(), nullable=False, server_default="0")
        )
    op.execute("UPDATE usage_records SET milli_card_seconds = card_seconds * 1000")
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_check_constraint(
            "usage_milli_card_seconds_non_negative", "milli_card_seconds >= 0"
        )
        batch_op.create_check_constraint(
            "usage_card_milli_range", "card_milli >= 1 AND card_milli <= 1000"
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_constraint("usage_card_milli_range", type_="check")
        batch_op.drop_constraint("usage_milli_card_seconds_non_negative", type_="check")
        batch_op.drop_column("milli_card_seconds")
        batch_op.drop_column("card_milli")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("card_share")
    with op.batch_alter_table("pools", schema=None) as batch_op:
        batch_op.drop_column("host_memory_gib_per_node")
        batch_op.drop_column("cpus_per_node")
        batch_op.drop_column("shareable")
