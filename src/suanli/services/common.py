"""Small shared pieces of the service layer: ids, the clock, the caller, the request, pages,
and `audit`, the one function every write calls to append to the hash-chained audit log."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from suanli.adapters.db.audit_log import QueuedEntry, queue_entry
from suanli.domain.audit_chain import summary
from suanli.domain.calendar import BEIJING
from suanli.domain.identity import ORG_KIND_NAMES_ZH
from suanli.domain.permissions import Caller
from suanli.errors import InvalidInput, PermissionDenied
from suanli.i18n import msg

T = TypeVar("T")
PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 500


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(BEIJING)  # an aware instant; shown as +08:00 wherever it goes


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, with a role, of one organisation of one kind, through one
    credential (a session, or an API token with its scopes). The services receive nothing
    else about the caller."""

    user_id: str
    org_id: str
    org_kind: str
    role: str = "admin"
    scopes: frozenset[str] | None = None  # a token's scopes; None for a session (role only)
    credential: str = ""  # "session:<id>", "token:<id>", "cli", "system"
    org_state: str = "active"

    @property
    def is_operator(self) -> bool:
        return self.org_kind == "operator"

    @property
    def session_id(self) -> str | None:
        kind, _, value = self.credential.partition(":")
        return value if kind == "session" else None

    @property
    def token_id(self) -> str | None:
        kind, _, value = self.credential.partition(":")
        return value if kind == "token" else None

    def as_caller(self) -> Caller:
        return Caller(self.org_kind, self.role, self.org_state, self.scopes)

    def require_kind(self, *kinds: str) -> None:
        if self.org_kind not in kinds and not self.is_operator:
            names_zh = "或".join(ORG_KIND_NAMES_ZH.get(kind, kind) for kind in kinds)
            raise PermissionDenied(
                msg(
                    f"只有{names_zh}可以这样做",
                    f"this needs an organisation of kind {' or '.join(kinds)}",
                ),
                field="organisation",  # the kind of the caller's organisation is what is wrong
            )


Bound = TypeVar("Bound", int, datetime)


def require_ordered_range(
    low: Bound | None, high: Bound | None, low_field: str, high_field: str, *, half_open: bool
) -> None:
    """A range filter given the wrong way round matches nothing: it is refused (422, naming
    the lower bound) rather than answered with an empty page a caller would take as the truth.
    An inclusive range [low, high] may be one value; a half-open [low, high) may not."""
    if low is None or high is None or low < high or (low == high and not half_open):
        return
    if half_open:
        wording = msg(
            f"`{low_field}` 须早于 `{high_field}`", f"{low_field} must be before {high_field}"
        )
    else:
        wording = msg(
            f"`{low_field}` 不能大于 `{high_field}`",
            f"{low_field} must not be greater than {high_field}",
        )
    given = {name: _json_value(value) for name, value in ((low_field, low), (high_field, high))}
    raise InvalidInput(wording, field=low_field, **given)


def _json_value(value: int | datetime) -> int | str:
    return value.isoformat() if isinstance(value, datetime) else value


@dataclass(frozen=True)
class Page:
    offset: int = 0
    limit: int = PAGE_SIZE_DEFAULT

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise InvalidInput(msg("`offset` 不能为负数", "offset must be >= 0"), field="offset")
        if not 1 <= self.limit <= PAGE_SIZE_MAX:
            raise InvalidInput(
                msg(
                    f"`limit` 须在 1 至 {PAGE_SIZE_MAX} 之间",
                    f"limit must be in [1, {PAGE_SIZE_MAX}]",
                ),
                field="limit",
            )


@dataclass(frozen=True)
class PageResult(Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


def paginate(session: Session, query: Select[Any], page: Page) -> PageResult[Any]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(session.scalars(query.offset(page.offset).limit(page.limit)))
    return PageResult(items=items, total=total, offset=page.offset, limit=page.limit)


@dataclass(frozen=True)
class RequestContext:
    """Where a write came from, for the audit log: the API sets it per request."""

    request_id: str
    client_address: str


LOCAL_REQUEST = RequestContext(request_id="", client_address="local")
_request: ContextVar[RequestContext | None] = ContextVar("suanli_request", default=None)


def current_request() -> RequestContext:
    return _request.get() or LOCAL_REQUEST


@contextmanager
def using_request(context: RequestContext) -> Iterator[RequestContext]:
    token = _request.set(context)
    try:
        yield context
    finally:
        _request.reset(token)


def audit(
    session: Session,
    clock: Clock,
    actor: Principal,
    action: str,
    subject: str,
    *,
    about_org: str | None = None,
    before: dict[str, Any] | None = None,
    **after: object,
) -> None:
    """Appends one entry to the audit log when the session commits (nothing if it rolls
    back). `about_org` is the other organisation the entry concerns (an application's agency,
    a reviewed organisation), which may then read it; `before` and the keyword arguments are
    the before/after summary, with any secret-named value redacted."""
    request = current_request()
    queue_entry(
        session,
        QueuedEntry(
            at=clock.now(),
            actor_id=actor.user_id[:40],
            org_id=actor.org_id[:40],
            credential=actor.credential[:60],
            action=action[:80],
            subject=subject[:80],
            about_org_id=about_org,
            before=summary(before),
            after=summary(dict(after)) or {},
            request_id=request.request_id[:64],
            client_address=request.client_address[:64],
        ),
    )
