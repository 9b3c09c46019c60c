"""Request and response bodies of sign-in, users, tokens, registration and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from suanli.api.schemas import OrganisationPublic, Strict
from suanli.api.types import Line
from suanli.domain.identity import (
    TOKEN_LIFETIME_DAYS_DEFAULT,
    TOKEN_LIFETIME_DAYS_MAX,
)

Role = Literal["admin", "member", "finance", "viewer"]
Scope = Literal["read", "write", "jobs", "wallet", "vouchers", "scenes", "pools"]
# What a person types at sign-in: any length up to a bound (the rule for new passwords is
# checked when one is set, and never revealed at sign-in).
TypedPassword = Field(min_length=1, max_length=1024)
# bounded as typed (1,024), so the domain rule, not the schema, words a long one: "at most 128"
NewPassword = Field(min_length=1, max_length=1024)
LoginName = Field(min_length=1, max_length=64, examples=["zhang.wei"])
PHONE_PATTERN = r"^[0-9+\- ()]*$"
EMAIL_PATTERN = r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$"
Phone = Field(default="", max_length=40, pattern=PHONE_PATTERN)
Email = Field(default="", max_length=200, pattern=EMAIL_PATTERN)


class LoginRequest(Strict):
    login: Line = LoginName
    password: Line = TypedPassword
    totp: Line | None = Field(default=None, max_length=10, description="when TOTP is on")


class UserPublic(BaseModel):
    """The signed-in user (the web portal's shape)."""

    id: str
    login: str
    display_name: str
    role: str
    org_id: str
    org_kind: str
    org_name: str
    org_state: str
    totp_enabled: bool


class SignedInPublic(BaseModel):
    user: UserPublic
    csrf_token: str
    expires_at: datetime


class MePublic(UserPublic):
    csrf_token: str | None = Field(description="the session's; null with a bearer token")


class PasswordChange(Strict):
    current_password: Line = TypedPassword
    new_password: Line = NewPassword


class SessionsEnded(BaseModel):
    sessions_ended: int


class TotpSetup(Strict):
    password: Line = TypedPassword


class TotpCode(Strict):
    code: Line = Field(min_length=1, max_length=10)


class TotpDisable(Strict):
    password: Line = TypedPassword
    code: Line = Field(min_length=1, max_length=10)


class TotpEnrolmentPublic(BaseModel):
    secret: str = Field(description="shown once: enter it in an authenticator app")
    otpauth_uri: str


class UserCreate(Strict):
    login: Line = LoginName
    display_name: Line = Field(min_length=1, max_length=200)
    role: Role = "member"
    password: Line = NewPassword
    phone: Line = Phone
    email: Line = Email
    org_id: Line | None = Field(default=None, max_length=64, description="operator only")


class UserUpdate(Strict):
    display_name: Line | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    phone: Line | None = Field(default=None, max_length=40, pattern=PHONE_PATTERN)
    email: Line | None = Field(default=None, max_length=200, pattern=EMAIL_PATTERN)
    disabled: bool | None = None


class UserAdminPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    login: str
    display_name: str
    role: str
    org_id: str
    phone: str
    email: str
    disabled: bool
    totp_enabled: bool
    created_at: datetime


class PasswordReset(Strict):
    new_password: Line = NewPassword


class TokenCreate(Strict):
    name: Line = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(default=["read", "write"], min_length=1, max_length=7)
    expires_in_days: int = Field(
        default=TOKEN_LIFETIME_DAYS_DEFAULT, ge=1, le=TOKEN_LIFETIME_DAYS_MAX
    )


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    user_id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked: bool
    revoked_at: datetime | None


class TokenIssued(TokenPublic):
    token: str = Field(description="shown once; only its hash is stored")


class Contact(Strict):
    name: Line = Field(min_length=1, max_length=100)
    phone: Line = Phone
    email: Line = Email


class FirstAdminIn(Strict):
    login: Line = LoginName
    display_name: Line = Field(min_length=1, max_length=200)
    password: Line = NewPassword


class RegistrationCreate(Strict):
    name: Line = Field(min_length=1, max_length=200, description="legal name")
    kind: Line = Field(max_length=20, examples=["enterprise"], description="enterprise|provider")
    credit_code: Line = Field(
        min_length=1, max_length=40, description="统一社会信用代码 (GB 32100-2015)"
    )
    region: Line = Field(min_length=1, max_length=200, examples=["浙江/杭州/滨江"])
    contact: Contact
    admin: FirstAdminIn


class RegistrationPublic(BaseModel):
    organisation: OrganisationPublic
    user_id: str
    login: str


class Reason(Strict):
    reason: Line = Field(min_length=1, max_length=1000)


class ChainProblemPublic(BaseModel):
    seq: int
    kind: str
    message: str


class AuditVerifyPublic(BaseModel):
    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problem: ChainProblemPublic | None


class AuditHeadPublic(BaseModel):
    seq: int
    hash: str


class AuditEntryPublic(BaseModel):
    seq: int
    at: datetime
    actor_id: str
    org_id: str
    credential: str
    action: str
    object: str
    about_org_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any]
    request_id: str
    client_address: str
    prev_hash: str
    hash: str
