"""identity: users who sign in, sessions, scoped tokens, reviewed organisations, chained audit

- organisations: a state (pending → active | rejected; active ⇄ suspended) with its reason,
  the unified social credit code (unique), a contact, and who reviewed it. Existing ones are
  active.
- users: a login (unique; existing users get their id), a display name (was `name`, no longer
  unique in an organisation), phone, email, an argon2id password hash, an optional TOTP
  secret (encrypted) and a disabled flag; the role is one of admin/member/finance/viewer.
- api_tokens: a name, scopes, an expiry, last use and revocation time. Each existing token is
  moved to its organisation's first admin user, named "migrated", with read and write scopes,
  and expires a year after this upgrade (no token lives longer than a year).
- audit_log: every entry gets a sequence number and a SHA-256 hash chained to the previous
  one (domain/audit_chain.py); existing entries are chained in their order. `audit_head`
  holds the last position. On PostgreSQL and SQLite a trigger refuses UPDATE and DELETE (and
  TRUNCATE on PostgreSQL) on audit_log.
- user_sessions and login_throttle: server-side sessions and failed sign-in counters.

Revision ID: 0010_identity
Revises: 0009_hardening
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import suanli.adapters.db.types
from suanli.domain.audit_chain import GENESIS_HASH, AuditEntry, seal, summary

revision = "0010_identity"
down_revision = "0009_hardening"
branch_labels = None
depends_on = None

UTC_DT = suanli.adapters.db.types.UTCDateTime
MIGRATED_TOKEN_LIFETIME = timedelta(days=365)
PG_REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION suanli_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""
PG_TRIGGERS = (
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION suanli_audit_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION suanli_audit_append_only()",
)
SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
)


def upgrade() -> None:
    _organisations()
    _users()
    _tokens()
    _audit_log()
    _sessions_and_throttle()
    install_append_only_triggers()


def _organisations() -> None:
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("state", sa.String(length=12), nullable=False, server_default="active")
        )
        batch_op.add_column(sa.Column("state_reason", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("credit_code", sa.String(length=18), nullable=True))
        for name, length in (("contact_name", 100), ("contact_phone", 40), ("contact_email", 200)):
            batch_op.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default="")
            )
        batch_op.add_column(sa.Column("reviewed_by", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", UTC_DT(), nullable=True))
        batch_op.create_check_constraint(
            "org_state", "state IN ('pending','active','rejected','suspended')"
        )
    op.create_index("uq_org_credit_code", "organisations", ["credit_code"], unique=True)


def _users() -> None:
    uniques = {c["name"] for c in sa.inspect(op.get_bind()).get_unique_constraints("users")}
    with op.batch_alter_table("users", schema=None) as batch_op:
        if "uq_user_name" in uniques:
            batch_op.drop_constraint("uq_user_name", type_="unique")
        batch_op.alter_column(
            "name", new_column_name="display_name", existing_type=sa.String(length=200)
        )
        batch_op.add_column(sa.Column("login", sa.String(length=64), nullable=True))
        for name, length in (("phone", 40), ("email", 200)):
            batch_op.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default="")
            )
        batch_op.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("password_changed_at", UTC_DT(), nullable=True))
        batch_op.add_column(sa.Column("totp_secret", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("totp_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("totp_last_step", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE users SET login = lower(id)")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("login", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_check_constraint(
            "user_role", "role IN ('admin','member','finance','viewer')"
        )
    op.create_index("uq_user_login", "users", ["login"], unique=True)


def _tokens() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("name", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("scopes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("expires_at", UTC_DT(), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", UTC_DT(), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", UTC_DT(), nullable=True))
    _move_tokens_to_first_admins()
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("scopes", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("expires_at", existing_type=UTC_DT(), nullable=False)


def _move_tokens_to_first_admins() -> None:
    bind = op.get_bind()
    tokens = sa.table(
        "api_tokens",
        sa.column("id", sa.String),
        sa.column("user_id", sa.String),
        sa.column("name", sa.String),
        sa.column("scopes", sa.JSON),
        sa.column("expires_at", UTC_DT()),
    )
    first_admin = _first_admin_by_org(bind)
    org_of_user: dict[str, str] = dict(
        bind.execute(sa.text("SELECT id, org_id FROM users")).fetchall()
    )
    expires = datetime.now(UTC) + MIGRATED_TOKEN_LIFETIME
    for token_id, user_id in bind.execute(sa.text("SELECT id, user_id FROM api_tokens")):
        owner = first_admin.get(org_of_user.get(user_id, ""), user_id)
        bind.execute(
            tokens.update()
            .where(tokens.c.id == token_id)
            .values(user_id=owner, name="migrated", scopes=["read", "write"], expires_at=expires)
        )


def _first_admin_by_org(bind: sa.engine.Connection) -> dict[str, str]:
    rows = bind.execute(
        sa.text(
            "SELECT id, org_id FROM users WHERE role = 'admin' ORDER BY created_at DESC, id DESC"
        )
    ).fetchall()
    return {org_id: user_id for user_id, org_id in rows}  # the earliest wins: it comes last


def _audit_log() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("credential", sa.String(length=60), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("about_org_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("before", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("request_id", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("client_address", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    seq, last = _chain_existing_entries()
    op.execute(sa.text(f"INSERT INTO audit_head (id, seq, hash) VALUES (1, {seq}, '{last}')"))
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        for column in ("seq", "prev_hash", "hash"):
            batch_op.alter_column(
                column,
                existing_type=sa.BigInteger() if column == "seq" else sa.String(length=64),
                nullable=False,
            )
        for column in ("actor_id", "action", "subject", "about_org_id"):
            batch_op.create_index(f"ix_audit_log_{column}", [column], unique=False)
        batch_op.create_index("uq_audit_seq", ["seq"], unique=True)


def _chain_existing_entries() -> tuple[int, str]:
    bind = op.get_bind()
    table = sa.table(
        "audit_log",
        sa.column("id", sa.Integer),
        sa.column("seq", sa.BigInteger),
        sa.column("detail", sa.JSON),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
    )
    rows = bind.execute(
        sa.text(
            "SELECT id, at, actor_id, org_id, action, subject, detail FROM audit_log ORDER BY id"
        )
    ).fetchall()
    seq, previous = 0, GENESIS_HASH
    for row_id, at, actor_id, org_id, action, subject, detail in rows:
        seq += 1
        moment = UTC_DT().process_result_value(_as_datetime(at), bind.dialect)
        after = summary(detail if isinstance(detail, dict) else {}) or {}
        entry = seal(
            AuditEntry(
                seq,
                moment or datetime.now(UTC),
                actor_id,
                org_id,
                "",
                action,
                subject,
                None,
                None,
                after,
                "",
                "",
                previous,
            )
        )
        bind.execute(
            table.update()
            .where(table.c.id == row_id)
            .values(seq=seq, detail=after, prev_hash=previous, hash=entry.hash)
        )
        previous = entry.hash
    return seq, previous


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, str):  # SQLite hands back text for a raw query
        return datetime.fromisoformat(value)
    return value if isinstance(value, datetime) else None


def _sessions_and_throttle() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DT(), nullable=False),
        sa.Column("last_seen_at", UTC_DT(), nullable=False),
        sa.Column("expires_at", UTC_DT(), nullable=False),
        sa.Column("ended_at", UTC_DT(), nullable=True),
        sa.Column("end_reason", sa.String(length=40), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"], unique=False)
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", UTC_DT(), nullable=False),
        sa.Column("locked_until", UTC_DT(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def install_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_REFUSE_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def remove_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS suanli_audit_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def downgrade() -> None:
    remove_append_only_triggers()
    op.drop_table("login_throttle")
    op.drop_index("ix_user_sessions_user_id", table_name="user_sessions")
    op.drop_table("user_sessions")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("uq_audit_seq")
        for column in ("actor_id", "action", "subject", "about_org_id"):
            batch_op.drop_index(f"ix_audit_log_{column}")
        for column in (
            "hash", "prev_hash", "client_address", "request_id", "before", "about_org_id",
            "credential", "seq",
        ):  # fmt: skip
            batch_op.drop_column(column)
    op.drop_table("audit_head")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        for column in ("revoked_at", "last_used_at", "expires_at", "scopes", "name"):
            batch_op.drop_column(column)
    op.drop_index("uq_user_login", table_name="users")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("user_role", type_="check")
        for column in (
            "disabled", "totp_last_step", "totp_enabled", "totp_secret", "password_changed_at",
            "password_hash", "email", "phone", "login",
        ):  # fmt: skip
            batch_op.drop_column(column)
        batch_op.alter_column(
            "display_name", new_column_name="name", existing_type=sa.String(length=200)
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_user_name", ["org_id", "name"])
    op.drop_index("uq_org_credit_code", table_name="organisations")
    with op.batch_alter_table("organisations", schema=None) as batch_op:
        batch_op.drop_constraint("org_state", type_="check")
        for column in (
            "reviewed_at", "reviewed_by", "contact_email", "contact_phone", "contact_name",
            "credit_code", "state_reason", "state",
        ):  # fmt: skip
            batch_op.drop_column(column)
