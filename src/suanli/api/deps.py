"""Request dependencies: the app graph, a unit of work per request, and the caller.

The caller comes from an `Authorization: Bearer <token>` header (an API token) or from the
`suanli_session` cookie (a signed-in browser or CLI). A cookie-authenticated write must carry
the session's CSRF token in `X-CSRF-Token`, and its `Origin`, when sent, must be this host.
Then the permission table (`domain/permissions.py`) decides on the matched route: the same
rule for every caller, checked before the route runs.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyCookie, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from suanli.adapters.db.database import Database
from suanli.bootstrap import App
from suanli.domain.permissions import authorize, rule_for
from suanli.errors import CsrfRefused, NotAuthenticated, PermissionDenied
from suanli.i18n import msg
from suanli.services import auth, token_cache
from suanli.services.common import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, Clock, Page, Principal

SESSION_COOKIE = "suanli_session"
CSRF_HEADER = "X-CSRF-Token"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`sl_...`): `suanli tokens create`, shown once.",
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The session cookie set by POST /v1/auth/login (HttpOnly, SameSite=Strict). "
    f"Writes also need the `{CSRF_HEADER}` header.",
)


# The dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in
# the thread pool, and each such hop cost more than the work (profiled: thread hand-offs were
# a fifth of a list read's CPU).
async def get_app(request: Request) -> App:
    return app_of(request)


def app_of(request: Request) -> App:
    app: App = request.app.state.suanli
    return app


async def get_session(app: Annotated[App, Depends(get_app)]) -> AsyncIterator[Session]:
    """Opened on the event loop (no I/O yet); ended in one trip to the thread pool, where a
    plain generator dependency took two (its start and its end)."""
    session = app.db.open_session()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(app.db.finish, session, commit=False)
        raise
    await run_in_threadpool(app.db.finish, session, commit=True)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def session_limits(app: App) -> auth.SessionLimits:
    return auth.SessionLimits(app.settings.session_idle_s, app.settings.session_absolute_s)


def principal_from_request(request: Request, db: Database) -> Principal:
    """The caller behind the request's credential; NotAuthenticated when there is none.
    Idempotency keys belong to this principal, whichever credential carried it."""
    app = app_of(request)
    clock: Clock = app.clock
    token = bearer_token(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if token:
        return _token_principal(db, clock, token)
    with db.session() as session:
        if cookie:
            principal, csrf = auth.authenticate_session(session, clock, session_limits(app), cookie)
            if request.method in WRITE_METHODS:
                check_csrf(request, csrf)
            return principal
    raise NotAuthenticated(
        msg(
            "请先登录，或发送 Authorization: Bearer <令牌>",
            "sign in, or send Authorization: Bearer <token>",
        ),
        field="Authorization",
    )


def cached_principal(request: Request) -> Principal | None:
    """The caller of a bearer token verified a moment ago (services/token_cache.py), if any."""
    token = bearer_token(request)
    if token is None:
        return None
    return token_cache.cache.get(auth.sha256_hex(token), app_of(request).clock.now())


def _token_principal(db: Database, clock: Clock, token: str) -> Principal:
    """From the short-lived cache of verified tokens, else looked up (and cached once the
    lookup's unit of work committed)."""
    digest = auth.sha256_hex(token)
    cached = token_cache.cache.get(digest, clock.now())
    if cached is not None:
        return cached
    generation = token_cache.cache.generation
    with db.session() as session:
        principal, expires_at = auth.verify_token(session, clock, token)
    token_cache.cache.put(digest, principal, expires_at, generation)
    return principal


def check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER.lower(), "")
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused(
            msg(
                f"用会话 Cookie 写入时须带 {CSRF_HEADER} 请求头（登录时返回）",
                f"a cookie-authenticated write needs the {CSRF_HEADER} header (from sign-in)",
            ),
            field=CSRF_HEADER,
        )
    check_origin(request)


def check_origin(request: Request) -> None:
    """A browser names the page's origin on every write; it must be this host."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    if urlsplit(origin).netloc.lower() != request.url.netloc.lower():
        raise CsrfRefused(
            msg("请求来自其他网站，已拒绝", "the request comes from another site"), field="Origin"
        )


async def get_principal(
    request: Request,
    app: Annotated[App, Depends(get_app)],
    _bearer: Annotated[object, Depends(bearer_scheme)] = None,
    _cookie: Annotated[object, Depends(cookie_scheme)] = None,
) -> Principal:
    principal = cached_principal(request)
    if principal is None:  # a lookup in the database: off the event loop
        principal = await run_in_threadpool(principal_from_request, request, app.db)
    route = request.scope.get("route")
    rule = rule_for(request.method, getattr(route, "path", ""))
    if rule is None:  # a route someone forgot to put in the table: refused, never open
        raise PermissionDenied(
            msg("这个接口没有权限规则，已拒绝", "this operation has no permission rule"),
            field="path",
        )
    authorize(rule, principal.as_caller())
    return principal


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def get_page(
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
) -> Page:
    return Page(offset=offset, limit=limit)


AppState = Annotated[App, Depends(get_app)]
# "function" scope commits before the response is sent: a failed commit can never look like success.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
PageParams = Annotated[Page, Depends(get_page)]
