"""Runs the API with the scheduling loop in a background thread (the `serve` entrypoint)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from suanli.adapters.db.folder_lock import lock_data_dir
from suanli.api.app import create_api
from suanli.bootstrap import App
from suanli.config import Settings

SHUTDOWN_JOIN_S = 10.0


@contextmanager
def single_server_lock(settings: Settings) -> Iterator[None]:
    """On SQLite, one server per data folder (an OS lock held for the process's life);
    PostgreSQL deployments elect one scheduler instead and run any number of servers."""
    if not settings.resolved_database_url.startswith("sqlite"):
        yield
        return
    lock = lock_data_dir(settings.data_dir)
    try:
        yield
    finally:
        lock.release()


@contextmanager
def scheduler_running(app: App) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=app.runtime.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=SHUTDOWN_JOIN_S)


def serve_forever(app: App) -> None:
    """Blocks until Ctrl-C; stops the loop and running local jobs on the way out."""
    settings = app.settings
    with scheduler_running(app):
        try:
            uvicorn.run(
                create_api(app), host=settings.api_host, port=settings.api_port, log_level="info"
            )
        finally:
            app.close()
