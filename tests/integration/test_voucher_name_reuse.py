"""Migration 0015 on SQLite and PostgreSQL: a deleted voucher program frees its name (the
unique index covers live programs only), and a downgrade to the old constraint keeps working
by renaming deleted programs to their ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from suanli.adapters.db.migrate import downgrade, upgrade
from suanli.domain.vouchers import Rules
from suanli.services import organisations, vouchers
from suanli.services.common import Principal
from tests.helpers import make_app
from tests.integration.test_migrations import schema_differences


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def create(session: Session, agency: Principal, name: str) -> str:
    now = datetime.now(UTC)
    return vouchers.create_program(
        session,
        Clock(),
        agency,
        name=name,
        category="compute",
        budget_fen=1000,
        valid_from=now,
        valid_until=now + timedelta(days=30),
        rules=Rules(base_ratio_bp=3000, cap_per_enterprise_fen=1000),
    ).id


def test_a_deleted_programs_name_is_free_and_the_migration_goes_both_ways(
    tmp_path: Path, database_url: str
) -> None:
    app = make_app(tmp_path, database_url)
    try:
        with app.db.session() as session:
            org = organisations.create_organisation(session, Clock(), name="经信局", kind="agency")
            agency = Principal("agency-user", org.id, "agency")
            gone = create(session, agency, "试点券")
            vouchers.delete_program(session, Clock(), agency, gone)
            live = create(session, agency, "试点券")  # refused by the old constraint
    finally:
        app.close()
    assert live != gone
    downgrade(database_url, "0014_job_price")
    assert "uq_voucher_program_name_live" in repr(schema_differences(database_url))
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT id, name FROM voucher_programs")).all()
    finally:
        engine.dispose()
    names = {str(row[0]): str(row[1]) for row in rows}
    assert names == {gone: gone, live: "试点券"}  # the deleted one gave its name up
    upgrade(database_url)
    assert schema_differences(database_url) == []
