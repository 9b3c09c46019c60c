"""Test helpers that build a real App (real database, real local backend) and a small city."""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from suanli.adapters.backends.base import BackendState
from suanli.adapters.db.migrate import upgrade
from suanli.api.app import create_api
from suanli.bootstrap import App, bootstrap
from suanli.config import load_settings
from suanli.services.organisations import bootstrap_operator

TEMP_BASES = ("/tmp", "/var/tmp", "/dev/shm")  # short paths: Ray's sockets live under them


def per_job_user_modes() -> Any:
    """Parametrizes a local-backend test over `isolate_users`: both ways as root, where a user
    per job is possible, and without one otherwise (ids `user-per-job=...`)."""
    modes = [False, True] if os.geteuid() == 0 else [False]
    return pytest.mark.parametrize("isolate_users", modes, ids=lambda flag: f"user-per-job={flag}")


def world_traversable(path: Path) -> bool:
    """True when every uid can reach `path`: it and each folder above it grant o+x."""
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in (path, *path.parents))


def shared_temp_dir(prefix: str) -> Path:
    """A new folder open to every uid (as root each local or Slurm job runs as a user of its
    own). Some machines make /tmp 0700, so the first base every uid can reach is used."""
    for base in (tempfile.gettempdir(), *TEMP_BASES):
        if os.path.isdir(base) and world_traversable(Path(base)):
            path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
            path.chmod(0o777)
            return path
    raise RuntimeError(f"no temporary folder every user can reach among {TEMP_BASES}")


_migrated_sqlite_template: list[Path] = []  # at most one: the file this process migrated


def seed_migrated_sqlite(db_file: Path) -> None:
    """Puts at db_file (when nothing is there yet) a copy of a SQLite database that this test
    process migrated to head once, with the real migrations: they cost 3-4 s per fresh file on
    a loaded disk (Alembic runs each DDL statement in its own fsynced commit), paid by hundreds
    of tests. The copy is the same bytes the migrations write; bootstrap's upgrade on it is a
    no-op that still checks the revision. tests/integration/test_migrations.py runs them."""
    if db_file.exists():
        return
    if not _migrated_sqlite_template:
        folder = Path(tempfile.mkdtemp(prefix="suanli-migrated-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        upgrade(f"sqlite:///{folder / 'template.db'}")
        _migrated_sqlite_template.append(folder / "template.db")
    db_file.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_migrated_sqlite_template[0], db_file)


def wait_final(backend: Any, job_id: str, timeout_s: float = 30.0) -> BackendState:
    """The run's state once it is no longer RUNNING (a backend's `status(job_id).state`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = backend.status(job_id).state
        if state != BackendState.RUNNING:
            return state
        time.sleep(0.05)
    raise AssertionError("the run did not end")


def make_app(tmp_path: Path, database_url: str | None = None, **settings: Any) -> App:
    if database_url is None:
        seed_migrated_sqlite(tmp_path / "data" / "suanli.db")
    return bootstrap(
        load_settings(data_dir=tmp_path / "data", database_url=database_url, **settings)
    )


def python_command(code: str) -> str:
    # `python3` from the job's PATH: a local job may run as a user of its own, who cannot
    # reach a virtual environment under /root (adapters/backends/local.py).
    return f'python3 -c "{code}"'


@dataclass
class City:
    app: App
    client: TestClient
    operator: str
    provider: str
    provider_id: str
    other_provider: str
    enterprise: str
    enterprise_id: str
    other_enterprise: str
    agency: str
    pool_id: str

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def post(self, token: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(path, json=body, headers={**self.headers(token), **(headers or {})})

    def get(self, token: str, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(token), **kwargs)


def build_city(app: App) -> City:
    client = TestClient(create_api(app))
    with app.db.session() as session:
        operator = bootstrap_operator(session, app.clock, name="运营方").token
    tokens: dict[str, Any] = {}
    for name, kind in (
        ("prov-a", "provider"),
        ("prov-b", "provider"),
        ("ent-a", "enterprise"),
        ("ent-b", "enterprise"),
        ("agency", "agency"),
    ):
        body = {"name": name, "kind": kind, "region": "浙江/杭州"}
        reply = client.post(
            "/v1/organisations", json=body, headers={"Authorization": f"Bearer {operator}"}
        )
        assert reply.status_code == 201, reply.text
        tokens[name] = reply.json()
    pool = client.post(
        "/v1/pools",
        json={
            "name": "h100",
            "accelerator_model": "H100-SXM",
            "nodes": 1,
            "cards_per_node": 8,
            "region": "浙江/杭州/余杭",
            "price_fen_per_card_hour": 3600,
            "provider_id": tokens["prov-a"]["organisation"]["id"],
        },
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert pool.status_code == 201, pool.text
    return City(
        app=app,
        client=client,
        operator=operator,
        provider=tokens["prov-a"]["token"],
        provider_id=tokens["prov-a"]["organisation"]["id"],
        other_provider=tokens["prov-b"]["token"],
        enterprise=tokens["ent-a"]["token"],
        enterprise_id=tokens["ent-a"]["organisation"]["id"],
        other_enterprise=tokens["ent-b"]["token"],
        agency=tokens["agency"]["token"],
        pool_id=pool.json()["id"],
    )


def fund(app: App, org_id: str, amount_fen: int = 10_000_000) -> None:
    """Tops up an enterprise wallet when the ledger exists (holds need funds)."""
    try:
        from suanli.services.wallets import demo_top_up
    except ImportError:
        return
    demo_top_up(app, org_id, amount_fen=amount_fen)
