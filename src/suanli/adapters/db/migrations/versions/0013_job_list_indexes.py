"""job list indexes: (owner, submitted_at) and (state, submitted_at)

- ix_jobs_owner_submitted: an enterprise's jobs list is ordered newest first and paged; without
  it PostgreSQL sorts all of the owner's jobs on every page.
- ix_jobs_state_submitted: the scheduler reads the oldest queued jobs (bounded) every round.

Revision ID: 0013_job_list_indexes
Revises: 0012_replicas
"""

from alembic import op

revision = "0013_job_list_indexes"
down_revision = "0012_replicas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_owner_submitted", "jobs", ["owner_id", "submitted_at"])
    op.create_index("ix_jobs_state_submitted", "jobs", ["state", "submitted_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_state_submitted", table_name="jobs")
    op.drop_index("ix_jobs_owner_submitted", table_name="jobs")
