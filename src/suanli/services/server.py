"""Runs `suanli serve`: the API, the scheduling loop, or both (`--role`).

On PostgreSQL any number of servers share one database: API replicas are stateless, and the
processes with the scheduler role elect one leader through a lease (services/leadership.py).
On SQLite one server owns the data folder (adapters/db/folder_lock.py) and always leads.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import uvicorn

from suanli.adapters.db.folder_lock import lock_data_dir
from suanli.api.app import create_api, create_ops_api
from suanli.bootstrap import App
from suanli.config import Settings
from suanli.errors import InvalidInput
from suanli.i18n import msg
from suanli.services.leadership import Leadership, process_identity

SHUTDOWN_JOIN_S = 10.0
# SIGTERM: stop accepting, give requests in flight this long, then go (uvicorn's own drain).
REQUEST_DRAIN_S = 10
ROLES = ("all", "api", "scheduler")


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(
            msg(f"角色必须是 {', '.join(ROLES)} 之一", f"role must be one of {', '.join(ROLES)}"),
            field="role",
        )
    return role


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
def _thread(target: object, stop: threading.Event) -> Iterator[None]:
    thread = threading.Thread(target=target, args=(stop,), daemon=True)  # type: ignore[arg-type]
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=SHUTDOWN_JOIN_S)


@contextmanager
def scheduler_running(app: App) -> Iterator[threading.Event]:
    """The loop in a background thread; on PostgreSQL, behind the lease (taken, renewed and
    released on the way out by a second thread)."""
    stop = threading.Event()
    with ExitStack() as stack:
        if not app.db.is_sqlite:
            settings = app.settings
            app.runtime.leadership = Leadership(
                app.db,
                process_identity(settings.node_name),
                settings.lease_ttl_s,
                settings.lease_renew_s,
            )
            stack.enter_context(_thread(app.runtime.leadership.run, threading.Event()))
        stack.enter_context(_thread(app.runtime.run_forever, stop))
        yield stop


def _exit_cleanly_on_sigterm() -> None:
    """uvicorn drains on SIGTERM, then re-raises it under the handler found at start: with the
    default one the process would die there, before the lease is released. This one unwinds."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_system_exit)


def _raise_system_exit(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def serve_forever(app: App, role: str = "all") -> None:
    """Blocks until Ctrl-C or SIGTERM. On SQLite, running local jobs stop with the server; on
    PostgreSQL they go on, and the next scheduler on this machine takes them over."""
    settings = app.settings
    app.role = check_role(role)
    _exit_cleanly_on_sigterm()
    with ExitStack() as stack:
        stack.callback(app.close, stop_local_jobs=app.db.is_sqlite)
        if role != "api":
            stack.enter_context(scheduler_running(app))
        uvicorn.run(
            create_ops_api(app) if role == "scheduler" else create_api(app),
            host=settings.api_host,
            port=settings.api_port,
            log_level="info",
            timeout_graceful_shutdown=REQUEST_DRAIN_S,
        )
