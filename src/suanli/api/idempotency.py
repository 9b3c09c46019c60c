"""Idempotency-Key for every write endpoint (Stripe's rule, as the IETF httpapi draft
"The Idempotency-Key HTTP Header Field" describes it):

- The key belongs to the authenticated caller (the user behind the token), not to the raw
  header: `bearer X` and `Bearer X` are one caller.
- The first request **claims** the key by inserting a unique row before any work. A concurrent
  duplicate cannot insert it; it waits (bounded) for the first one's result and replays it,
  or answers 409 `idempotency_in_progress` with Retry-After.
- Only results that committed something (2xx) are stored, plus refusals of the request's own
  shape (schema validation), which no later state can change. Any other refusal or failure
  (insufficient funds, a conflict, a 5xx) releases the claim, so a retry after the caller has
  cured the cause runs again instead of replaying the refusal forever.
- The same key with a different request (method, path, query or body) is a 409.
- A claim left by a process that died mid-request expires after CLAIM_LEASE_S.
- When the database goes away between the work's commit and the storing of its result, the
  result is answered as it is and stored once the database is back (and a release likewise
  happens later), so a retry with the key replays the work instead of waiting out the lease.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suanli.adapters.db.database import Database
from suanli.adapters.db.tables import IdempotencyRow
from suanli.api.db_outage import is_database_outage
from suanli.api.guards import replay_body
from suanli.errors import Conflict, IdempotencyConflict, InvalidInput, SuanliError
from suanli.i18n import current_language, msg

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_LENGTH_MAX = 200
RESPONSE_BYTES_MAX = 1024 * 1024  # larger responses are not stored (and so not replayable)
IN_PROGRESS_WAIT_S = 15.0  # a duplicate waits this long for the first request's result
IN_PROGRESS_POLL_S = 0.05
CLAIM_LEASE_S = 300.0  # a claim older than this was left by a process that died
# A claim whose request failed while the database was away is released once it is back, so
# the client's retry with the same key goes through (rather than waiting out the lease).
RELEASE_RETRY_S = 60.0
RELEASE_RETRY_EVERY_S = 0.5
# A result whose storing failed that way is stored once the database is back, for as long as
# the claim would hold the key (after that the key could run the work again).
COMPLETE_RETRY_S = CLAIM_LEASE_S - 10.0
CLAIMED = "claimed"
DONE = "done"


class IdempotencyInProgress(Conflict):
    """Another request with the same Idempotency-Key is still running."""

    code = "idempotency_in_progress"


@dataclass(frozen=True)
class Claim:
    key: str
    scope: str
    fingerprint: str


class IdempotencyMiddleware:
    """Pure ASGI: a request without a key passes straight through (a BaseHTTPMiddleware ran a
    task group and two memory streams around every request, keyed or not)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        key = request.headers.get("idempotency-key")
        if key is None:
            await self.app(scope, receive, send)
            return
        if not key.strip() or len(key) > KEY_LENGTH_MAX:
            await _error(_bad_key())(scope, receive, send)
            return
        db: Database = request.app.state.suanli.db
        caller = await _caller_scope(request, db)
        body = await request.body()
        replay = replay_body(body, receive)
        if caller is None:  # not authenticated: the route answers 401, nothing to remember
            await self.app(scope, replay, send)
            return
        claim = Claim(key, caller, _fingerprint(request, body))
        earlier = await _claim_or_wait(db, claim)
        if earlier is not None:
            await earlier(scope, receive, send)
            return
        captured = _Captured()
        try:
            await self.app(scope, replay, captured.send)
        except BaseException:
            await run_in_threadpool(_release_when_possible, db, claim)
            raise
        await _finish(db, claim, captured)
        await captured.forward(send)


@dataclass
class _Captured:
    """The route's answer, held until the key's result is stored."""

    start: Message | None = None
    chunks: list[bytes] = field(default_factory=list)

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))

    @property
    def status_code(self) -> int:
        return int(self.start["status"]) if self.start else 500

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def header(self, name: bytes) -> str:
        for key, value in (self.start or {}).get("headers", []):
            if key.lower() == name:
                return bytes(value).decode("latin-1")
        return ""

    async def forward(self, send: Send) -> None:
        if self.start is None:
            return
        await send(self.start)
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


