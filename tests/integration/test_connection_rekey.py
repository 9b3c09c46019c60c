"""Migration 0016 on SQLite and PostgreSQL: connections stored under the old rules are keyed
again (every spelling of a host is one cluster, the oldest live claim keeps it) and lose the
`user:password@` they were stored with in clear."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from suanli.adapters.db.migrate import downgrade, upgrade
from suanli.services import organisations
from tests.helpers import make_app
from tests.integration.test_migrations import schema_differences

T0 = datetime(2026, 11, 1, tzinfo=UTC)

# id, address, review state, deleted, the key an old version computed
OLD_ROWS = (
    ("c1", "http://127.1:8265", "approved", False, "ray:127.1:8265"),
    ("c2", "http://ops:S3cretPW@127.0.0.1:8265", "approved", False, "ray:127.0.0.1:8265"),
    ("c3", "http://admin:hunter2@10.0.0.9:8265", "pending", False, "ray:10.0.0.9:8265"),
    ("c4", "http://u:gone-pw@10.0.0.7:8265", "rejected", False, "ray:10.0.0.7:8265"),
)


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def provider_id(tmp_path: Path, url: str) -> str:
    app = make_app(tmp_path, url)
    try:
        with app.db.session() as session:
            return organisations.create_organisation(
                session, Clock(), name="云算力", kind="provider"
            ).id
    finally:
        app.close()


def insert_old_rows(url: str, provider: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for number, (row_id, address, state, deleted, key) in enumerate(OLD_ROWS):
                connection.execute(
                    sa.text(
                        "INSERT INTO cluster_connections (id, provider_id, name, kind, address,"
                        " options, healthy, last_error, capacity, created_at, deleted,"
                        " review_state, review_reason, cluster_key) VALUES (:id, :provider,"
                        " :id, 'ray', :address, '{}', true, '', '{}', :created, :deleted,"
                        " :state, '', :key)"
                    ),
                    {
                        "id": row_id,
                        "provider": provider,
                        "address": address,
                        "created": T0 + timedelta(minutes=number),
                        "deleted": deleted,
                        "state": state,
                        "key": key,
                    },
                )
    finally:
        engine.dispose()


def read_rows(url: str) -> dict[str, dict[str, object]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT id, address, cluster_key, review_state, last_error, healthy"
                    " FROM cluster_connections"
                )
            ).all()
    finally:
        engine.dispose()
    names = ("address", "key", "state", "error", "healthy")
    return {str(row[0]): dict(zip(names, row[1:], strict=True)) for row in rows}


def test_old_connections_are_keyed_again_and_lose_their_passwords(
    tmp_path: Path, database_url: str
) -> None:
    provider = provider_id(tmp_path, database_url)
    downgrade(database_url, "0015_voucher_name_reuse")
    insert_old_rows(database_url, provider)
    upgrade(database_url)
    assert schema_differences(database_url) == []
    rows = read_rows(database_url)
    # The oldest claim of 127.0.0.1:8265 (spelled 127.1) keeps the cluster...
    assert (rows["c1"]["key"], rows["c1"]["state"]) == ("ray:127.0.0.1:8265", "approved")
    # ...and the younger one, an approved claim of the same cluster, goes back to review.
    assert (rows["c2"]["key"], rows["c2"]["state"]) == (None, "pending")
    assert not rows["c2"]["healthy"]
    assert "older connection" in json.loads(str(rows["c2"]["error"]))["en"]
    assert rows["c2"]["address"] == "http://127.0.0.1:8265"
    assert (rows["c3"]["address"], rows["c3"]["key"]) == (
        "http://10.0.0.9:8265",
        "ray:10.0.0.9:8265",
    )
    assert "token" in json.loads(str(rows["c3"]["error"]))["en"]
    assert rows["c4"]["address"] == "http://10.0.0.7:8265"  # rejected: cleaned, key untouched
    assert rows["c4"]["key"] == "ray:10.0.0.7:8265"
    stored = json.dumps(rows)
    for password in ("S3cretPW", "hunter2", "gone-pw"):
        assert password not in stored
    downgrade(database_url, "0015_voucher_name_reuse")  # nothing to undo, and it goes back
    upgrade(database_url)
    assert read_rows(database_url)["c1"]["key"] == "ray:127.0.0.1:8265"
