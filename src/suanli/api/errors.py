"""Maps typed errors (and request validation) to JSON bodies that name the field."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from suanli.errors import SuanliError


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SuanliError)
    async def _suanli_error(_request: Request, error: SuanliError) -> JSONResponse:
        return JSONResponse(status_code=error.http_status, content=error.to_dict())

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
