"""Alembic environment: URL from the config the caller built; metadata from all tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from suanli.adapters.db.tables import all_tables

target_metadata = all_tables().metadata


def run_migrations() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("migrations need sqlalchemy.url; use suanli.adapters.db.migrate")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
