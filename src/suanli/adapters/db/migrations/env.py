"""Alembic environment: URL from the config the caller built; metadata from all tables."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Engine, create_engine, event, pool

from suanli.adapters.db.tables import all_tables

target_metadata = all_tables().metadata


def run_migrations() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("migrations need sqlalchemy.url; use suanli.adapters.db.migrate")
    engine = _engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def _engine(url: str) -> Engine:
    """On SQLite the run is one transaction, as on PostgreSQL. pysqlite opens a transaction
    only before INSERT, UPDATE or DELETE, so every CREATE, ALTER and DROP committed on its own:
    a migration that failed halfway left a half-built schema behind its old version stamp.
    Here the driver leaves transactions alone and the run's BEGIN is explicit."""
    engine = create_engine(url, poolclass=pool.NullPool)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _driver_leaves_transactions_alone)
        event.listen(engine, "begin", _begin)
    return engine


def _driver_leaves_transactions_alone(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


run_migrations()
