"""voucher tables (placeholder until that area lands; filled in by its owner)

Revision ID: 0003_vouchers
Revises: 0002_ledger
"""

revision = "0003_vouchers"
down_revision = "0002_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
