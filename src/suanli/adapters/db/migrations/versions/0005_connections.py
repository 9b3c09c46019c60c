"""cluster connection tables (placeholder until that area lands; filled in by its owner)

Revision ID: 0005_connections
Revises: 0004_scenes
"""

revision = "0005_connections"
down_revision = "0004_scenes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
