"""Sign-in and sessions, the caller's own account, users, API tokens, self-registration and
the operator's review and suspension of organisations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from suanli.adapters.secrets import SecretBox, load_secret_box
from suanli.api.deps import (
    SESSION_COOKIE,
    AppState,
    CurrentPrincipal,
    DbSession,
    PageParams,
    bearer_token,
    check_origin,
    client_address,
    session_limits,
)
from suanli.api.schemas import OrganisationPublic, PageOf
from suanli.api.schemas_identity import (
    LoginRequest,
    MePublic,
    PasswordChange,
    PasswordReset,
    Reason,
    RegistrationCreate,
    RegistrationPublic,
    SessionsEnded,
    SignedInPublic,
    TokenCreate,
    TokenIssued,
    TokenPublic,
    TotpCode,
    TotpDisable,
    TotpEnrolmentPublic,
    TotpSetup,
    UserAdminPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from suanli.bootstrap import App
from suanli.services import accounts, api_tokens, auth, organisations

router = APIRouter(prefix="/v1")


def _box(app: App) -> SecretBox:
    return load_secret_box(app.settings.data_dir)


def _user_public(profile: auth.Profile) -> UserPublic:
    return UserPublic(**profile.__dict__)


# ---------------------------------------------------------------------------------------------
# Sign-in


@router.post("/auth/login", tags=["auth"])
def login(
    body: LoginRequest, request: Request, response: Response, app: AppState
) -> SignedInPublic:
    """Signs in: sets the HttpOnly, SameSite=Strict session cookie (Secure over HTTPS) and
    returns the user and the CSRF token that cookie-authenticated writes must send. A wrong
    login or password gets one answer, whichever it was; repeated failures get 429."""
    check_origin(request)
    attempt = auth.LoginAttempt(
        login=body.login,
        password=body.password,
        totp=body.totp,
        client_address=client_address(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    signed = auth.login(app.db, app.clock, session_limits(app), attempt, lambda: _box(app))
    response.set_cookie(
        SESSION_COOKIE,
        signed.cookie_value,
        max_age=app.settings.session_absolute_s,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return SignedInPublic(
        user=_user_public(signed.profile),
        csrf_token=signed.csrf_token,
        expires_at=signed.expires_at,
    )


@router.post("/auth/logout", status_code=204, tags=["auth"])
def logout(
    caller: CurrentPrincipal, session: DbSession, app: AppState, response: Response
) -> Response:
    """Ends this session (with an API token: nothing to end) and clears the cookie."""
    auth.logout(session, app.clock, caller)
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/auth/me", tags=["auth"])
def me(caller: CurrentPrincipal, session: DbSession, request: Request, app: AppState) -> MePublic:
    profile = auth.profile(session, caller)
    csrf = None
    if caller.session_id is not None and not bearer_token(request):
        csrf = auth.csrf_of(session, caller.session_id)
    return MePublic(**profile.__dict__, csrf_token=csrf)


@router.post("/auth/password", tags=["auth"])
def change_password(
    body: PasswordChange, caller: CurrentPrincipal, request: Request, app: AppState
) -> SessionsEnded:
    """Changes the caller's password; every other session of the caller ends."""
    ended = auth.change_password(
        app.db,
        app.clock,
        caller,
        current=body.current_password,
        new=body.new_password,
        client=client_address(request),
    )
    return SessionsEnded(sessions_ended=ended)


@router.post("/auth/sign-out-everywhere", tags=["auth"])
def sign_out_everywhere(
    caller: CurrentPrincipal, session: DbSession, app: AppState
) -> SessionsEnded:
    """Ends every session of the caller, this one included (API tokens stay valid)."""
    return SessionsEnded(sessions_ended=auth.sign_out_everywhere(session, app.clock, caller))


@router.post("/auth/totp/setup", tags=["auth"])
def totp_setup(
    body: TotpSetup, caller: CurrentPrincipal, request: Request, app: AppState
) -> TotpEnrolmentPublic:
    """Starts a TOTP second factor (operator and agency users): the secret is shown once; it
    is required at sign-in after a first code confirms it."""
    enrolment = auth.setup_totp(
        app.db, app.clock, caller, _box(app), password=body.password, client=client_address(request)
    )
    return TotpEnrolmentPublic(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)


@router.post("/auth/totp/confirm", status_code=204, tags=["auth"])
def totp_confirm(body: TotpCode, caller: CurrentPrincipal, request: Request, app: AppState) -> None:
    auth.confirm_totp(
        app.db, app.clock, caller, _box(app), code=body.code, client=client_address(request)
    )


@router.post("/auth/totp/disable", status_code=204, tags=["auth"])
def totp_disable(
    body: TotpDisable, caller: CurrentPrincipal, request: Request, app: AppState
) -> None:
    auth.disable_totp(
        app.db,
        app.clock,
        caller,
        _box(app),
        password=body.password,
        code=body.code,
        client=client_address(request),
    )


# ---------------------------------------------------------------------------------------------
# API tokens