async def _caller_scope(request: Request, db: Database) -> str | None:
    from suanli.api.deps import cached_principal  # late: deps imports the services

    principal = cached_principal(request)
    if principal is not None:
        return _scope_of(principal.user_id)
    return await run_in_threadpool(caller_scope, request, db)


def _scope_of(user_id: str) -> str:
    return f"user:{user_id}"[:40]


def caller_scope(request: Request, db: Database) -> str | None:
    """The authenticated caller's user id, or None when the request has no valid credential."""
    from suanli.api.deps import principal_from_request  # late: deps imports the services

    try:
        principal = principal_from_request(request, db)
    except SuanliError:  # no credential, a dead one, or a refused CSRF token: the route answers
        return None
    return _scope_of(principal.user_id)


def _fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


async def _claim_or_wait(db: Database, claim: Claim) -> Response | None:
    """None when this request now owns the key; else the answer to give instead."""
    deadline = asyncio.get_running_loop().time() + IN_PROGRESS_WAIT_S
    while True:
        stored = await run_in_threadpool(_try_claim, db, claim)
        if stored is None:
            return None
        if stored.request_sha256 != claim.fingerprint:
            return _error(_different_request())
        if stored.state == DONE:
            return _replay(stored)
        if asyncio.get_running_loop().time() >= deadline:
            return _error(_in_progress(), headers={"Retry-After": "1"})
        await asyncio.sleep(IN_PROGRESS_POLL_S)


def _try_claim(db: Database, claim: Claim) -> IdempotencyRow | None:
    """Inserts the claim row, committed at once; returns the existing row if another request
    holds the key (a stale claim is taken over by compare-and-set)."""
    now = datetime.now(UTC)
    try:
        with _one_statement(db) as connection:
            connection.execute(
                insert(IdempotencyRow).values(
                    key=claim.key,
                    principal_id=claim.scope,
                    request_sha256=claim.fingerprint,
                    state=CLAIMED,
                    status_code=None,
                    response=None,
                    created_at=now,
                )
            )
        return None
    except IntegrityError:
        pass
    stored = _lookup(db, claim)
    if stored is None:  # released between our insert and our read: try again
        return _try_claim(db, claim)
    if stored.state == CLAIMED and _is_stale(stored, now) and _take_over(db, stored, claim, now):
        return None
    return stored


@contextmanager
def _one_statement(db: Database) -> Iterator[Connection]:
    """A connection whose each statement commits by itself. The claim, its result and its
    release are one statement each: on PostgreSQL, autocommit spares the BEGIN and COMMIT
    round trips (four of a keyed submit's round trips). SQLite: a transaction as usual."""
    if db.is_sqlite:
        with db.engine.begin() as connection:
            yield connection
        return
    with db.engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


def _is_stale(row: IdempotencyRow, now: datetime) -> bool:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return now - created > timedelta(seconds=CLAIM_LEASE_S)


