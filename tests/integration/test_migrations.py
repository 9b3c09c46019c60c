"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL, and
the newest ones downgrade and upgrade again cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from suanli.adapters.db import (
    tables_connections,
    tables_identity,
    tables_ledger,
    tables_scenes,
    tables_vouchers,
)
from suanli.adapters.db.migrate import downgrade, upgrade
from suanli.adapters.db.tables import Base

# Importing every table module registers its tables on Base.metadata.
MODEL_MODULES = (tables_connections, tables_identity, tables_ledger, tables_scenes, tables_vouchers)


def schema_differences(url: str) -> list[object]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": False}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    assert MODEL_MODULES
    assert schema_differences(database_url) == []


def test_the_newest_migrations_downgrade_and_upgrade_again(database_url: str) -> None:
    downgrade(database_url, "0013_job_list_indexes")  # 0014: the price a job was placed at
    assert "price_fen_per_card_hour" in repr(schema_differences(database_url))
    downgrade(database_url, "0012_replicas")  # 0013: the job list indexes
    indexes = repr(schema_differences(database_url))
    assert "ix_jobs_owner_submitted" in indexes and "ix_jobs_state_submitted" in indexes
    downgrade(database_url, "0010_identity")  # 0017: recorded ledger checks, usage index
    consoles = repr(schema_differences(database_url))
    assert "ledger_checks" in consoles and "ix_usage_records_ended" in consoles
    downgrade(database_url, "0009_hardening")  # 0010: identity (sessions, chained audit, ...)
    tables = sa.inspect(sa.create_engine(database_url)).get_table_names()
    assert not {"user_sessions", "login_throttle", "audit_head"} & set(tables), tables
    at_0009 = {repr(d) for d in schema_differences(database_url)}
    assert "audit_head" in repr(at_0009)
    downgrade(database_url, "0008_pool_name_reuse")  # 0009: claims, open applications, review
    newest = repr([d for d in schema_differences(database_url) if repr(d) not in at_0009])
    for part in ("review_state", "cluster_key", "uq_voucher_application_open", "idempotency"):
        assert part in newest, part
    downgrade(database_url, "0007_orphan_lookup")  # 0008: pool names unique among live pools
    differences = schema_differences(database_url)
    assert any("uq_pool_name_live" in repr(d) for d in differences), differences
    downgrade(database_url, "0006_orphan_runs")  # 0007: an orphan run's id may be unknown
    differences = schema_differences(database_url)
    assert "backend_job_id" in repr(differences), differences
    downgrade(database_url, "0005_connections")  # 0006: orphan runs
    assert "orphan_runs" not in sa.inspect(sa.create_engine(database_url)).get_table_names()
    upgrade(database_url)
    assert schema_differences(database_url) == []
