"""The one place that wires settings, database, backends and clock. API and CLI call it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from suanli.adapters.backends.local import LocalBackend
from suanli.adapters.backends.registry import BackendRegistry, ConnectionFactory
from suanli.adapters.db.database import Database
from suanli.adapters.db.migrate import upgrade
from suanli.config import Settings
from suanli.services.common import Clock, SystemClock
from suanli.services.runtime import Runtime


@dataclass
class App:
    settings: Settings
    db: Database
    clock: Clock
    backends: BackendRegistry
    runtime: Runtime = field(init=False)
    # What `suanli serve --role` runs here: "all", "api" or "scheduler" (services/server.py).
    role: str = "all"

    def __post_init__(self) -> None:
        self.runtime = Runtime(self.settings, self.db, self.clock, self.backends)

    def close(self, *, stop_local_jobs: bool = True) -> None:
        local = self.backends.local
        if stop_local_jobs and isinstance(local, LocalBackend):
            local.shutdown()
        self.db.dispose()

    def leading(self) -> bool:
        """Whether this process runs the scheduling loop now (an api replica never does)."""
        return self.role != "api" and self.runtime.leading()


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    connection_factory: ConnectionFactory | None = None,
) -> App:
    """Builds the object graph; connects only now, never at import time."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    if migrate:
        upgrade(url)
    db = Database(url)
    local = LocalBackend(
        settings.jobs_dir,
        log_max_bytes=settings.job_log_max_bytes,
        file_max_bytes=settings.job_file_max_bytes,
    )
    factory = connection_factory or _default_connection_factory(db, settings.data_dir)
    return App(settings, db, clock or SystemClock(), BackendRegistry(local, factory))


def _default_connection_factory(db: Database, data_dir: Path) -> ConnectionFactory:
    """Cluster connections (Ray, Slurm): decrypted with this deployment's key in data_dir."""
    from suanli.services.connections import backend_factory

    return backend_factory(db, data_dir)
