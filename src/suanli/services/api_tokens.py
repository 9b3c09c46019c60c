"""A user's named API tokens (as GitHub's fine-grained tokens and Stripe's restricted keys):
an expiry of at most a year, scopes never wider than the user's role (nor, when a token mints
a token, than that token), last-used time, revocation. The token is shown once; only its
SHA-256 is stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from suanli.adapters.db.tables import ApiTokenRow, UserRow
from suanli.domain.identity import (
    TOKEN_LIFETIME_DAYS_DEFAULT,
    TOKEN_LIFETIME_DAYS_MAX,
    check_scopes,
    scopes_cover,
)
from suanli.errors import InvalidInput, NotFound
from suanli.i18n import msg
from suanli.services.common import Clock, Page, PageResult, Principal, audit, paginate
from suanli.services.organisations import IssuedToken, issue_token

NAME_LENGTH_MAX = 100


def create(
    session: Session,
    clock: Clock,
    caller: Principal,
    *,
    name: str,
    scopes: list[str],
    expires_in_days: int = TOKEN_LIFETIME_DAYS_DEFAULT,
) -> tuple[IssuedToken, ApiTokenRow]:
    _check_name_and_lifetime(name, expires_in_days)
    wanted = check_scopes(scopes, caller.role)
    if caller.scopes is not None and not scopes_cover(caller.scopes, wanted):
        raise InvalidInput(
            msg("新令牌的权限不能超过当前令牌", "a token cannot mint a token wider than itself"),
            field="scopes",
        )
    issued = issue_token(
        session,
        clock,
        caller.user_id,
        caller.org_id,
        name=name.strip(),
        scopes=wanted,
        lifetime=timedelta(days=expires_in_days),
    )
    row = session.get(ApiTokenRow, issued.token_id)
    if row is None:  # inserted a moment ago in this very transaction
        raise NotFound(msg("新令牌不见了", "the new token vanished"), field="token_id")
    audit(
        session, clock, caller, "token.create", row.id, name=row.name, scopes=row.scopes,
        expires_at=row.expires_at.isoformat(), token_prefix=row.prefix,
    )  # fmt: skip
    return issued, row


def _check_name_and_lifetime(name: str, expires_in_days: int) -> None:
    if not 1 <= len(name.strip()) <= NAME_LENGTH_MAX:
        raise InvalidInput(
            msg(f"令牌名称须为 1..{NAME_LENGTH_MAX} 个字符", f"name must be 1..{NAME_LENGTH_MAX}"),
            field="name",
        )
    if not 1 <= expires_in_days <= TOKEN_LIFETIME_DAYS_MAX:
        raise InvalidInput(
            msg(
                f"有效期须为 1..{TOKEN_LIFETIME_DAYS_MAX} 天",
                f"expires_in_days must be 1..{TOKEN_LIFETIME_DAYS_MAX}",
            ),
            field="expires_in_days",
        )


def list_tokens(
    session: Session, caller: Principal, page: Page, user_id: str | None = None
) -> PageResult[Any]:
    """The caller's own tokens; an admin may name a user of its organisation (the operator's
    admins, anyone's)."""
    owner = caller.user_id if user_id is None else _manageable_user(session, caller, user_id)
    query = (
        select(ApiTokenRow)
        .where(ApiTokenRow.user_id == owner)
        .order_by(ApiTokenRow.created_at.desc(), ApiTokenRow.id)
    )
    return paginate(session, query, page)


def revoke(session: Session, clock: Clock, caller: Principal, token_id: str) -> ApiTokenRow:
    row = session.get(ApiTokenRow, token_id)
    if row is None or (row.user_id != caller.user_id and not _may_manage(session, caller, row)):
        raise NotFound(msg(f"没有令牌 {token_id}", f"token {token_id} not found"), field="token_id")
    if not row.revoked:
        row.revoked, row.revoked_at = True, clock.now()
        owner = session.get(UserRow, row.user_id)
        audit(
            session, clock, caller, "token.revoke", row.id,
            about_org=owner.org_id if owner else None, name=row.name, owner=row.user_id,
        )  # fmt: skip
    return row


def _manageable_user(session: Session, caller: Principal, user_id: str) -> str:
    user = session.get(UserRow, user_id)
    allowed = user is not None and (
        user.id == caller.user_id
        or (caller.role == "admin" and (caller.is_operator or user.org_id == caller.org_id))
    )
    if not allowed:
        raise NotFound(msg(f"没有用户 {user_id}", f"user {user_id} not found"), field="user_id")
    return user_id


def _may_manage(session: Session, caller: Principal, row: ApiTokenRow) -> bool:
    owner = session.get(UserRow, row.user_id)
    if owner is None or caller.role != "admin":
        return False
    return caller.is_operator or owner.org_id == caller.org_id
