"""Where each request comes from, for the audit log: a request id (the caller's
`X-Request-ID` when it is a sane one, else a new one, echoed in the answer) and the client's
address. Pure ASGI, so the context reaches the route's thread (as the language does)."""

from __future__ import annotations

import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suanli.services.common import RequestContext, using_request

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
        with using_request(RequestContext(request_id=request_id, client_address=address)):
            await self.app(scope, receive, _with_request_id(send, request_id))


def _with_request_id(send: Send, request_id: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            headers.append((REQUEST_ID_HEADER, request_id.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped
