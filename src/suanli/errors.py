"""Typed errors, mapped once to HTTP status and CLI exit code.

SuanliError                       500 / exit 1
├── InvalidInput                  422 / exit 2   (names the field)
│   ├── UnknownAccelerator
│   └── Unplaceable               (carries one reason per unmet requirement)
├── NotAuthenticated              401 / exit 3
│   ├── CredentialExpired         (a session or token past its time)
│   ├── CredentialRevoked         (a token revoked, a session ended)
│   └── SecondFactorRequired      (the password was right; a TOTP code is needed)
├── PermissionDenied              403 / exit 3
│   ├── OrganisationNotActive     (pending review, rejected, or suspended)
│   └── CsrfRefused               (a cookie-authenticated write without its CSRF token)
├── TooManyAttempts               429 / exit 3   (carries retry_after_s: the Retry-After header)
├── QueueFull                     429 / exit 3   (an enterprise's queued jobs are at their limit)
├── NotFound                      404 / exit 4   (also for other tenants' objects)
├── Conflict                      409 / exit 5
│   ├── IdempotencyConflict
│   └── InvalidTransition
├── LedgerError                   422 / exit 6   (money rules; see domain.ledger)
├── LimitExceeded                 413 / exit 2
└── BackendError                  502 / exit 7
    └── BackendUnavailable        503 / exit 7
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Self

from suanli.i18n import Msg, render


class SuanliError(Exception):
    """Base of every error the platform raises on purpose. The message may be a bilingual
    `Msg`: it is rendered in the reader's language when read, not when raised."""

    http_status = 500
    exit_code = 1
    code = "internal"
    # what to name as `field` when the raiser named none: every error body carries the key
    default_field: str | None = None

    def __init__(self, message: str | Msg, *, field: str | None = None, **details: Any) -> None:
        super().__init__(render(message, "en"))
        self.text = message
        self.field = field
        # What went wrong beneath (set by caused_by), for a caller that words its own context.
        self.cause: str | Msg | None = None
        self.details = details

    @classmethod
    def caused_by(
        cls, context: Msg, cause: BaseException | str | Msg, *, field: str | None = None
    ) -> Self:
        """`context: cause`, keeping the cause apart so a caller can restate it once."""
        reason = cause_of(cause)
        error = cls(because(context, reason), field=field)
        error.cause = reason
        return error

    @property
    def message(self) -> str:
        return render(self.text)

    @property
    def text_zh(self) -> str:
        return render(self.text, "zh-CN")

    @property
    def text_en(self) -> str:
        return render(self.text, "en")

    def to_dict(self) -> dict[str, Any]:
        field = self.field if self.field is not None else self.default_field
        body: dict[str, Any] = {"error": self.code, "message": self.message, "field": field}
        if self.details:
            body["details"] = {key: _rendered(value) for key, value in self.details.items()}
        return body


class InvalidInput(SuanliError):
    """The request is malformed or out of range; `field` names what to fix."""

    http_status = 422
    exit_code = 2
    code = "invalid_input"


class UnknownAccelerator(InvalidInput):
    """An accelerator model that is not in the catalog."""

    code = "unknown_accelerator"


class Unplaceable(InvalidInput):
    """No pool could ever satisfy the job; `details['reasons']` lists one line per requirement."""

    code = "unplaceable"


class LimitExceeded(SuanliError):
    """An input is over an explicit size or count limit."""

    http_status = 413
    exit_code = 2
    code = "limit_exceeded"


class NotAuthenticated(SuanliError):
    """No valid bearer token."""

    http_status = 401
    exit_code = 3
    code = "not_authenticated"
    default_field = "Authorization"  # the header carrying the credential


class CredentialExpired(NotAuthenticated):
    """A session or an API token that is past its time."""

    code = "credential_expired"


class CredentialRevoked(NotAuthenticated):
    """An API token that was revoked, or a session that was ended."""

    code = "credential_revoked"


class SecondFactorRequired(NotAuthenticated):
    """The password was right, and the account asks for a TOTP code as well."""

    code = "totp_required"


class PermissionDenied(SuanliError):
    """The caller's role may not do this."""

    http_status = 403
    exit_code = 3
    code = "permission_denied"
    default_field = "Authorization"  # the header carrying the credential


class OrganisationNotActive(PermissionDenied):
    """The caller's organisation is pending review, was rejected, or is suspended."""

    code = "organisation_not_active"


class CsrfRefused(PermissionDenied):
    """A cookie-authenticated write without the session's CSRF token, or from another origin."""

    code = "csrf_refused"


