"""hardening: idempotency claims, one open voucher application, reviewed cluster connections

- idempotency_keys: a key is claimed (state "claimed", no response yet) before the work runs,
  so concurrent duplicates cannot both run it.
- voucher_applications: one open (pending or approved) application per enterprise and program,
  as a partial unique index; older duplicates a race left behind are closed first.
- cluster_connections: a review state (a provider's new connection waits for the operator)
  and the cluster's canonical key, unique among live connections, so one cluster cannot be
  sold by two providers.

Revision ID: 0009_hardening
Revises: 0008_pool_name_reuse
"""

import sqlalchemy as sa
from alembic import op

import suanli.adapters.db.types
from suanli.adapters.backends.cluster_identity import cluster_key
from suanli.domain.text import first_bad_character

revision = "0009_hardening"
down_revision = "0008_pool_name_reuse"
branch_labels = None
depends_on = None

OPEN_APPLICATION = sa.text("state IN ('pending','approved')")
LIVE_CONNECTION = sa.text("NOT deleted AND review_state <> 'rejected'")


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=10), nullable=False, server_default="done")
        )
        batch_op.alter_column("status_code", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("response", existing_type=sa.JSON(), nullable=True)
    _clean_stored_scene_text()
    _close_duplicate_applications()
    op.create_index(
        "uq_voucher_application_open",
        "voucher_applications",
        ["program_id", "enterprise_id"],
        unique=True,
        postgresql_where=OPEN_APPLICATION,
        sqlite_where=OPEN_APPLICATION,
    )
    _review_connections()


SCENE_TEXT_COLUMNS = ("title", "description", "org_name", "region", "contact")


def _clean_stored_scene_text() -> None:
    """Scene items are rebuilt as domain objects, which now refuse control characters: text
    stored before the rule gets U+FFFD in their place, as the spreadsheet export already did."""
    bind = op.get_bind()
    for table in ("scene_opportunities", "scene_capabilities"):
        columns = ", ".join(SCENE_TEXT_COLUMNS)
        for row in bind.execute(sa.text(f"SELECT id, {columns} FROM {table}")).fetchall():
            stored = dict(zip(SCENE_TEXT_COLUMNS, row[1:], strict=True))
            cleaned = {name: _clean(value) for name, value in stored.items()}
            if cleaned != stored:
                assignments = ", ".join(f"{name} = :{name}" for name in SCENE_TEXT_COLUMNS)
                bind.execute(
                    sa.text(f"UPDATE {table} SET {assignments} WHERE id = :id"),
                    {**cleaned, "id": row[0]},
                )


def _clean(value: object) -> object:
    if not isinstance(value, str):
        return value
    kept = "\t\n"
    return "".join(
        char if char in kept or first_bad_character(char) is None else "\ufffd" for char in value
    )


def _close_duplicate_applications() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, program_id, enterprise_id FROM voucher_applications "
            "WHERE state = 'pending' ORDER BY created_at, id"
        )
    ).fetchall()
    seen: set[tuple[str, str]] = set()
    approved = bind.execute(
        sa.text("SELECT program_id, enterprise_id FROM voucher_applications WHERE state='approved'")
    ).fetchall()
    seen.update((row[0], row[1]) for row in approved)
    for app_id, program_id, enterprise_id in rows:
        if (program_id, enterprise_id) in seen:
            bind.execute(
                sa.text(
                    "UPDATE voucher_applications SET state='rejected', "
                    "reason='duplicate open application, closed by an upgrade' WHERE id=:id"
                ),
                {"id": app_id},
            )
        seen.add((program_id, enterprise_id))


def _review_connections() -> None:
    with op.batch_alter_table("cluster_connections", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "review_state", sa.String(length=10), nullable=False, server_default="approved"
            )
        )
        batch_op.add_column(
            sa.Column("review_reason", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("reviewed_by", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("reviewed_at", suanli.adapters.db.types.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("cluster_key", sa.String(length=300), nullable=True))
        batch_op.create_check_constraint(
            "connection_review_state", "review_state IN ('pending','approved','rejected')"
        )
    _fill_cluster_keys()
    op.create_index(
        "uq_connection_cluster_live",
        "cluster_connections",
        ["cluster_key"],
        unique=True,
        postgresql_where=LIVE_CONNECTION,
        sqlite_where=LIVE_CONNECTION,
    )


def _fill_cluster_keys() -> None:
    bind = op.get_bind()
    table = sa.table(
        "cluster_connections",
        sa.column("id", sa.String),
        sa.column("kind", sa.String),
        sa.column("address", sa.String),
        sa.column("options", sa.JSON),
        sa.column("deleted", sa.Boolean),
        sa.column("created_at", sa.DateTime),
        sa.column("cluster_key", sa.String),
    )
    rows = bind.execute(
        sa.select(table.c.id, table.c.kind, table.c.address, table.c.options)
        .where(sa.not_(table.c.deleted))
        .order_by(table.c.created_at, table.c.id)
    ).fetchall()
    taken: set[str] = set()
    for row_id, kind, address, options in rows:
        key = cluster_key(kind, address or "", options or {})
        if key in taken:
            continue  # a second claim made before the rule: left without a key, for review
        taken.add(key)
        bind.execute(table.update().where(table.c.id == row_id).values(cluster_key=key))


def downgrade() -> None:
    op.drop_index("uq_connection_cluster_live", table_name="cluster_connections")
    with op.batch_alter_table("cluster_connections", schema=None) as batch_op:
        batch_op.drop_constraint("connection_review_state", type_="check")
        for column in ("cluster_key", "reviewed_at", "reviewed_by", "review_reason"):
            batch_op.drop_column(column)
        batch_op.drop_column("review_state")
    op.drop_index("uq_voucher_application_open", table_name="voucher_applications")
    op.execute("DELETE FROM idempotency_keys WHERE state <> 'done'")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.alter_column("response", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("status_code", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("state")
