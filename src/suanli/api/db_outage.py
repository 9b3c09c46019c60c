"""While the database is away (a restart, a failover, a network cut), every request is
answered 503 with Retry-After, never a 500; the connection pool's pre-ping reconnects by
itself when it is back. The unit of work rolled back, so nothing was half-written."""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from suanli.i18n import current_language, parse_accept_language, t

log = logging.getLogger(__name__)
RETRY_AFTER_S = 2


def is_database_outage(error: BaseException) -> bool:
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


class DatabaseOutageMiddleware:
    """Outermost of ours: catches an outage raised anywhere below (routes, dependencies,
    other middleware), as long as no byte of the answer has left yet."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if started or not is_database_outage(error):
                raise
            log.warning("database unavailable: %s", type(error).__name__)
            await _answer_unavailable(scope, send)


async def _answer_unavailable(scope: Any, send: Any) -> None:
    language = _language(scope)
    body = {
        "error": "database_unavailable",
        "message": t(
            "数据库暂时不可用，请稍后重试",
            "the database is unavailable for a moment; retry shortly",
            language,
        ),
    }
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"retry-after", str(RETRY_AFTER_S).encode()),
        (b"content-length", str(len(data)).encode()),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def _language(scope: Any) -> str:
    for name, value in scope.get("headers", []):
        if name == b"accept-language":
            return current_language(parse_accept_language(value.decode("latin-1")))
    return current_language(None)
