"""Signing in and staying signed in (OWASP ASVS 4, V2 and V3).

- Sign-in checks the password (argon2id) and, where the user turned it on, a TOTP code. A
  failure says the same thing whether or not the login exists, and costs the same time.
- Failed attempts back off per login name and per client address (`domain.identity`'s
  policies): while locked, sign-in answers 429 with Retry-After before looking at the
  password. Failures are counted in a unit of work of their own, so a refusal still counts.
- A session lives on the server: the cookie holds a random value whose SHA-256 is stored. It
  ends at logout, at sign-out-everywhere, at a password change (the other sessions), at the
  organisation's suspension, after `idle_s` without use, or `absolute_s` after sign-in.
- API tokens are checked here too: unknown, revoked and expired tokens are told apart.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

import pyotp
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from suanli.adapters.db.database import Database
from suanli.adapters.db.tables import ApiTokenRow, OrganisationRow, UserRow
from suanli.adapters.db.tables_identity import LoginThrottleRow, SessionRow
from suanli.adapters.secrets import SecretBox
from suanli.domain.identity import ACCOUNT_THROTTLE, ADDRESS_THROTTLE, TOTP_KINDS, ThrottlePolicy
from suanli.errors import (
    Conflict,
    CredentialExpired,
    CredentialRevoked,
    InvalidInput,
    NotAuthenticated,
    OrganisationNotActive,
    PermissionDenied,
    SecondFactorRequired,
    TooManyAttempts,
)
from suanli.i18n import Msg, msg
from suanli.services.common import Clock, Principal, audit, new_id
from suanli.services.passwords import (
    check_new_password,
    hash_password,
    needs_rehash,
    verify_password,
)

T = TypeVar("T")
SESSION_PREFIX = "ss_"
TOKEN_PREFIX = "sl_"
TOUCH_INTERVAL_S = 60  # last-seen and last-used times are written at most once a minute
TOTP_ISSUER = "suanli"
TOTP_DRIFT_STEPS = 1  # one 30-second step either way
THROTTLE_RETRIES = 3


class LoginFailed(NotAuthenticated):
    """Wrong login or password (never which), or a wrong TOTP code."""

    code = "login_failed"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class SessionLimits:
    idle_s: int
    absolute_s: int


@dataclass(frozen=True)
class Profile:
    """The signed-in user, as /v1/auth/me shows it."""

    id: str
    login: str
    display_name: str
    role: str
    org_id: str
    org_kind: str
    org_name: str
    org_state: str
    totp_enabled: bool


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    cookie_value: str  # only here, once: the database keeps its hash
    csrf_token: str
    expires_at: datetime
    profile: Profile


@dataclass(frozen=True)
class LoginAttempt:
    login: str
    password: str
    totp: str | None
    client_address: str
    user_agent: str = ""


def profile_of(user: UserRow, org: OrganisationRow) -> Profile:
    return Profile(
        user.id,
        user.login,
        user.display_name,
        user.role,
        org.id,
        org.kind,
        org.name,
        org.state,
        user.totp_enabled,
    )


def csrf_of(session: Session, session_id: str) -> str | None:
    row = session.get(SessionRow, session_id)
    return row.csrf_token if row is not None else None


def profile(session: Session, caller: Principal) -> Profile:
    user, org = _user_and_org(session, caller.user_id)
    return profile_of(user, org)


# ---------------------------------------------------------------------------------------------
# Sign-in


def login(
    db: Database,
    clock: Clock,
    limits: SessionLimits,
    attempt: LoginAttempt,
    box: Callable[[], SecretBox],
) -> SignedIn:
    """`box` opens stored TOTP secrets (called only for users who turned TOTP on)."""
    keys = throttle_keys(attempt.login, attempt.client_address)
    return _throttled(
        db, clock, keys, lambda session: _sign_in(session, clock, limits, attempt, box)
    )


def _sign_in(
    session: Session,
    clock: Clock,
    limits: SessionLimits,
    attempt: LoginAttempt,
    box: Callable[[], SecretBox],
) -> SignedIn:
    found = session.execute(
        select(UserRow, OrganisationRow)
        .join(OrganisationRow, OrganisationRow.id == UserRow.org_id)
        .where(UserRow.login == attempt.login.strip().lower())
    ).first()
    user, org = found if found is not None else (None, None)
    password_ok = verify_password(user.password_hash if user else None, attempt.password)
    if user is None or org is None or not password_ok or user.disabled:
        raise _wrong_credentials()
    if org.state == "suspended":
        raise OrganisationNotActive(_suspended(), field="organisation")
    if user.totp_enabled:
        _check_second_factor(user, attempt.totp, clock, box)
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(attempt.password)
    _clear_throttle(session, account_key(attempt.login))
    signed = _open_session(session, clock, limits, user, org, attempt)
    caller = _principal(user, org, f"session:{signed.session_id}")
    audit(session, clock, caller, "auth.login", user.id, about_org=org.id)
    return signed


def _open_session(
    session: Session,
    clock: Clock,
    limits: SessionLimits,
    user: UserRow,
    org: OrganisationRow,
    attempt: LoginAttempt,
) -> SignedIn:
    now = clock.now()
    cookie_value = SESSION_PREFIX + secrets.token_urlsafe(32)
    row = SessionRow(
        id=new_id("ses"),
        user_id=user.id,
        token_sha256=sha256_hex(cookie_value),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=limits.absolute_s),
        end_reason="",
        client_address=attempt.client_address[:64],
        user_agent=attempt.user_agent[:200],
    )
    session.add(row)
    session.flush()
    return SignedIn(row.id, cookie_value, row.csrf_token, row.expires_at, profile_of(user, org))


def _wrong_credentials() -> LoginFailed:
    return LoginFailed(msg("登录名或密码错误", "wrong login or password"), field="login")


def _suspended() -> Msg:
    return msg("机构已被平台暂停，无法登录", "the organisation is suspended")


# ---------------------------------------------------------------------------------------------
# Backoff


def account_key(login: str) -> str:
    return "account:" + login.strip().lower()[:100]


def throttle_keys(login: str, client_address: str) -> list[tuple[str, ThrottlePolicy, str]]:
    return [
        (account_key(login), ACCOUNT_THROTTLE, "login"),
        ("address:" + client_address[:100], ADDRESS_THROTTLE, "client"),
    ]


def _throttled(
    db: Database,
    clock: Clock,
    keys: list[tuple[str, ThrottlePolicy, str]],
    work: Callable[[Session], T],
) -> T:
    """Refuses while any key is locked; runs `work`; counts a LoginFailed against every key
    in a unit of work of its own (the work's own one rolls back), then re-raises it."""
    refuse_if_locked(db, clock, keys)
    try:
        with db.session() as session:
            return work(session)
    except LoginFailed:
        record_failure(db, clock, keys)
        raise


def refuse_if_locked(
    db: Database, clock: Clock, keys: list[tuple[str, ThrottlePolicy, str]]
) -> None:
    now = clock.now()
    with db.session() as session:
        rows = {
            row.key: row
            for row in session.scalars(
                select(LoginThrottleRow).where(LoginThrottleRow.key.in_([k for k, _, _ in keys]))
            )
        }
    for key, _policy, field in keys:
        row = rows.get(key)
        if row is not None and row.locked_until is not None and row.locked_until > now:
            wait = math.ceil((row.locked_until - now).total_seconds())
            raise TooManyAttempts(
                msg(
                    f"失败次数过多，请 {wait} 秒后再试",
                    f"too many failed attempts; retry in {wait} s",
                ),
                retry_after_s=wait,
                field=field,
            )


def record_failure(db: Database, clock: Clock, keys: list[tuple[str, ThrottlePolicy, str]]) -> None:
    for attempt in range(THROTTLE_RETRIES):
        try:
            with db.session() as session:
                for key, policy, _field in keys:
                    _count_failure(session, clock.now(), key, policy)
            return
        except IntegrityError:  # two first failures of one key at once: count again
            if attempt == THROTTLE_RETRIES - 1:
                raise


def _count_failure(session: Session, now: datetime, key: str, policy: ThrottlePolicy) -> None:
    row = session.scalar(
        select(LoginThrottleRow).where(LoginThrottleRow.key == key).with_for_update()
    )
    if row is None:
        row = LoginThrottleRow(key=key, failures=0, last_failure_at=now)
        session.add(row)
    elif (now - row.last_failure_at).total_seconds() > policy.window_s:
        row.failures = 0  # a quiet hour forgives
    row.failures += 1
    row.last_failure_at = now
    lock_s = policy.lock_seconds(row.failures)
    row.locked_until = now + timedelta(seconds=lock_s) if lock_s else None
    session.flush()


def _clear_throttle(session: Session, key: str) -> None:
    row = session.get(LoginThrottleRow, key)
    if row is not None:
        session.delete(row)


# ---------------------------------------------------------------------------------------------
# Credentials on each request


def authenticate_token(session: Session, clock: Clock, token: str) -> Principal:
    return verify_token(session, clock, token)[0]


def verify_token(session: Session, clock: Clock, token: str) -> tuple[Principal, datetime]:
    """The token's caller and when the token expires (services/token_cache.py keeps both)."""
    found = session.execute(
        select(ApiTokenRow, UserRow, OrganisationRow)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .join(OrganisationRow, OrganisationRow.id == UserRow.org_id)
        .where(ApiTokenRow.token_sha256 == sha256_hex(token))
    ).first()
    if found is None:
        raise NotAuthenticated(
            msg("令牌无效（不存在）", "the token is not known"), field="Authorization"
        )
    row, user, org = found
    now = clock.now()
    if row.revoked:
        raise CredentialRevoked(msg("令牌已被撤销", "the token was revoked"), field="Authorization")
    if row.expires_at <= now:
        raise CredentialExpired(
            msg(
                f"令牌已于 {row.expires_at.isoformat(timespec='minutes')} 过期",
                f"the token expired at {row.expires_at.isoformat(timespec='minutes')}",
            ),
            field="Authorization",
        )
    _require_usable(user, org)
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > TOUCH_INTERVAL_S:
        row.last_used_at = now
    return _principal(user, org, f"token:{row.id}", frozenset(row.scopes)), row.expires_at


def authenticate_session(
    session: Session, clock: Clock, limits: SessionLimits, cookie_value: str
) -> tuple[Principal, str]:
    """The session's user and its CSRF token."""
    found = session.execute(
        select(SessionRow, UserRow, OrganisationRow)
        .join(UserRow, UserRow.id == SessionRow.user_id)
        .join(OrganisationRow, OrganisationRow.id == UserRow.org_id)
        .where(SessionRow.token_sha256 == sha256_hex(cookie_value))
    ).first()
    if found is None:
        raise NotAuthenticated(msg("请先登录", "sign in first"), field="suanli_session")
    row, user, org = found
    _require_live(row, clock.now(), limits)
    _require_usable(user, org)
    now = clock.now()
    if (now - row.last_seen_at).total_seconds() > TOUCH_INTERVAL_S:
        row.last_seen_at = now
    return _principal(user, org, f"session:{row.id}"), row.csrf_token


def _require_live(row: SessionRow, now: datetime, limits: SessionLimits) -> None:
    if row.ended_at is not None:
        raise CredentialRevoked(
            msg("会话已结束，请重新登录", "the session has ended; sign in again"),
            field="suanli_session",
        )
    if now >= row.expires_at:
        raise CredentialExpired(
            msg(
                "会话已到最长时限，请重新登录", "the session reached its time limit; sign in again"
            ),
            field="suanli_session",
        )
    if (now - row.last_seen_at).total_seconds() > limits.idle_s:
        minutes = limits.idle_s // 60
        unit = "minute" if minutes == 1 else "minutes"
        raise CredentialExpired(
            msg(
                f"会话超过 {minutes} 分钟未使用，请重新登录",
                f"the session was idle for more than {minutes} {unit}; sign in again",
            ),
            field="suanli_session",
        )


def _require_usable(user: UserRow, org: OrganisationRow) -> None:
    if user.disabled:
        raise CredentialRevoked(msg("账号已停用", "the account is disabled"), field="user")
    if org.state == "suspended":
        raise OrganisationNotActive(_suspended(), field="organisation")


def _principal(
    user: UserRow, org: OrganisationRow, credential: str, scopes: frozenset[str] | None = None
) -> Principal:
    return Principal(
        user_id=user.id,
        org_id=org.id,
        org_kind=org.kind,
        role=user.role,
        scopes=scopes,
        credential=credential,
        org_state=org.state,
    )


# ---------------------------------------------------------------------------------------------
# Ending sessions


def end_sessions(
    session: Session, clock: Clock, user_ids: list[str], reason: str, keep: str | None = None
) -> int:
    """Ends the live sessions of these users (all but `keep`); returns how many."""
    query = update(SessionRow).where(
        SessionRow.user_id.in_(user_ids), SessionRow.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(SessionRow.id != keep)
    result = session.execute(query.values(ended_at=clock.now(), end_reason=reason[:40]))
    return int(result.rowcount)  # type: ignore[attr-defined]


def logout(session: Session, clock: Clock, caller: Principal) -> None:
    """Ends the caller's session; with an API token there is none, and nothing happens."""
    if caller.session_id is None:
        return
    session.execute(
        update(SessionRow)
        .where(SessionRow.id == caller.session_id, SessionRow.ended_at.is_(None))
        .values(ended_at=clock.now(), end_reason="logout")
    )
    audit(session, clock, caller, "auth.logout", caller.user_id)


def sign_out_everywhere(session: Session, clock: Clock, caller: Principal) -> int:
    ended = end_sessions(session, clock, [caller.user_id], "sign_out_everywhere")
    audit(session, clock, caller, "auth.sign_out_everywhere", caller.user_id, sessions=ended)
    return ended


# ---------------------------------------------------------------------------------------------
# The caller's own password and second factor (each checks the current password, throttled)


def change_password(
    db: Database, clock: Clock, caller: Principal, *, current: str, new: str, client: str
) -> int:
    """Sets a new password and ends the caller's other sessions; returns how many ended."""

    def work(session: Session) -> int:
        user = _verified_self(session, caller, current)
        check_new_password(new, login=user.login, field="new_password")
        user.password_hash = hash_password(new)
        user.password_changed_at = clock.now()
        ended = end_sessions(session, clock, [user.id], "password_changed", caller.session_id)
        audit(session, clock, caller, "user.password_change", user.id, other_sessions=ended)
        return ended

    return _throttled(db, clock, _self_keys(caller, client), work)


def _self_keys(caller: Principal, client: str) -> list[tuple[str, ThrottlePolicy, str]]:
    return throttle_keys("user:" + caller.user_id, client)


def _verified_self(session: Session, caller: Principal, password: str) -> UserRow:
    user = session.get(UserRow, caller.user_id)
    if user is None or user.password_hash is None:
        raise InvalidInput(
            msg(
                "这个账号还没有密码，请管理员先设置",
                "this account has no password yet; ask an admin",
            ),
            field="current_password",
        )
    if not verify_password(user.password_hash, password):
        raise LoginFailed(msg("当前密码错误", "the current password is wrong"), field="password")
    return user


@dataclass(frozen=True)
class TotpEnrolment:
    secret: str  # shown once, for an authenticator app
    otpauth_uri: str


def setup_totp(
    db: Database, clock: Clock, caller: Principal, box: SecretBox, *, password: str, client: str
) -> TotpEnrolment:
    """A new TOTP secret, waiting for a first code (`confirm_totp`) before it is required."""
    if caller.org_kind not in TOTP_KINDS:
        raise PermissionDenied(
            msg(
                "只有运营方和主管部门的用户可以开启动态口令",
                "TOTP is for operator and agency users",
            ),
            field="organisation",
        )

    def work(session: Session) -> TotpEnrolment:
        user = _verified_self(session, caller, password)
        if user.totp_enabled:
            raise Conflict(msg("动态口令已开启", "TOTP is already on"), field="totp")
        secret = pyotp.random_base32()
        user.totp_secret = box.seal({"totp": secret})
        audit(session, clock, caller, "user.totp_setup", user.id)
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.login, issuer_name=TOTP_ISSUER)
        return TotpEnrolment(secret, uri)

    return _throttled(db, clock, _self_keys(caller, client), work)


def confirm_totp(
    db: Database, clock: Clock, caller: Principal, box: SecretBox, *, code: str, client: str
) -> None:
    def work(session: Session) -> None:
        user = session.get(UserRow, caller.user_id)
        if user is None or user.totp_secret is None or user.totp_enabled:
            raise Conflict(msg("请先开始设置动态口令", "start TOTP setup first"), field="totp")
        _accept_code(user, box, code, clock)
        user.totp_enabled = True
        audit(session, clock, caller, "user.totp_enable", user.id)

    _throttled(db, clock, _self_keys(caller, client), work)


def disable_totp(
    db: Database,
    clock: Clock,
    caller: Principal,
    box: SecretBox,
    *,
    password: str,
    code: str,
    client: str,
) -> None:
    def work(session: Session) -> None:
        user = _verified_self(session, caller, password)
        if not user.totp_enabled:
            raise Conflict(msg("动态口令未开启", "TOTP is not on"), field="totp")
        _accept_code(user, box, code, clock)
        user.totp_enabled, user.totp_secret = False, None
        audit(session, clock, caller, "user.totp_disable", user.id)

    _throttled(db, clock, _self_keys(caller, client), work)


def _check_second_factor(
    user: UserRow, code: str | None, clock: Clock, box: Callable[[], SecretBox]
) -> None:
    if not code:
        raise SecondFactorRequired(
            msg("请输入动态口令", "enter the TOTP code from your authenticator"), field="totp"
        )
    _accept_code(user, box(), code, clock)


def _accept_code(user: UserRow, box: SecretBox, code: str, clock: Clock) -> None:
    """A code of the current step (or one either side), never one used before."""
    secret = box.open(user.totp_secret or "").get("totp", "") if user.totp_secret else ""
    totp = pyotp.TOTP(secret) if secret else None
    now_step = totp.timecode(clock.now()) if totp else 0
    for step in range(now_step - TOTP_DRIFT_STEPS, now_step + TOTP_DRIFT_STEPS + 1):
        if (
            totp
            and step > user.totp_last_step
            and hmac.compare_digest(totp.generate_otp(step), code.strip())
        ):
            user.totp_last_step = step
            return
    raise LoginFailed(
        msg("动态口令错误或已用过", "the TOTP code is wrong or was used"), field="totp"
    )


def _user_and_org(session: Session, user_id: str) -> tuple[UserRow, OrganisationRow]:
    found = session.execute(
        select(UserRow, OrganisationRow)
        .join(OrganisationRow, OrganisationRow.id == UserRow.org_id)
        .where(UserRow.id == user_id)
    ).first()
    if found is None:
        raise NotAuthenticated(msg("请先登录", "sign in first"))
    return found[0], found[1]
