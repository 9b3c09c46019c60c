"""Organisations (registered by the operator, or self-registered and reviewed), their review
and suspension, relationships, and the first user and token an organisation gets."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from suanli.adapters.db.database import Database
from suanli.adapters.db.tables import (
    ApiTokenRow,
    OrganisationRelationRow,
    OrganisationRow,
    UserRow,
)
from suanli.domain.divisions import canonical_region
from suanli.domain.identity import (
    REGISTRATION_THROTTLE,
    SELF_REGISTERING_KINDS,
    TOKEN_LIFETIME_DAYS_MAX,
    check_credit_code,
    check_login,
)
from suanli.domain.text import is_blank
from suanli.errors import Conflict, InvalidInput, InvalidTransition, NotFound, PermissionDenied
from suanli.i18n import Msg, msg
from suanli.services import auth
from suanli.services.common import Clock, Page, PageResult, Principal, audit, new_id, paginate
from suanli.services.passwords import check_new_password, hash_password

ORG_KINDS = ("operator", "provider", "enterprise", "agency")
RELATION_KINDS = ("parent_subsidiary", "same_legal_representative")
TOKEN_PREFIX = auth.TOKEN_PREFIX
NAME_LENGTH_MAX = 200
REASON_LENGTH_MAX = 1000
FIRST_TOKEN_NAME = "first"
FIRST_TOKEN_SCOPES = ("read", "write")
OPERATOR_LOGIN = "admin"
CLI = Principal(user_id="cli", org_id="platform", org_kind="operator", credential="cli")


@dataclass(frozen=True)
class IssuedToken:
    org_id: str
    user_id: str
    token: str  # the only time the clear token exists
    token_id: str = ""


@dataclass(frozen=True)
class FirstAdmin:
    """The first user of a new organisation; without a login it gets its id as login (and
    then signs in only with its token until an admin sets a password)."""

    display_name: str = "admin"
    login: str | None = None
    password: str | None = None


def hash_token(token: str) -> str:
    return auth.sha256_hex(token)


def create_organisation(
    session: Session,
    clock: Clock,
    *,
    name: str,
    kind: str,
    region: str = "",
    state: str = "active",
    credit_code: str | None = None,
) -> OrganisationRow:
    if kind not in ORG_KINDS:
        raise InvalidInput(
            msg(f"类型须为 {'、'.join(ORG_KINDS)} 之一", f"kind must be one of {ORG_KINDS}"),
            field="kind",
        )
    if is_blank(name) or len(name) > NAME_LENGTH_MAX:
        raise InvalidInput(
            msg(f"名称须为 1..{NAME_LENGTH_MAX} 个字符", f"name must be 1..{NAME_LENGTH_MAX}"),
            field="name",
        )
    code = _unique_name_and_code(session, name.strip(), credit_code)
    region = canonical_region(region) if region.strip() else ""
    row = OrganisationRow(
        id=new_id("org"),
        name=name.strip(),
        kind=kind,
        region=region,
        created_at=clock.now(),
        state=state,
        state_reason="",
        credit_code=code,
    )
    session.add(row)
    session.flush()
    return row


def _unique_name_and_code(session: Session, name: str, credit_code: str | None) -> str | None:
    """The checked credit code (or None); Conflict if the name or the code is taken."""
    if session.scalar(select(OrganisationRow.id).where(OrganisationRow.name == name)):
        raise Conflict(
            msg(f"已有名为 {name!r} 的机构", f"an organisation named {name!r} exists"),
            field="name",
        )
    code = check_credit_code(credit_code) if credit_code else None
    if code and session.scalar(
        select(OrganisationRow.id).where(OrganisationRow.credit_code == code)
    ):
        raise Conflict(
            msg("这个统一社会信用代码已经注册过", "this unified social credit code is registered"),
            field="credit_code",
        )
    return code


def create_user(
    session: Session,
    clock: Clock,
    *,
    org_id: str,
    first: FirstAdmin,
    role: str = "admin",
    field_prefix: str = "",
) -> UserRow:
    """A user with a unique login and, if given, a password that passes the rule. A refusal
    names the field with `field_prefix` before it (`admin.password` in a registration)."""
    try:
        return _new_user(session, clock, org_id, first, role)
    except (InvalidInput, Conflict) as error:
        if field_prefix and error.field:
            error.field = field_prefix + error.field
        raise


def _new_user(session: Session, clock: Clock, org_id: str, first: FirstAdmin, role: str) -> UserRow:
    user_id = new_id("usr")
    login = check_login(first.login) if first.login else user_id
    if session.scalar(select(UserRow.id).where(UserRow.login == login)):
        raise Conflict(msg("登录名已被使用", "this login is taken"), field="login")
    password_hash = None
    if first.password is not None:
        check_new_password(first.password, login=login)
        password_hash = hash_password(first.password)
    user = UserRow(
        id=user_id,
        org_id=org_id,
        login=login,
        display_name=first.display_name,
        role=role,
        password_hash=password_hash,
        password_changed_at=clock.now() if password_hash else None,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    return user


def create_user_with_token(
    session: Session, clock: Clock, *, org_id: str, name: str, role: str = "admin"
) -> IssuedToken:
    user = create_user(
        session, clock, org_id=org_id, first=FirstAdmin(display_name=name), role=role
    )
    return issue_token(session, clock, user.id, org_id)


def issue_token(
    session: Session,
    clock: Clock,
    user_id: str,
    org_id: str,
    *,
    name: str = FIRST_TOKEN_NAME,
    scopes: tuple[str, ...] | frozenset[str] = FIRST_TOKEN_SCOPES,
    lifetime: timedelta = timedelta(days=TOKEN_LIFETIME_DAYS_MAX),
) -> IssuedToken:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    row = ApiTokenRow(
        id=new_id("tok"),
        user_id=user_id,
        token_sha256=hash_token(token),
        prefix=token[:10],
        name=name,
        scopes=sorted(scopes),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    return IssuedToken(org_id=org_id, user_id=user_id, token=token, token_id=row.id)


def register_organisation(
    session: Session,
    clock: Clock,
    caller: Principal,
    *,
    name: str,
    kind: str,
    region: str = "",
    credit_code: str | None = None,
    first: FirstAdmin | None = None,
) -> IssuedToken:
    """The operator registers an organisation (the only way to create an agency): it is active
    at once, and its first user's token is returned (shown once)."""
    if not caller.is_operator:
        raise PermissionDenied(
            msg("只有平台运营方可以创建机构", "only the operator registers organisations"),
            field="organisation",
        )
    org = create_organisation(
        session, clock, name=name, kind=kind, region=region, credit_code=credit_code
    )
    user = create_user(
        session, clock, org_id=org.id, first=first or FirstAdmin(), field_prefix="admin."
    )
    issued = issue_token(session, clock, user.id, org.id)
    audit(
        session, clock, caller, "organisation.create", org.id, about_org=org.id,
        name=org.name, kind=org.kind, first_user=user.login,
    )  # fmt: skip
    return issued


