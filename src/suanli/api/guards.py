"""Request guards that run before any route: the caller's language, and the character rule
for everything a request carries (path, query, JSON body keys and values).

The shared string types in `api.types` name the field precisely; this guard is the net under
them, so a field someone forgets to type can still never carry a NUL or a lone surrogate to
the database (a 500 on PostgreSQL) or to a process launch (which stalled the scheduler).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suanli.domain.text import describe, first_bad_character
from suanli.errors import InvalidInput, LimitExceeded
from suanli.i18n import msg, parse_accept_language, using_language

BODY_BYTES_MAX = 32 * 1024 * 1024  # a 20 MiB spreadsheet, base64-encoded, plus its fields
BODY_ALLOWED_CONTROLS = frozenset("\t\n\r")  # multi-line fields normalise CR themselves
JSON_DEPTH_MAX = 32
# the longest route with the longest ids is under 300 characters; a longer path is refused
# before a route echoes part of it back (a 404 naming a 5,000-character "id")
PATH_CHARS_MAX = 1_024


class RequestGuard:
    """Pure ASGI middleware (not BaseHTTPMiddleware, so the language context variable reaches
    the route and the exception handlers in the same context)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        language = parse_accept_language(headers.get(b"accept-language", b"").decode("latin-1"))
        with using_language(language) as chosen:
            send = _with_content_language(send, chosen)
            try:
                _check_path_and_query(scope)
                receive = await _checked_body(scope, receive, headers)
            except (InvalidInput, LimitExceeded) as error:
                await _answer_error(send, error)
                return
            await self.app(scope, receive, send)


def _with_content_language(send: Send, language: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            if all(name.lower() != b"content-language" for name, _ in headers):  # a replay's own
                headers.append((b"content-language", language.encode()))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


def _check_path_and_query(scope: Scope) -> None:
    path = scope.get("path", "")
    if len(path) > PATH_CHARS_MAX:
        raise InvalidInput(
            msg(
                f"请求路径过长：最多 {PATH_CHARS_MAX} 个字符",
                f"the request path is too long: at most {PATH_CHARS_MAX} characters",
            ),
            field="path",
        )
    bad = first_bad_character(path)
    if bad is not None:
        raise _bad_character("path", bad)
    query = scope.get("query_string", b"").decode("utf-8", errors="surrogateescape")
    for name, value in parse_qsl(query, keep_blank_values=True, errors="surrogateescape"):
        for part in (name, value):
            bad = first_bad_character(part)
            if bad is not None:
                raise _bad_character(name if part is value else "query", bad)


async def _checked_body(scope: Scope, receive: Receive, headers: dict[bytes, bytes]) -> Receive:
    """Reads the body once (bounded), checks JSON strings, and replays it to the route."""
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > BODY_BYTES_MAX:
        raise _too_large()
    if scope.get("method") not in ("POST", "PUT", "PATCH", "DELETE"):
        return receive
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return receive
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > BODY_BYTES_MAX:
            raise _too_large()
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    if b"json" in headers.get(b"content-type", b""):
        _check_json_strings(body)
    return replay_body(body, receive)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then the client's later messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _check_json_strings(body: bytes) -> None:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return  # the route's own parser answers a malformed body, naming `body`
    _walk(document, "body", 0)


def _walk(node: Any, path: str, depth: int) -> None:
    if depth > JSON_DEPTH_MAX:
        raise InvalidInput(
            msg(
                f"{path} 嵌套超过 {JSON_DEPTH_MAX} 层", f"{path} nests deeper than {JSON_DEPTH_MAX}"
            ),
            field=path,
        )
    if isinstance(node, str):
        bad = first_bad_character(node, BODY_ALLOWED_CONTROLS)
        if bad is not None:
            raise _bad_character(_field_name(path), bad)
    elif isinstance(node, dict):
        for key, value in node.items():
            bad = first_bad_character(key)
            if bad is not None:
                raise _bad_character(_field_name(path), bad)  # the key itself is unprintable
            _walk(value, f"{path}.{key}", depth + 1)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _walk(value, f"{path}.{index}", depth + 1)


def _field_name(path: str) -> str:
    return path.removeprefix("body.") if path != "body" else "body"


def _bad_character(field: str, char: str) -> InvalidInput:
    where = describe(char)
    return InvalidInput(
        msg(
            f"`{field}` 含有不允许的字符 {where}"
            "（控制字符、双向文字控制符、代理项和非字符都不允许）",
            f"{field} holds a character that is not allowed, {where} "
            "(no control characters, bidirectional controls, surrogates or non-characters)",
        ),
        field=field,
    )


def _too_large() -> LimitExceeded:
    return LimitExceeded(
        msg(
            f"请求体超过上限 {BODY_BYTES_MAX} 字节（32 MiB）",
            f"the request body is over the {BODY_BYTES_MAX}-byte (32 MiB) limit",
        ),
        field="body",
    )


async def _answer_error(send: Send, error: InvalidInput | LimitExceeded) -> None:
    body = json.dumps(error.to_dict(), ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": error.http_status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
