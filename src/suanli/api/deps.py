"""Request dependencies: the app graph, a unit of work per request, and the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from suanli.adapters.db.database import Database
from suanli.bootstrap import App
from suanli.services.common import PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, Page, Principal
from suanli.services.organisations import authenticate


def get_app(request: Request) -> App:
    app: App = request.app.state.suanli
    return app


def get_session(app: Annotated[App, Depends(get_app)]) -> Iterator[Session]:
    with app.db.session() as session:
        yield session


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def principal_from_request(request: Request, db: Database) -> Principal:
    """The caller behind the request's credential; NotAuthenticated when there is none."""
    with db.session() as session:
        return authenticate(session, bearer_token(request))


def get_principal(request: Request, app: Annotated[App, Depends(get_app)]) -> Principal:
    return principal_from_request(request, app.db)


def get_page(
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE_DEFAULT,
) -> Page:
    return Page(offset=offset, limit=limit)


AppState = Annotated[App, Depends(get_app)]
# "function" scope commits before the response is sent: a failed commit can never look like success.
DbSession = Annotated[Session, Depends(get_session, scope="function")]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
PageParams = Annotated[Page, Depends(get_page)]
