"""A migration run is all or nothing on both engines: one that fails halfway leaves the schema
and the version stamp as they were (SQLite too, where the driver used to commit each DDL
statement on its own)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from suanli.adapters.db.migrate import MIGRATIONS_DIR, alembic_config

FAILING = '''"""A test revision: builds part of a change, then fails."""

import sqlalchemy as sa
from alembic import op

revision = "9999_fails_halfway"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_built", sa.Column("id", sa.Integer, primary_key=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("half_built_note", sa.Text, nullable=True))
    raise RuntimeError("the second half of this migration fails")


def downgrade() -> None:
    pass
'''


def _with_a_failing_revision(tmp_path: Path, url: str) -> tuple[str, str]:
    """A copy of the migrations with a failing revision after head: (script dir, head)."""
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert head is not None
    (scripts / "versions" / "9999_fails_halfway.py").write_text(FAILING.format(head=head))
    return str(scripts), head


def test_a_migration_that_fails_halfway_leaves_nothing_behind(
    tmp_path: Path, database_url: str
) -> None:
    scripts, head = _with_a_failing_revision(tmp_path, database_url)
    config = alembic_config(database_url)
    config.set_main_option("script_location", scripts)
    with pytest.raises(RuntimeError, match="second half"):
        command.upgrade(config, "head")
    engine = sa.create_engine(database_url)
    try:
        inspector = sa.inspect(engine)
        assert "half_built" not in inspector.get_table_names()
        assert "half_built_note" not in {c["name"] for c in inspector.get_columns("jobs")}
        with engine.connect() as connection:
            stamped = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert [row[0] for row in stamped] == [head]
    finally:
        engine.dispose()
