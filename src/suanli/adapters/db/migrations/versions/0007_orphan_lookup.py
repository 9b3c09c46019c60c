"""orphan runs of lost submit replies: backend_job_id may be unknown, new state 'absent'

A submit that times out may still have reached the cluster. Its run is recorded with no id,
looked up by the job's id once the cluster answers, and cancelled, or marked 'absent' when
the submit never got through.

Revision ID: 0007_orphan_lookup
Revises: 0006_orphan_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_orphan_lookup"
down_revision = "0006_orphan_runs"
branch_labels = None
depends_on = None

STATES_BEFORE = "'pending','cancelled','adopted','abandoned'"
STATES_AFTER = STATES_BEFORE + ",'absent'"


def upgrade() -> None:
    with op.batch_alter_table("orphan_runs", schema=None) as batch_op:
        batch_op.alter_column("backend_job_id", existing_type=sa.String(length=200), nullable=True)
        batch_op.drop_constraint("orphan_state", type_="check")
        batch_op.create_check_constraint("orphan_state", f"state IN ({STATES_AFTER})")


def downgrade() -> None:
    # Runs of unknown id cannot be kept under the old schema; 'absent' ones all are such.
    op.execute("DELETE FROM orphan_runs WHERE backend_job_id IS NULL OR state = 'absent'")
    with op.batch_alter_table("orphan_runs", schema=None) as batch_op:
        batch_op.alter_column("backend_job_id", existing_type=sa.String(length=200), nullable=False)
        batch_op.drop_constraint("orphan_state", type_="check")
        batch_op.create_check_constraint("orphan_state", f"state IN ({STATES_BEFORE})")
