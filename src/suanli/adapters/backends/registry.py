"""Which backend runs a pool's jobs: the local one, or the one for the pool's cluster connection."""

from __future__ import annotations

from collections.abc import Callable
from threading import Lock

from suanli.adapters.backends.base import Backend
from suanli.errors import BackendUnavailable
from suanli.i18n import msg

ConnectionFactory = Callable[[str], Backend]


class BackendRegistry:
    def __init__(self, local: Backend, connection_factory: ConnectionFactory | None = None) -> None:
        self.local = local
        self._connection_factory = connection_factory
        self._by_connection: dict[str, Backend] = {}
        self._lock = Lock()

    def for_pool(self, backend_kind: str, connection_id: str | None) -> Backend:
        if backend_kind == "local":
            return self.local
        if connection_id is None or self._connection_factory is None:
            raise BackendUnavailable(
                msg(
                    f"资源池的后端是 {backend_kind!r}，但没有集群接入",
                    f"pool has backend {backend_kind!r} but no cluster connection",
                )
            )
        with self._lock:
            if connection_id not in self._by_connection:
                self._by_connection[connection_id] = self._connection_factory(connection_id)
            return self._by_connection[connection_id]

    def register(self, connection_id: str, backend: Backend) -> None:
        """Used by tests and by the connection service when a connection changes."""
        with self._lock:
            self._by_connection[connection_id] = backend

    def forget(self, connection_id: str) -> None:
        with self._lock:
            self._by_connection.pop(connection_id, None)