def bootstrap_operator(
    session: Session,
    clock: Clock,
    *,
    name: str,
    login: str = OPERATOR_LOGIN,
    password: str | None = None,
) -> IssuedToken:
    """Creates the operator organisation once, with its first admin (login `admin` unless
    told otherwise, a password if given) and a token; refuses if an operator exists."""
    if session.scalar(select(OrganisationRow.id).where(OrganisationRow.kind == "operator")):
        raise Conflict(
            msg("运营方已存在；令牌只显示一次", "an operator exists; tokens are shown once"),
            field="operator",
        )
    org = create_organisation(session, clock, name=name, kind="operator")
    first = FirstAdmin(display_name="admin", login=login, password=password)
    user = create_user(session, clock, org_id=org.id, first=first)
    issued = issue_token(session, clock, user.id, org.id)
    actor = Principal(user.id, org.id, "operator", credential="cli")
    audit(session, clock, actor, "organisation.bootstrap", org.id, name=org.name, login=login)
    return issued


# ---------------------------------------------------------------------------------------------
# Self-registration and review (入驻审核)


@dataclass(frozen=True)
class Registration:
    name: str
    kind: str
    credit_code: str
    region: str
    contact_name: str
    contact_phone: str
    contact_email: str
    admin_login: str
    admin_display_name: str
    admin_password: str


def self_register(
    db: Database, clock: Clock, form: Registration, *, client: str
) -> tuple[OrganisationRow, UserRow]:
    """An enterprise or provider registers itself: it is `pending` until the operator
    approves it. At most REGISTRATION_THROTTLE.threshold registrations an hour per client."""
    if form.kind not in SELF_REGISTERING_KINDS:
        raise InvalidInput(
            msg(
                "只有企业和算力服务商可以自行注册；主管部门由平台运营方创建",
                "only enterprises and providers register themselves; the operator creates agencies",
            ),
            field="kind",
        )
    keys = [("register:" + client[:100], REGISTRATION_THROTTLE, "client")]
    auth.refuse_if_locked(db, clock, keys)
    with db.session() as session:
        org, user = _register(session, clock, form)
    auth.record_failure(db, clock, keys)  # counts registrations, not failures
    return org, user


