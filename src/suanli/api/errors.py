"""Maps typed errors, request validation and unknown routes to one JSON shape:
`{"error", "message", "field"}`, in the caller's language."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from suanli.api.validation_messages import problem_message
from suanli.errors import Conflict, SuanliError, TooManyAttempts
from suanli.i18n import msg, t

UNIQUE_VIOLATION_SQLSTATE = "23505"  # PostgreSQL's unique_violation
SQLITE_UNIQUE = "UNIQUE constraint failed:"  # then "table.column, table.column"
PG_KEY_COLUMNS = re.compile(r"Key \(([^)]*)\)=")  # DETAIL:  Key (provider_id, name)=(...)


def conflict_from_integrity(error: IntegrityError) -> Conflict | None:
    """A unique violation that the services' own checks could not see (two requests creating
    the same name at once) as a 409 naming the field; None for any other integrity error,
    which is a bug and stays a 500."""
    text = str(error.orig)
    if getattr(error.orig, "sqlstate", None) == UNIQUE_VIOLATION_SQLSTATE:
        found = PG_KEY_COLUMNS.search(text)
        columns = found.group(1).split(",") if found else []
    elif SQLITE_UNIQUE in text:
        columns = text.split(SQLITE_UNIQUE, 1)[1].split(",")
    else:
        return None
    names = [column.strip().split(".")[-1] for column in columns if column.strip()]
    field = names[-1] if names else None  # the last is the one a caller chose (a name, a key)
    shown = field or t("值", "value")
    message = msg(
        f"另一个请求同时保存了相同的 {shown}，请重试",
        f"another request stored the same {shown} at the same time; retry",
    )
    return Conflict(message, field=field)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SuanliError)
    async def _suanli_error(_request: Request, error: SuanliError) -> JSONResponse:
        return JSONResponse(
            status_code=error.http_status, content=error.to_dict(), headers=error_headers(error)
        )

    @app.exception_handler(IntegrityError)
    async def _integrity_error(_request: Request, error: IntegrityError) -> JSONResponse:
        conflict = conflict_from_integrity(error)
        if conflict is None:
            raise error  # a broken invariant, not a request to refuse: the 500 stays loud
        return JSONResponse(status_code=conflict.http_status, content=conflict.to_dict())

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=validation_body(list(error.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == UNPARSABLE_BODY:
            return JSONResponse(status_code=422, content=validation_body([UNPARSABLE_PROBLEM]))
        body = http_error_body(request, error.status_code)
        return JSONResponse(status_code=error.status_code, content=body, headers=error.headers)


# FastAPI answers 400 with this detail when decoding the body raised anything but a JSON
# syntax error: bytes that are not UTF-8, nesting deeper than the parser's recursion, an
# integer longer than Python converts. To the caller it is the same mistake as bad syntax.
UNPARSABLE_BODY = "There was an error parsing the body"
UNPARSABLE_PROBLEM: dict[str, Any] = {
    "type": "json_invalid",
    "loc": ("body",),
    "msg": "JSON decode error",
}


def error_headers(error: SuanliError) -> dict[str, str] | None:
    """Retry-After on a 429 (RFC 9110: delay-seconds)."""
    if isinstance(error, TooManyAttempts):
        return {"Retry-After": str(max(1, error.retry_after_s))}
    return None


def validation_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    problems = [{"field": problem_field(item), "message": problem_message(item)} for item in errors]
    first = problems[0] if problems else {"field": "body", "message": t("请求无效", "invalid")}
    return {
        "error": "invalid_input",
        "message": t(
            f"`{first['field']}`：{first['message']}", f"{first['field']}: {first['message']}"
        ),
        "field": first["field"],
        "details": {"problems": problems},
    }


def problem_field(item: dict[str, Any]) -> str:
    """`("body", "spec", "cards")` → `spec.cards`; a body that is not JSON at all is `body`."""
    location = [str(part) for part in item.get("loc", ())]
    if item.get("type") == "json_invalid" or not location:
        return "body"
    return ".".join(location[1:]) or location[0]


def http_error_body(request: Request, status: int) -> dict[str, Any]:
    if status == 404:
        return {
            "error": "not_found",
            "message": t(
                f"没有这个地址: {request.url.path}", f"no such endpoint: {request.url.path}"
            ),
            "field": "path",
        }
    if status == 405:
        return {
            "error": "method_not_allowed",
            "message": t(
                f"{request.url.path} 不接受 {request.method} 请求",
                f"{request.url.path} does not accept {request.method}",
            ),
            "field": "method",
        }
    return {
        "error": "http_error",
        "message": t(f"HTTP 错误 {status}", f"HTTP error {status}"),
        "field": "request",
    }
