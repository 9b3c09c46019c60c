"""Small shared pieces of the service layer: ids, the clock, the caller, pages, audit."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from suanli.adapters.db.tables import AuditRow
from suanli.domain.calendar import BEIJING
from suanli.errors import InvalidInput, PermissionDenied

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
    """Who is calling: a user of one organisation of one kind."""

    user_id: str
    org_id: str
    org_kind: str

    @property
    def is_operator(self) -> bool:
        return self.org_kind == "operator"

    def require_kind(self, *kinds: str) -> None:
        if self.org_kind not in kinds and not self.is_operator:
            raise PermissionDenied(f"this needs an organisation of kind {' or '.join(kinds)}")


@dataclass(frozen=True)
class Page:
    offset: int = 0
    limit: int = PAGE_SIZE_DEFAULT

    def __post_init__(self) -> None:
        if self.offset < 0:
            raise InvalidInput("offset must be >= 0", field="offset")
        if not 1 <= self.limit <= PAGE_SIZE_MAX:
            raise InvalidInput(f"limit must be in [1, {PAGE_SIZE_MAX}]", field="limit")


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


def audit(
    session: Session, clock: Clock, actor: Principal, action: str, subject: str, **detail: object
) -> None:
    session.add(
        AuditRow(
            at=clock.now(),
            actor_id=actor.user_id,
            org_id=actor.org_id,
            action=action,
            subject=subject,
            detail=dict(detail),
        )
    )
