"""connections stored before the address rules of session 11 are keyed and cleaned again

Two things older rows kept: a cluster key computed before every numeric spelling of a host
(`127.1`, `0x7f000001`, `[::ffff:127.0.0.1]`) keyed the same cluster, so an old `127.1` claim
did not collide with a new `127.0.0.1` one; and an address with `user:password@`, stored in
clear before such addresses were refused. Every live row is keyed again, oldest first; a row
whose key an older live row already holds loses its key and goes back to review (as 0009 left
such rows), and the user information is cut from every stored address. The password cannot be
moved into the encrypted credentials here (the key lives in the data directory, which a
migration does not know), so the row says the provider must enter a token again.

Revision ID: 0016_connection_rekey
Revises: 0015_voucher_name_reuse
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from suanli.adapters.backends.cluster_identity import cluster_key, split_netloc, split_url
from suanli.i18n import Msg, stored

revision = "0016_connection_rekey"
down_revision = "0015_voucher_name_reuse"
branch_labels = None
depends_on = None

CONNECTIONS = sa.table(
    "cluster_connections",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("address", sa.String),
    sa.column("options", sa.JSON),
    sa.column("deleted", sa.Boolean),
    sa.column("created_at", sa.DateTime),
    sa.column("cluster_key", sa.String),
    sa.column("review_state", sa.String),
    sa.column("last_error", sa.Text),
    sa.column("healthy", sa.Boolean),
)
LIVE = sa.and_(sa.not_(CONNECTIONS.c.deleted), CONNECTIONS.c.review_state != "rejected")

PASSWORD_REMOVED = Msg(
    "地址中的用户名与密码已删除（明文保存不安全）；如集群需要令牌，请在 credentials 中重新填写",
    "the user name and password were cut from the address (they were stored in clear); "
    "if the cluster needs a token, enter it again in credentials",
)
CLAIMED_BEFORE = Msg(
    "另一条更早的连接已登记同一集群（地址写法不同）；本连接退回待审核",
    "an older connection already claims the same cluster (spelled differently); "
    "this one is back in review",
)


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            CONNECTIONS.c.id, CONNECTIONS.c.kind, CONNECTIONS.c.address, CONNECTIONS.c.options
        )
        .where(LIVE)
        .order_by(CONNECTIONS.c.created_at, CONNECTIONS.c.id)
    ).fetchall()
    # Cleared first, so that a key moving from one row to an older one never meets itself.
    bind.execute(CONNECTIONS.update().where(LIVE).values(cluster_key=None))
    taken: set[str] = set()
    for row_id, kind, address, options in rows:
        values = _rekeyed(kind, address or "", options or {}, taken)
        bind.execute(CONNECTIONS.update().where(CONNECTIONS.c.id == row_id).values(**values))
    _clean_dead_addresses(bind)


def _rekeyed(kind: str, address: str, options: dict[str, Any], taken: set[str]) -> dict[str, Any]:
    clean = _without_user(address)
    key = cluster_key(kind, clean, options)
    values: dict[str, Any] = {"address": clean}
    if clean != address:
        values.update(last_error=stored(PASSWORD_REMOVED), healthy=False)
    if key in taken:
        values.update(review_state="pending", last_error=stored(CLAIMED_BEFORE), healthy=False)
        return values
    taken.add(key)
    return values | {"cluster_key": key}


def _clean_dead_addresses(bind: sa.Connection) -> None:
    """Deleted and rejected rows keep their key (it claims nothing) but not a password."""
    rows = bind.execute(
        sa.select(CONNECTIONS.c.id, CONNECTIONS.c.address).where(sa.not_(LIVE))
    ).fetchall()
    for row_id, address in rows:
        clean = _without_user(address or "")
        if clean != address:
            bind.execute(
                CONNECTIONS.update().where(CONNECTIONS.c.id == row_id).values(address=clean)
            )


def _without_user(address: str) -> str:
    userinfo, _, _ = split_netloc(split_url(address).netloc)
    if userinfo is None:
        return address
    return address.replace(f"{userinfo}@", "", 1)


def downgrade() -> None:
    # Nothing to undo: the canonical keys are valid under 0015 too, and a removed password is
    # not brought back.
    pass
