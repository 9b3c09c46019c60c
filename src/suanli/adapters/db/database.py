"""The Database handle: one engine and session factory per process, built by bootstrap."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from suanli.adapters.db import audit_log

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_POOL_SIZE = 20
# Connections are not pinged at every checkout (`pool_pre_ping` cost a round trip per unit of
# work: 18% of a job submit, profiled). After a database restart the first statement on a
# dead connection fails; SQLAlchemy then invalidates the whole pool, the API answers that one
# request 503 with Retry-After (api/db_outage.py), and the next checkouts connect afresh.
# Idle connections are renewed before firewalls and poolers silently drop them.
PG_POOL_RECYCLE_S = 600


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = _make_engine(url, echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._fence: Callable[[Session], None] | None = None
        audit_log.install(self._sessions)  # audit entries join the chain when a session commits

    def fenced(self, check: Callable[[Session], None]) -> Database:
        """The same database, whose every unit of work first runs `check` in its own
        transaction: the scheduler leader's lease fence (services/leadership.py), so that
        services written against a plain Database (hold expiry, grant expiry, cluster polls)
        write only while the lease is still this process's, write by write."""
        view = copy.copy(self)
        view._fence = check
        return view

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any exception."""
        session = self._sessions()
        try:
            if self._fence is not None:
                self._fence(session)
            yield session
        except BaseException:
            self.finish(session, commit=False)
            raise
        self.finish(session, commit=True)

    def open_session(self) -> Session:
        """A unit of work for a caller that ends it with `finish` (the API's request session,
        opened on the event loop: it does no I/O until its first statement). Never fenced."""
        return self._sessions()

    def finish(self, session: Session, *, commit: bool) -> None:
        """Commits (or rolls back) and closes; a failed commit rolls back."""
        try:
            if commit:
                session.commit()
            else:
                session.rollback()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _make_engine(url: str, echo: bool) -> Engine:
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(
        url, echo=echo, pool_size=PG_POOL_SIZE, max_overflow=20, pool_recycle=PG_POOL_RECYCLE_S
    )


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers proceed while the single writer commits; foreign keys are off by default.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # One writer at a time, taken at BEGIN: avoids SQLite's deadlock-prone lock upgrades.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
