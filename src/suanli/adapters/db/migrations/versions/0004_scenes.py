"""scenario exchange tables (placeholder until that area lands; filled in by its owner)

Revision ID: 0004_scenes
Revises: 0003_vouchers
"""

revision = "0004_scenes"
down_revision = "0003_vouchers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
