"""Maps typed errors (and request validation) to JSON bodies that name the field."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from suanli.errors import Conflict, SuanliError

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
    message = f"another request stored the same {field or 'value'} at the same time; retry"
    return Conflict(message, field=field)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SuanliError)
    async def _suanli_error(_request: Request, error: SuanliError) -> JSONResponse:
        return JSONResponse(status_code=error.http_status, content=error.to_dict())

    @app.exception_handler(IntegrityError)
    async def _integrity_error(_request: Request, error: IntegrityError) -> JSONResponse:
        conflict = conflict_from_integrity(error)
        if conflict is None:
            raise error  # a broken invariant, not a request to refuse: the 500 stays loud
        return JSONResponse(status_code=conflict.http_status, content=conflict.to_dict())

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": ".".join(str(part) for part in item["loc"][1:]) or str(item["loc"][0]),
                "message": item["msg"],
            }
            for item in error.errors()
        ]
        first = problems[0] if problems else {"field": "body", "message": "invalid request"}
        body = {
            "error": "invalid_input",
            "message": f"{first['field']}: {first['message']}",
            "field": first["field"],
            "details": {"problems": problems},
        }
        return JSONResponse(status_code=422, content=body)
