"""Shared fixtures. Real components only: a missing one skips loudly, and fails under CI=true."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def require_component(available: bool, reason: str) -> None:
    """Skips with a loud reason on a developer machine; fails under CI=true."""
    if available:
        return
    message = f"REAL COMPONENT MISSING: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: missing components are failures)")
    pytest.skip(message)


def postgres_url() -> str:
    return os.environ.get("SUANLI_TEST_DATABASE_URL", DEFAULT_PG_URL)


def _postgres_reachable(url: str) -> bool:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = postgres_url()
    require_component(_postgres_reachable(url), f"PostgreSQL at {url}")
    return url


@pytest.fixture
def postgres_schema_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh schema per test (isolation); dropped afterwards."""
    import sqlalchemy as sa

    schema = f"t_{os.getpid()}_{secrets.token_hex(4)}"
    engine = sa.create_engine(postgres_admin_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_admin_url else "?"
    yield f"{postgres_admin_url}{separator}options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file already migrated to head (a copy: tests/helpers.seed_migrated_sqlite)."""
    from tests.helpers import seed_migrated_sqlite

    seed_migrated_sqlite(tmp_path / "suanli.db")
    return f"sqlite:///{tmp_path}/suanli.db"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs a test on both engines, each in isolation, migrated to head."""
    from suanli.adapters.db.migrate import upgrade

    if request.param == "sqlite":
        url: str = request.getfixturevalue("sqlite_url")
    else:
        url = request.getfixturevalue("postgres_schema_url")
    upgrade(url)
    return url
