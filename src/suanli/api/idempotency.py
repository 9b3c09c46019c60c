"""Idempotency-Key for every write endpoint: a replay returns the first result; the same key
with a different request is a 409. Keys are scoped to the caller's token."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from suanli.adapters.db.database import Database
from suanli.adapters.db.tables import IdempotencyRow
from suanli.errors import IdempotencyConflict, InvalidInput

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_LENGTH_MAX = 200
RESPONSE_BYTES_MAX = 1024 * 1024  # larger responses are not stored (and so not replayable)


class IdempotencyMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        key = request.headers.get("idempotency-key")
        if request.method not in WRITE_METHODS or key is None:
            return await call_next(request)
        if not key.strip() or len(key) > KEY_LENGTH_MAX:
            error = InvalidInput(
                f"Idempotency-Key must be 1..{KEY_LENGTH_MAX} characters", field="Idempotency-Key"
            )
            return JSONResponse(error.to_dict(), status_code=error.http_status)
        db: Database = request.app.state.suanli.db
        scope = _caller_scope(request)
        fingerprint = await _fingerprint(request)
        stored = await run_in_threadpool(_lookup, db, key, scope)
        if stored is not None:
            return _replay(stored, fingerprint)
        response = await call_next(request)
        return await _remember(db, key, scope, fingerprint, response)


def _caller_scope(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return hashlib.sha256(header.encode()).hexdigest()[:40]


async def _fingerprint(request: Request) -> str:
    body = await request.body()
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


def _lookup(db: Database, key: str, scope: str) -> IdempotencyRow | None:
    with db.session() as session:
        return session.scalar(
            select(IdempotencyRow).where(
                IdempotencyRow.key == key, IdempotencyRow.principal_id == scope
            )
        )


def _replay(stored: IdempotencyRow, fingerprint: str) -> Response:
    if stored.request_sha256 != fingerprint:
        error = IdempotencyConflict(
            "this Idempotency-Key was used with a different request", field="Idempotency-Key"
        )
        return JSONResponse(error.to_dict(), status_code=error.http_status)
    response = JSONResponse(stored.response.get("body"), status_code=stored.status_code)
    response.headers["Idempotent-Replay"] = "true"
    return response


async def _remember(
    db: Database, key: str, scope: str, fingerprint: str, response: Response
) -> Response:
    chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
    body = b"".join(c if isinstance(c, bytes) else str(c).encode() for c in chunks)
    is_json = response.headers.get("content-type", "").startswith("application/json")
    storable = is_json and response.status_code < 500 and response.status_code != 401
    if storable and len(body) <= RESPONSE_BYTES_MAX:
        row = IdempotencyRow(
            key=key,
            principal_id=scope,
            request_sha256=fingerprint,
            status_code=response.status_code,
            response={"body": json.loads(body or b"null")},
            created_at=datetime.now(UTC),
        )
        stored = await run_in_threadpool(_store, db, row)
        if stored is not None:  # a concurrent twin won the race: answer as it did
            return _replay(stored, fingerprint)
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(body, status_code=response.status_code, headers=headers)


def _store(db: Database, row: IdempotencyRow) -> IdempotencyRow | None:
    try:
        with db.session() as session:
            session.add(row)
        return None
    except IntegrityError:
        return _lookup(db, row.key, row.principal_id)
