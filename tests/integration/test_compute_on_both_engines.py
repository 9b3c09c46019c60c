"""The compute path on SQLite and on PostgreSQL: same migrations, same behaviour."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from suanli.adapters.db.database import Database
from tests.helpers import build_city, fund, make_app, python_command


def test_migrations_create_every_table_on_this_engine(database_url: str) -> None:
    from suanli.adapters.db.tables import all_tables

    db = Database(database_url)
    with db.engine.connect() as connection:
        present = set(sa.inspect(connection).get_table_names())
    db.dispose()
    assert set(all_tables().metadata.tables) <= present


def test_a_job_runs_end_to_end_and_is_metered_once(database_url: str, tmp_path: Path) -> None:
    app = make_app(tmp_path, database_url)
    city = build_city(app)
    fund(app, city.enterprise_id)
    spec = {"name": "n", "command": python_command("print(42)"), "cards": 4, "max_run_time_s": 60}
    job_id = city.post(city.enterprise, "/v1/jobs", spec).json()["id"]
    deadline = time.monotonic() + 30
    while city.get(city.enterprise, f"/v1/jobs/{job_id}").json()["state"] != "succeeded":
        assert time.monotonic() < deadline, "job did not finish"
        app.runtime.tick()
        time.sleep(0.1)
    for _ in range(3):
        app.runtime.tick()  # further ticks must not meter again
    with app.db.session() as session:
        lines = session.execute(sa.text("SELECT card_seconds, amount_fen FROM usage_records")).all()
    assert len(lines) == 1
    assert lines[0].amount_fen == lines[0].card_seconds  # 3600 fen per card-hour = 1 fen/card-s
    app.close()


def test_tenant_isolation_holds_on_this_engine(database_url: str, tmp_path: Path) -> None:
    app = make_app(tmp_path, database_url)
    city = build_city(app)
    fund(app, city.enterprise_id)
    spec = {"name": "n", "command": "true", "cards": 1}
    job_id = city.post(city.enterprise, "/v1/jobs", spec).json()["id"]
    assert city.get(city.other_enterprise, f"/v1/jobs/{job_id}").status_code == 404
    assert city.get(city.enterprise, f"/v1/jobs/{job_id}").status_code == 200
    app.close()
