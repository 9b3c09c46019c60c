"""Where each request comes from, for the audit log: a request id (the caller's
`X-Request-ID` when it is a sane one, else a new one, echoed in the answer) and the client's
address. Pure ASGI, so the context reaches the route's thread (as the language does).

It also watches that a successful write appended an audit entry: one that changed stored
rows without one is logged and kept in `app.state.unaudited_writes` (tests fail on it)."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suanli.adapters.db.audit_log import WriteTracker, tracking_writes
from suanli.services.common import RequestContext, using_request

log = logging.getLogger(__name__)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UNAUDITED_KEPT_MAX = 100

REQUEST_ID_HEADER = b"x-request-id"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(REQUEST_ID_HEADER, b"").decode("latin-1")
        request_id = given if REQUEST_ID_RE.match(given) else "req_" + secrets.token_hex(8)
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        status: list[int] = []
        context = RequestContext(request_id=request_id, client_address=address)
        with using_request(context), tracking_writes() as tracker:
            await self.app(scope, receive, _with_request_id(send, request_id, status))
        if scope.get("method") in WRITE_METHODS and status and 200 <= status[0] < 300:
            _check_audited(scope, tracker)


def _check_audited(scope: Scope, tracker: WriteTracker) -> None:
    if not tracker.changed or tracker.audited:
        return
    what = f"{scope.get('method')} {scope.get('path')} changed {sorted(tracker.changed)}"
    log.error("a write without an audit entry: %s", what)
    app: Any = scope.get("app")
    kept = getattr(getattr(app, "state", None), "unaudited_writes", None)
    if isinstance(kept, list) and len(kept) < UNAUDITED_KEPT_MAX:
        kept.append(what)


def _with_request_id(send: Send, request_id: str, status: list[int]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))
            headers = list(message.get("headers") or [])
            headers.append((REQUEST_ID_HEADER, request_id.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped
