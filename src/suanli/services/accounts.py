"""Users of an organisation, managed by its admins (the operator's admins manage anyone's):
create, list, change role or details, disable, reset a password, sign out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from suanli.adapters.db.tables import OrganisationRow, UserRow
from suanli.domain.identity import check_role
from suanli.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from suanli.i18n import msg
from suanli.services import auth
from suanli.services.common import Clock, Page, PageResult, Principal, audit, paginate
from suanli.services.organisations import FirstAdmin, create_user
from suanli.services.passwords import check_new_password, hash_password

EDITABLE = ("display_name", "role", "phone", "email", "disabled")


@dataclass(frozen=True)
class NewUser:
    login: str
    display_name: str
    role: str
    password: str
    phone: str = ""
    email: str = ""


def _require_admin(caller: Principal) -> None:
    if caller.role != "admin":
        raise PermissionDenied(
            msg("只有机构管理员管理用户", "only an organisation's admins manage its users"),
            field="role",
        )


def _target_org(session: Session, caller: Principal, org_id: str | None) -> str:
    if org_id is None or org_id == caller.org_id:
        return caller.org_id
    if not caller.is_operator or session.get(OrganisationRow, org_id) is None:
        raise NotFound(
            msg(f"没有机构 {org_id}", f"organisation {org_id} not found"), field="org_id"
        )
    return org_id


def create(
    session: Session, clock: Clock, caller: Principal, new: NewUser, org_id: str | None = None
) -> UserRow:
    _require_admin(caller)
    target = _target_org(session, caller, org_id)
    check_role(new.role)
    first = FirstAdmin(display_name=new.display_name, login=new.login, password=new.password)
    user = create_user(session, clock, org_id=target, first=first, role=new.role)
    user.phone, user.email = new.phone, new.email
    audit(
        session, clock, caller, "user.create", user.id, about_org=target,
        login=user.login, role=user.role, display_name=user.display_name,
    )  # fmt: skip
    return user


def list_users(
    session: Session, caller: Principal, page: Page, org_id: str | None = None
) -> PageResult[Any]:
    _require_admin(caller)
    query = select(UserRow).order_by(UserRow.created_at, UserRow.id)
    if org_id is not None or not caller.is_operator:
        query = query.where(UserRow.org_id == _target_org(session, caller, org_id))
    return paginate(session, query, page)


def get(session: Session, caller: Principal, user_id: str) -> UserRow:
    """A user of the caller's organisation (any, for the operator); else 404."""
    user = session.get(UserRow, user_id)
    if user is None or not (caller.is_operator or user.org_id == caller.org_id):
        raise NotFound(msg(f"没有用户 {user_id}", f"user {user_id} not found"), field="user_id")
    return user


def update(
    session: Session, clock: Clock, caller: Principal, user_id: str, changes: dict[str, Any]
) -> UserRow:
    _require_admin(caller)
    user = get(session, caller, user_id)
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(
            msg(f"不能修改 {', '.join(unknown)}", f"cannot change {', '.join(unknown)}"),
            field=unknown[0],
        )
    if "role" in changes:
        check_role(changes["role"])
    if _removes_an_admin(user, changes):
        _keep_one_admin(session, user)
    before = {name: getattr(user, name) for name in changes}
    for name, value in changes.items():
        setattr(user, name, value)
    ended = 0
    if changes.get("disabled"):
        ended = auth.end_sessions(session, clock, [user.id], "user_disabled")
    audit(
        session, clock, caller, "user.update", user.id, about_org=user.org_id, before=before,
        **changes, sessions_ended=ended,
    )  # fmt: skip
    return user


def _removes_an_admin(user: UserRow, changes: dict[str, Any]) -> bool:
    if user.role != "admin" or user.disabled:
        return False
    return changes.get("role", "admin") != "admin" or bool(changes.get("disabled"))


def _keep_one_admin(session: Session, user: UserRow) -> None:
    admins = session.scalar(
        select(func.count())
        .select_from(UserRow)
        .where(UserRow.org_id == user.org_id, UserRow.role == "admin", UserRow.disabled.is_(False))
    )
    if (admins or 0) <= 1:
        raise Conflict(
            msg(
                "机构至少要保留一位在用的管理员", "an organisation keeps at least one active admin"
            ),
            field="role",
        )


def reset_password(
    session: Session, clock: Clock, caller: Principal, user_id: str, new_password: str
) -> int:
    """An admin sets another user's password; all that user's sessions end."""
    _require_admin(caller)
    user = get(session, caller, user_id)
    check_new_password(new_password, login=user.login, field="new_password")
    user.password_hash = hash_password(new_password)
    user.password_changed_at = clock.now()
    ended = auth.end_sessions(session, clock, [user.id], "password_reset")
    audit(
        session, clock, caller, "user.password_reset", user.id, about_org=user.org_id,
        sessions_ended=ended,
    )  # fmt: skip
    return ended


def sign_out(session: Session, clock: Clock, caller: Principal, user_id: str) -> int:
    _require_admin(caller)
    user = get(session, caller, user_id)
    ended = auth.end_sessions(session, clock, [user.id], "signed_out_by_admin")
    audit(
        session, clock, caller, "user.sign_out", user.id, about_org=user.org_id,
        sessions_ended=ended,
    )  # fmt: skip
    return ended


def set_password_locally(session: Session, clock: Clock, login: str, new_password: str) -> UserRow:
    """`suanli admin set-password`: on the platform's own machine, for a locked-out operator."""
    user = session.scalar(select(UserRow).where(UserRow.login == login.strip().lower()))
    if user is None:
        raise NotFound(msg(f"没有登录名 {login}", f"no user with login {login}"), field="login")
    check_new_password(new_password, login=user.login)
    user.password_hash = hash_password(new_password)
    user.password_changed_at = clock.now()
    ended = auth.end_sessions(session, clock, [user.id], "password_reset")
    actor = Principal(user.id, user.org_id, "operator", credential="cli")
    audit(session, clock, actor, "user.password_reset", user.id, about_org=user.org_id,
          sessions_ended=ended)  # fmt: skip
    return user
