"""The audit log on real databases: the engine itself refuses to edit or delete it; an entry
changed behind the engine's back is named by verification; sixteen concurrent writers on
PostgreSQL still make one chain; an upgrade chains the entries and moves the tokens that
existed before."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from suanli.adapters.db.database import Database
from suanli.adapters.db.migrate import upgrade
from suanli.services import audit_trail, auth
from suanli.services.common import SystemClock
from tests.helpers import City, build_city, fund, make_app

WRITERS = 16
WRITES_EACH = 6


def _city(tmp_path: Path, url: str) -> City:
    return build_city(make_app(tmp_path, url))


def _sql(city: City, statement: str, **params: Any) -> None:
    with city.app.db.engine.begin() as connection:
        connection.execute(sa.text(statement), params)


def _without_guard(city: City) -> None:
    """What an intruder with the database's owner rights could do: drop the guard."""
    if city.app.db.is_sqlite:
        _sql(city, "DROP TRIGGER audit_log_no_update")
        _sql(city, "DROP TRIGGER audit_log_no_delete")
    else:
        _sql(city, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'nothing' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 2",
        "TRUNCATE audit_log",
    ],
)
def test_the_engine_refuses_to_change_the_log(
    database_url: str, tmp_path: Path, statement: str
) -> None:
    city = _city(tmp_path, database_url)
    if statement.startswith("TRUNCATE") and city.app.db.is_sqlite:
        statement = "DELETE FROM audit_log"  # SQLite has no TRUNCATE
    with pytest.raises(sa.exc.DatabaseError) as refused:
        _sql(city, statement)
    assert "append-only" in str(refused.value)
    with city.app.db.session() as session:
        assert audit_trail.verify(session).ok
    city.app.close()


@pytest.mark.parametrize(
    ("tamper", "first_bad", "kind"),
    [
        ('UPDATE audit_log SET detail = \'{"name": "x"}\' WHERE seq = 3', 3, "edited"),
        ("UPDATE audit_log SET at = at + interval '1 second' WHERE seq = 2", 2, "edited"),
        ("DELETE FROM audit_log WHERE seq = 4", 4, "deleted"),
        ("UPDATE audit_log SET seq = -seq WHERE seq IN (2, 5)", 2, "deleted"),
        ("swap 2 5", 2, "edited"),
        ("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)", 0, "truncated"),
    ],
)
def test_verification_names_the_first_entry_changed_behind_the_engines_back(
    database_url: str, tmp_path: Path, tamper: str, first_bad: int, kind: str
) -> None:
    city = _city(tmp_path, database_url)
    head = city.get(city.operator, "/v1/audit/head").json()
    assert head["seq"] >= 6
    _without_guard(city)
    if tamper.startswith("swap"):
        _swap(city, 2, 5)
    elif city.app.db.is_sqlite and "interval" in tamper:
        _sql(city, "UPDATE audit_log SET at = datetime(at, '+1 second') WHERE seq = 2")
    else:
        _sql(city, tamper)
    report = city.get(city.operator, "/v1/audit/verify").json()
    assert not report["ok"], report
    assert report["problem"]["seq"] == (first_bad or head["seq"]), report
    assert report["problem"]["kind"] == kind, report
    city.app.close()


def _swap(city: City, first: int, second: int) -> None:
    """Exchanges two entries' places (their sequence numbers), leaving both intact."""
    _sql(city, "UPDATE audit_log SET seq = -1 WHERE seq = :a", a=first)
    _sql(city, "UPDATE audit_log SET seq = :a WHERE seq = :b", a=first, b=second)
    _sql(city, "UPDATE audit_log SET seq = :b WHERE seq = -1", b=second)


