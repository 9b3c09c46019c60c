"""ledger tables (placeholder until that area lands; filled in by its owner)

Revision ID: 0002_ledger
Revises: 0001_core
"""

revision = "0002_ledger"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