def _register(
    session: Session, clock: Clock, form: Registration
) -> tuple[OrganisationRow, UserRow]:
    org = create_organisation(
        session,
        clock,
        name=form.name,
        kind=form.kind,
        region=form.region,
        state="pending",
        credit_code=form.credit_code,
    )
    org.contact_name, org.contact_phone = form.contact_name, form.contact_phone
    org.contact_email = form.contact_email
    first = FirstAdmin(form.admin_display_name, form.admin_login, form.admin_password)
    user = create_user(session, clock, org_id=org.id, first=first, field_prefix="admin.")
    actor = Principal(user.id, org.id, org.kind, credential="registration", org_state="pending")
    audit(
        session, clock, actor, "organisation.register", org.id, about_org=org.id,
        name=org.name, kind=org.kind, credit_code=org.credit_code, admin_login=user.login,
    )  # fmt: skip
    return org, user


def review(
    session: Session, clock: Clock, caller: Principal, org_id: str, *, approve: bool, reason: str
) -> OrganisationRow:
    """The operator approves a pending (or earlier rejected) organisation, or rejects a pending
    one with a reason."""
    _require_operator(caller, msg("只有平台运营方审核入驻", "only the operator reviews"))
    org = _organisation(session, org_id)
    allowed = ("pending", "rejected") if approve else ("pending",)
    if org.state not in allowed:
        raise InvalidTransition(
            msg(f"机构当前状态为 {org.state}，不能这样审核", f"the organisation is {org.state}"),
            field="state",
        )
    if not approve and not 1 <= len(reason.strip()) <= REASON_LENGTH_MAX:
        raise InvalidInput(
            msg(f"驳回须写明理由（1..{REASON_LENGTH_MAX} 字）", "a rejection needs a reason"),
            field="reason",
        )
    before = {"state": org.state}
    org.state = "active" if approve else "rejected"
    org.state_reason = reason.strip()
    org.reviewed_by, org.reviewed_at = caller.user_id, clock.now()
    action = "organisation.approve" if approve else "organisation.reject"
    audit(
        session, clock, caller, action, org.id, about_org=org.id, before=before,
        state=org.state, reason=org.state_reason,
    )  # fmt: skip
    return org


def suspend(
    session: Session, clock: Clock, caller: Principal, org_id: str, *, reason: str
) -> OrganisationRow:
    """Stops the organisation at once: its sessions end, its tokens are refused while it is
    suspended. Nothing already settled changes."""
    _require_operator(caller, msg("只有平台运营方可以暂停机构", "only the operator suspends"))
    org = _organisation(session, org_id)
    if org.kind == "operator" or org.state != "active":
        raise InvalidTransition(
            msg(f"机构当前状态为 {org.state}，不能暂停", f"cannot suspend: it is {org.state}"),
            field="state",
        )
    if not 1 <= len(reason.strip()) <= REASON_LENGTH_MAX:
        raise InvalidInput(msg("暂停须写明理由", "a suspension needs a reason"), field="reason")
    org.state, org.state_reason = "suspended", reason.strip()
    users = list(session.scalars(select(UserRow.id).where(UserRow.org_id == org.id)))
    ended = auth.end_sessions(session, clock, users, "organisation_suspended")
    audit(
        session, clock, caller, "organisation.suspend", org.id, about_org=org.id,
        before={"state": "active"}, state="suspended", reason=org.state_reason, sessions=ended,
    )  # fmt: skip
    return org


def reinstate(session: Session, clock: Clock, caller: Principal, org_id: str) -> OrganisationRow:
    _require_operator(caller, msg("只有平台运营方可以恢复机构", "only the operator reinstates"))
    org = _organisation(session, org_id)
    if org.state != "suspended":
        raise InvalidTransition(
            msg(f"机构当前状态为 {org.state}，未被暂停", f"it is {org.state}, not suspended"),
            field="state",
        )
    org.state, org.state_reason = "active", ""
    audit(
        session, clock, caller, "organisation.reinstate", org.id, about_org=org.id,
        before={"state": "suspended"}, state="active",
    )  # fmt: skip
    return org


def _require_operator(caller: Principal, why: Msg) -> None:
    if not caller.is_operator:
        raise PermissionDenied(why, field="organisation")