@pytest.mark.postgres
def test_sixteen_concurrent_writers_make_one_valid_chain(
    postgres_schema_url: str, tmp_path: Path
) -> None:
    """Each writer does money (a top-up: ledger row locks) or a plain write (a token), as
    sixteen concurrent API callers; every write commits exactly one entry, in one chain."""
    upgrade(postgres_schema_url)
    city = _city(tmp_path, postgres_schema_url)
    fund(city.app, city.enterprise_id)
    before = city.get(city.operator, "/v1/audit/head").json()["seq"]

    def writer(n: int) -> list[int]:
        client = TestClient(city.client.app)
        codes = []
        for k in range(WRITES_EACH):
            if n % 2:
                path = f"/v1/wallets/{city.enterprise_id}/top-ups"
                body: dict[str, Any] = {"amount_fen": 1, "external_reference": f"W{n}-{k}"}
                token = city.operator
            else:
                path, body, token = "/v1/tokens", {"name": f"w{n}-{k}"}, city.enterprise
            codes.append(client.post(path, json=body, headers=city.headers(token)).status_code)
        return codes

    with ThreadPoolExecutor(WRITERS) as pool:
        codes = [code for result in pool.map(writer, range(WRITERS)) for code in result]
    assert set(codes) == {201}, codes
    report = city.get(city.operator, "/v1/audit/verify").json()
    assert report["ok"], report
    assert report["entries"] == report["head_seq"] == before + WRITERS * WRITES_EACH
    with city.app.db.engine.connect() as connection:
        seqs = connection.execute(sa.text("SELECT seq FROM audit_log ORDER BY seq")).scalars()
        assert list(seqs) == list(range(1, report["head_seq"] + 1))
    city.app.close()


def test_an_upgrade_chains_old_entries_and_gives_old_tokens_to_the_first_admin(
    database_url: str,
) -> None:
    """From 0009 (one token per organisation, unchained audit rows) to now."""
    from suanli.adapters.db.migrate import downgrade

    downgrade(database_url, "0009_hardening")
    engine = sa.create_engine(database_url)
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as connection:
        for statement, params in _legacy_rows(now):
            connection.execute(sa.text(statement), params)
    engine.dispose()
    upgrade(database_url)
    db = Database(database_url)
    with db.session() as session:
        principal = auth.authenticate_token(session, SystemClock(), "sl_legacy-token")
        assert (principal.user_id, principal.role) == ("usr_first", "admin")
        assert principal.scopes == frozenset({"read", "write"})
        report = audit_trail.verify(session)
        assert report.ok and report.entries == 2, report
    with db.engine.connect() as connection:
        name, expires = connection.execute(sa.text("SELECT name, expires_at FROM api_tokens")).one()
        login = connection.execute(sa.text("SELECT login FROM users WHERE id='usr_first'"))
    assert name == "migrated" and login.scalar_one() == "usr_first"
    expires_at = expires if isinstance(expires, datetime) else datetime.fromisoformat(expires)
    assert abs(expires_at - (now + timedelta(days=365))) < timedelta(minutes=5)
    db.dispose()


def _legacy_rows(now: datetime) -> list[tuple[str, dict[str, Any]]]:
    from suanli.services.organisations import hash_token

    return [
        (
            "INSERT INTO organisations (id, name, kind, region, created_at) "
            "VALUES ('org_old', '老企业', 'enterprise', '', :now)",
            {"now": now},
        ),
        (
            "INSERT INTO users (id, org_id, name, role, created_at) VALUES "
            "('usr_first', 'org_old', 'admin', 'admin', :early), "
            "('usr_later', 'org_old', 'ops', 'admin', :now)",
            {"now": now, "early": now - timedelta(days=1)},
        ),
        (
            "INSERT INTO api_tokens (id, user_id, token_sha256, prefix, created_at, revoked) "
            "VALUES ('tok_old', 'usr_later', :sha, 'sl_legacy', :now, false)",
            {"sha": hash_token("sl_legacy-token"), "now": now},
        ),
        (
            "INSERT INTO audit_log (at, actor_id, org_id, action, subject, detail) VALUES "
            "(:now, 'usr_first', 'org_old', 'job.submit', 'job_1', '{\"cards\": 2}'), "
            "(:now, 'usr_first', 'org_old', 'job.cancel', 'job_1', '{}')",
            {"now": now},
        ),
    ]