@router.post("/tokens", status_code=201, tags=["tokens"])
def create_token(
    body: TokenCreate, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> TokenIssued:
    """A named token of the caller's, with scopes no wider than the caller's role; the token
    is in this answer only."""
    issued, row = api_tokens.create(
        session,
        app.clock,
        caller,
        name=body.name,
        scopes=list(body.scopes),
        expires_in_days=body.expires_in_days,
    )
    return TokenIssued(**TokenPublic.model_validate(row).model_dump(), token=issued.token)


@router.get("/tokens", tags=["tokens"])
def list_tokens(
    caller: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
) -> PageOf[TokenPublic]:
    result = api_tokens.list_tokens(session, caller, page, user_id)
    items = [TokenPublic.model_validate(row) for row in result.items]
    return PageOf[TokenPublic](
        items=items, total=result.total, offset=page.offset, limit=page.limit
    )


@router.delete("/tokens/{token_id}", tags=["tokens"])
def revoke_token(
    token_id: str, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> TokenPublic:
    return TokenPublic.model_validate(api_tokens.revoke(session, app.clock, caller, token_id))


# ---------------------------------------------------------------------------------------------
# Users


@router.post("/users", status_code=201, tags=["users"])
def create_user(
    body: UserCreate, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> UserAdminPublic:
    new = accounts.NewUser(
        body.login, body.display_name, body.role, body.password, body.phone, body.email
    )
    return UserAdminPublic.model_validate(
        accounts.create(session, app.clock, caller, new, body.org_id)
    )


@router.get("/users", tags=["users"])
def list_users(
    caller: CurrentPrincipal,
    session: DbSession,
    page: PageParams,
    org_id: Annotated[str | None, Query(max_length=64)] = None,
) -> PageOf[UserAdminPublic]:
    result = accounts.list_users(session, caller, page, org_id)
    items = [UserAdminPublic.model_validate(row) for row in result.items]
    return PageOf[UserAdminPublic](
        items=items, total=result.total, offset=page.offset, limit=page.limit
    )


@router.get("/users/{user_id}", tags=["users"])
def get_user(user_id: str, caller: CurrentPrincipal, session: DbSession) -> UserAdminPublic:
    return UserAdminPublic.model_validate(accounts.get(session, caller, user_id))


@router.patch("/users/{user_id}", tags=["users"])
def update_user(
    user_id: str, body: UserUpdate, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> UserAdminPublic:
    """Changes a user's role, details, or disables it (its sessions end); an organisation
    always keeps one active admin."""
    changes = body.model_dump(exclude_none=True)
    row = accounts.update(session, app.clock, caller, user_id, changes)
    return UserAdminPublic.model_validate(row)


@router.post("/users/{user_id}/password", tags=["users"])
def reset_password(
    user_id: str, body: PasswordReset, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> SessionsEnded:
    ended = accounts.reset_password(session, app.clock, caller, user_id, body.new_password)
    return SessionsEnded(sessions_ended=ended)


@router.post("/users/{user_id}/sign-out", tags=["users"])
def sign_out_user(
    user_id: str, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> SessionsEnded:
    return SessionsEnded(sessions_ended=accounts.sign_out(session, app.clock, caller, user_id))


# ---------------------------------------------------------------------------------------------
# Self-registration and review (入驻审核)


@router.post("/registrations", status_code=201, tags=["organisations"])
def register(body: RegistrationCreate, request: Request, app: AppState) -> RegistrationPublic:
    """An enterprise or provider registers itself with its unified social credit code; it
    stays `pending` (its admin can sign in, and do nothing else) until the operator reviews."""
    form = organisations.Registration(
        name=body.name,
        kind=body.kind,
        credit_code=body.credit_code,
        region=body.region,
        contact_name=body.contact.name,
        contact_phone=body.contact.phone,
        contact_email=body.contact.email,
        admin_login=body.admin.login,
        admin_display_name=body.admin.display_name,
        admin_password=body.admin.password,
    )
    org, user = organisations.self_register(app.db, app.clock, form, client=client_address(request))
    return RegistrationPublic(
        organisation=OrganisationPublic.model_validate(org), user_id=user.id, login=user.login
    )


def _org_public(row: object) -> OrganisationPublic:
    return OrganisationPublic.model_validate(row)


@router.post("/organisations/{org_id}/approve", tags=["organisations"])
def approve_organisation(
    org_id: str, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> OrganisationPublic:
    return _org_public(
        organisations.review(session, app.clock, caller, org_id, approve=True, reason="")
    )


@router.post("/organisations/{org_id}/reject", tags=["organisations"])
def reject_organisation(
    org_id: str, body: Reason, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> OrganisationPublic:
    return _org_public(
        organisations.review(session, app.clock, caller, org_id, approve=False, reason=body.reason)
    )


@router.post("/organisations/{org_id}/suspend", tags=["organisations"])
def suspend_organisation(
    org_id: str, body: Reason, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> OrganisationPublic:
    """Stops every session and token of the organisation at once; nothing settled changes."""
    return _org_public(
        organisations.suspend(session, app.clock, caller, org_id, reason=body.reason)
    )


@router.post("/organisations/{org_id}/reinstate", tags=["organisations"])
def reinstate_organisation(
    org_id: str, caller: CurrentPrincipal, session: DbSession, app: AppState
) -> OrganisationPublic:
    return _org_public(organisations.reinstate(session, app.clock, caller, org_id))