def _take_over(db: Database, row: IdempotencyRow, claim: Claim, now: datetime) -> bool:
    with db.session() as session:
        result = session.execute(
            update(IdempotencyRow)
            .where(
                IdempotencyRow.key == claim.key,
                IdempotencyRow.principal_id == claim.scope,
                IdempotencyRow.state == CLAIMED,
                IdempotencyRow.created_at == row.created_at,
            )
            .values(created_at=now, request_sha256=claim.fingerprint)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _lookup(db: Database, claim: Claim) -> IdempotencyRow | None:
    with db.session() as session:
        return session.scalar(
            select(IdempotencyRow).where(
                IdempotencyRow.key == claim.key, IdempotencyRow.principal_id == claim.scope
            )
        )


async def _finish(db: Database, claim: Claim, response: _Captured) -> None:
    body = response.body
    if _is_final(response, body):
        await run_in_threadpool(_complete_when_possible, db, claim, response.status_code, body)
    else:
        await run_in_threadpool(_release_when_possible, db, claim)


def _is_final(response: _Captured, body: bytes) -> bool:
    """Stored: what committed something, and refusals of the request's own shape."""
    is_json = response.header(b"content-type").startswith("application/json")
    if not is_json or len(body) > RESPONSE_BYTES_MAX:
        return False
    if 200 <= response.status_code < 300:
        return True
    return response.status_code == 422 and _is_schema_refusal(body)


def _is_schema_refusal(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    details = parsed.get("details") if isinstance(parsed, dict) else None
    return isinstance(details, dict) and "problems" in details


def _complete(db: Database, claim: Claim, status_code: int, body: bytes) -> None:
    with _one_statement(db) as session:
        session.execute(
            update(IdempotencyRow)
            .where(IdempotencyRow.key == claim.key, IdempotencyRow.principal_id == claim.scope)
            .values(
                state=DONE,
                status_code=status_code,
                # the language it was worded in: a replay says so, whatever the replayer asks
                response={"body": json.loads(body), "language": current_language()},
            )
        )


def _release(db: Database, claim: Claim) -> None:
    with _one_statement(db) as session:
        session.execute(
            delete(IdempotencyRow).where(
                IdempotencyRow.key == claim.key,
                IdempotencyRow.principal_id == claim.scope,
                IdempotencyRow.state == CLAIMED,
            )
        )


def _release_when_possible(db: Database, claim: Claim) -> None:
    """Releases now, or, when the database is away, from a thread that retries for a while."""
    _now_or_later(lambda: _release(db, claim), RELEASE_RETRY_S)


def _complete_when_possible(db: Database, claim: Claim, status_code: int, body: bytes) -> None:
    """Stores the result now, or, when the database went away after the work committed, from
    a thread that retries until the claim's lease would end: the work is done, so the answer
    goes out as it is, and the key must come to replay it, never run it again. (Raising here
    left the claim held: every retry with the key answered 409 until the lease ran out, and
    then ran the work a second time.)"""
    _now_or_later(lambda: _complete(db, claim, status_code, body), COMPLETE_RETRY_S)


def _now_or_later(write: Callable[[], None], retry_s: float) -> None:
    try:
        write()
    except Exception as error:
        if not is_database_outage(error):
            raise
        threading.Thread(target=_keep_trying, args=(write, retry_s), daemon=True).start()


def _keep_trying(write: Callable[[], None], retry_s: float) -> None:
    deadline = time.monotonic() + retry_s
    while time.monotonic() < deadline:
        time.sleep(RELEASE_RETRY_EVERY_S)
        try:
            write()
            return
        except Exception as error:
            if not is_database_outage(error):
                return


def _replay(stored: IdempotencyRow) -> Response:
    body = (stored.response or {}).get("body")
    response = JSONResponse(body, status_code=stored.status_code or 200)
    response.headers["Idempotent-Replay"] = "true"
    language = (stored.response or {}).get("language")
    if isinstance(language, str):
        response.headers["Content-Language"] = language
    return response


def _bad_key() -> InvalidInput:
    return InvalidInput(
        msg(
            f"Idempotency-Key 须为 1..{KEY_LENGTH_MAX} 个字符",
            f"Idempotency-Key must be 1..{KEY_LENGTH_MAX} characters",
        ),
        field="Idempotency-Key",
    )


def _different_request() -> IdempotencyConflict:
    return IdempotencyConflict(
        msg(
            "这个 Idempotency-Key 已用于另一个不同的请求",
            "this Idempotency-Key was used with a different request",
        ),
        field="Idempotency-Key",
    )


def _in_progress() -> IdempotencyInProgress:
    return IdempotencyInProgress(
        msg(
            "使用同一 Idempotency-Key 的请求仍在处理中，请稍后重试",
            "a request with the same Idempotency-Key is still running; retry shortly",
        ),
        field="Idempotency-Key",
    )


def _error(error: Conflict | InvalidInput, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(error.to_dict(), status_code=error.http_status, headers=headers)