def _organisation(session: Session, org_id: str) -> OrganisationRow:
    row = session.get(OrganisationRow, org_id)
    if row is None:
        raise NotFound(
            msg(f"没有机构 {org_id}", f"organisation {org_id} not found"), field="org_id"
        )
    return row


def get_organisation(session: Session, caller: Principal, org_id: str) -> OrganisationRow:
    row = session.get(OrganisationRow, org_id)
    if row is None or (not caller.is_operator and row.id != caller.org_id):
        raise NotFound(
            msg(f"没有机构 {org_id}", f"organisation {org_id} not found"), field="org_id"
        )
    return row


def names(session: Session, org_ids: Iterable[str]) -> dict[str, str]:
    """The organisations' names by id, in one query (for a page of rows that name them)."""
    wanted = set(org_ids)
    if not wanted:
        return {}
    query = select(OrganisationRow.id, OrganisationRow.name).where(OrganisationRow.id.in_(wanted))
    return {org_id: name for org_id, name in session.execute(query)}


def list_organisations(
    session: Session,
    caller: Principal,
    page: Page,
    state: str | None = None,
    kind: str | None = None,
) -> PageResult[OrganisationRow]:
    """Every organisation for the operator, one page at a time, oldest first (the review
    queue is `state="pending"`); one's own for anyone else."""
    query = select(OrganisationRow).order_by(OrganisationRow.created_at, OrganisationRow.id)
    if not caller.is_operator:
        query = query.where(OrganisationRow.id == caller.org_id)
    if state is not None:
        query = query.where(OrganisationRow.state == state)
    if kind is not None:
        query = query.where(OrganisationRow.kind == kind)
    return paginate(session, query, page)


def declare_relation(
    session: Session, clock: Clock, caller: Principal, *, from_org: str, to_org: str, kind: str
) -> OrganisationRelationRow:
    """Declares a relationship (used by voucher rules: no subsidy between related parties)."""
    if kind not in RELATION_KINDS:
        raise InvalidInput(
            msg(
                f"关系类型须为以下之一：{'、'.join(RELATION_KINDS)}",
                f"kind must be one of {RELATION_KINDS}",
            ),
            field="kind",
        )
    if not caller.is_operator and caller.org_id != from_org:
        raise PermissionDenied(  # names the field: the caller's credential is not what is wrong
            msg("机构只能声明自己的关系", "an organisation may only declare its own relationships"),
            field="from_org",
        )
    if from_org == to_org:
        raise InvalidInput(
            msg("机构不能与自己建立关系", "an organisation cannot relate to itself"), field="to_org"
        )
    for org_id, field_name in ((from_org, "from_org"), (to_org, "to_org")):
        if session.get(OrganisationRow, org_id) is None:
            raise NotFound(
                msg(f"没有机构 {org_id}", f"organisation {org_id} not found"), field=field_name
            )
    _require_undeclared(session, from_org, to_org, kind)
    row = OrganisationRelationRow(
        from_org_id=from_org, to_org_id=to_org, kind=kind, created_at=clock.now()
    )
    session.add(row)
    session.flush()
    audit(
        session, clock, caller, "organisation.relate", from_org, about_org=to_org,
        to_org=to_org, kind=kind,
    )  # fmt: skip
    return row


def _require_undeclared(session: Session, from_org: str, to_org: str, kind: str) -> None:
    """A relationship is declared once. Checked here, so a second declaration is refused as
    such (409 naming `kind`) rather than by the unique index, whose violation reads as a race
    to retry and, outside the API, escapes as a database error."""
    declared = select(OrganisationRelationRow.id).where(
        OrganisationRelationRow.from_org_id == from_org,
        OrganisationRelationRow.to_org_id == to_org,
        OrganisationRelationRow.kind == kind,
    )
    if session.scalar(declared.limit(1)) is not None:
        raise Conflict(
            msg(
                f"机构 {from_org} 与 {to_org} 之间已声明过这种关系",
                f"this relationship from {from_org} to {to_org} is declared already",
            ),
            field="kind",
        )


def are_related(session: Session, org_a: str, org_b: str) -> bool:
    """True if any declared relationship links the two organisations, in either direction."""
    pair = or_(
        (OrganisationRelationRow.from_org_id == org_a)
        & (OrganisationRelationRow.to_org_id == org_b),
        (OrganisationRelationRow.from_org_id == org_b)
        & (OrganisationRelationRow.to_org_id == org_a),
    )
    return session.scalar(select(OrganisationRelationRow.id).where(pair).limit(1)) is not None