class TooManyAttempts(SuanliError):
    """Too many failed sign-ins (per account or per client address): wait `retry_after_s`."""

    http_status = 429
    exit_code = 3
    code = "too_many_attempts"

    def __init__(self, message: str | Msg, *, retry_after_s: int, field: str | None = None) -> None:
        super().__init__(message, field=field, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s


class QueueFull(SuanliError):
    """An enterprise already has as many queued jobs as one may (`details`: limit, queued)."""

    http_status = 429
    exit_code = 3
    code = "queued_jobs_limit"


class NotFound(SuanliError):
    """No such object, or it belongs to another tenant (never says which)."""

    http_status = 404
    exit_code = 4
    code = "not_found"


class Conflict(SuanliError):
    """The request conflicts with the current state."""

    http_status = 409
    exit_code = 5
    code = "conflict"


class IdempotencyConflict(Conflict):
    """The same idempotency key was used before with a different request body."""

    code = "idempotency_conflict"


class InvalidTransition(Conflict):
    """A state machine refused a transition."""

    code = "invalid_transition"


class LedgerError(SuanliError):
    """A money rule refused the operation; nothing was written."""

    http_status = 422
    exit_code = 6
    code = "ledger_error"


class BackendError(SuanliError):
    """An execution backend (local, Ray, Slurm) failed."""

    http_status = 502
    exit_code = 7
    code = "backend_error"


class BackendUnavailable(BackendError):
    """The backend cannot be reached."""

    http_status = 503
    code = "backend_unavailable"


# Error codes of the money rules (LedgerError and its subclasses, across the domain, but for
# InvalidAmount, which is bad input): the CLI exits 6 on them. tests/unit/test_errors.py
# keeps this list equal to the classes.
MONEY_RULE_CODES = frozenset(
    {
        "ledger_error",
        "invalid_transfer",
        "amount_overflow",
        "unknown_account",
        "unknown_hold",
        "currency_mismatch",
        "balance_limit_exceeded",
        "insufficient_funds",
        "credit_limit_exceeded",
        "hold_already_ended",
        "hold_expired",
        "ledger_invariant_broken",
        "post_exceeds_hold",
        "budget_short",
    }
)
EXIT_CODE_BY_STATUS = {400: 2, 401: 3, 403: 3, 404: 4, 405: 2, 409: 5, 413: 2, 422: 2, 429: 3}


def exit_code_for_response(status: int, code: object) -> int:
    """The CLI's exit code for an API error answer: the same table the server's typed errors
    carry (2 bad input, 3 auth, 4 not found, 5 conflict, 6 money rule, 7 backend)."""
    if isinstance(code, str) and code in MONEY_RULE_CODES:
        return LedgerError.exit_code
    if status in (502, 503, 504):
        return BackendError.exit_code
    return EXIT_CODE_BY_STATUS.get(status, SuanliError.exit_code)


def _rendered(value: Any) -> Any:
    """Details may carry bilingual texts (one reason per requirement): shown in one language."""
    if isinstance(value, Msg):
        return value.render()
    if isinstance(value, list | tuple):
        return [_rendered(item) for item in value]
    return value


# -- causes ---------------------------------------------------------------------------------------
# Every message that quotes what went wrong beneath it is built here, so the cause is said once:
# a wrapper quotes the inner error's cause, not its whole message (which already says where).


def because(context: Msg, cause: str | Msg) -> Msg:
    """`context: cause` in each language; a foreign (library) text is quoted in Chinese."""
    if isinstance(cause, Msg):
        return Msg(f"{context.zh}：{cause.zh}", f"{context.en}: {cause.en}")
    if not cause.strip():
        return context
    return Msg(f"{context.zh}：“{cause}”", f"{context.en}: {cause}")


def cause_of(cause: BaseException | str | Msg) -> str | Msg:
    """The reason beneath: a SuanliError's own cause (else its message); for a library's
    exception the innermost operating-system error of its chain (refused, timed out), which
    the wrappers around it (httpx, requests, urllib3, Ray's SDK) only restate; else its text."""
    if isinstance(cause, str | Msg):
        return cause
    if isinstance(cause, SuanliError):
        return cause.cause if cause.cause is not None else cause.text
    found = str(cause)
    for inner in _chain(cause):
        if isinstance(inner, OSError) and str(inner):
            found = _os_text(inner)
    return found


def _os_text(error: OSError) -> str:
    """'[Errno 111] Connection refused', without the file name the context already gives."""
    if error.errno is not None and error.strerror:
        return f"[Errno {error.errno}] {error.strerror}"
    return str(error)


def _chain(error: BaseException) -> Iterator[BaseException]:
    """`error`, then what it was raised from or during, innermost last (as a traceback shows)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        implicit = None if current.__suppress_context__ else current.__context__
        current = current.__cause__ or implicit
