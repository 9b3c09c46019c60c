"""People and their rights, as pure rules: roles, token scopes, login names, the password rule,
the unified social credit code (统一社会信用代码, GB 32100-2015) and the sign-in backoff.

Nothing here touches a database, a clock or a hash function of a library: services pass the
facts in (the time, the list of common passwords) and get a decision back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from suanli.errors import InvalidInput
from suanli.i18n import Msg, msg

ORG_KINDS = ("operator", "provider", "enterprise", "agency")
ROLES = ("admin", "member", "finance", "viewer")
# Chinese names of the codes, for messages (the codes themselves stay in the API).
ORG_KIND_NAMES_ZH = {
    "operator": "平台运营方",
    "provider": "算力提供方",
    "enterprise": "企业",
    "agency": "主管部门",
}
ROLE_NAMES_ZH = {"admin": "管理员", "member": "成员", "finance": "财务", "viewer": "只读成员"}
SELF_REGISTERING_KINDS = ("enterprise", "provider")  # agencies are created by the operator
TOTP_KINDS = ("operator", "agency")  # who may turn on a second factor
ORG_STATES = ("pending", "active", "rejected", "suspended")

# Token scopes: an access level (read, or write, which includes read) and, optionally, the
# areas the token is limited to. A token without an area scope reaches every area its user's
# role reaches; one with area scopes reaches those areas only, and never users, tokens or the
# audit log.
ACCESS_SCOPES = ("read", "write")
AREAS = ("jobs", "wallet", "vouchers", "scenes", "pools")
SCOPES = ACCESS_SCOPES + AREAS
READ_ONLY_ROLES = frozenset({"viewer"})

LOGIN_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{2,63}$")
PASSWORD_LENGTH_MIN = 12  # OWASP ASVS 4 V2.1.1
PASSWORD_LENGTH_MAX = 128  # ASVS V2.1.2 asks for at least 64; argon2 hashes any length
PASSWORD_DISTINCT_MIN = 5  # "aaaaaaaaaaab" is long but not a password
TOKEN_LIFETIME_DAYS_MAX = 365
TOKEN_LIFETIME_DAYS_DEFAULT = 90


def check_login(login: str) -> str:
    """A login name: 3..64 of a-z 0-9 . _ @ -, compared without case."""
    normal = login.strip().lower()
    if not LOGIN_RE.match(normal):
        raise InvalidInput(
            msg(
                "登录名须为 3..64 个字符，只能含小写字母、数字和 . _ @ -，以字母或数字开头",
                "login must be 3..64 characters of a-z, 0-9, . _ @ -, starting with a letter "
                "or digit",
            ),
            field="login",
        )
    return normal


def check_role(role: str, field: str = "role") -> str:
    if role not in ROLES:
        raise InvalidInput(
            msg(f"角色须为 {'、'.join(ROLES)} 之一", f"role must be one of {', '.join(ROLES)}"),
            field=field,
        )
    return role


# ---------------------------------------------------------------------------------------------
# Token scopes


def check_scopes(scopes: Iterable[str], role: str) -> frozenset[str]:
    """The scopes of a new token: known names, an access level, and never more than the role
    allows (a viewer's token cannot write). `write` includes `read`."""
    chosen = frozenset(scopes)
    unknown = sorted(chosen - set(SCOPES))
    if unknown:
        raise InvalidInput(
            msg(
                f"未知的权限范围 {', '.join(unknown)}；可选 {', '.join(SCOPES)}",
                f"unknown scopes {', '.join(unknown)}; choose from {', '.join(SCOPES)}",
            ),
            field="scopes",
        )
    if not chosen & set(ACCESS_SCOPES):
        raise InvalidInput(
            msg("权限范围须包含 `read` 或 `write`", "scopes must include read or write"),
            field="scopes",
        )
    if "write" in chosen and role in READ_ONLY_ROLES:
        raise InvalidInput(
            msg(
                f"角色 {role} 只能读，令牌不能有 `write` 权限",
                f"the role {role} only reads: its tokens cannot have the write scope",
            ),
            field="scopes",
        )
    return chosen | {"read"} if "write" in chosen else chosen


def scopes_cover(scopes: frozenset[str], wanted: frozenset[str]) -> bool:
    """Whether a token with `scopes` may mint one with `wanted` (never wider than itself)."""
    access_ok = "write" in scopes or "write" not in wanted
    areas, wanted_areas = scopes & set(AREAS), wanted & set(AREAS)
    areas_ok = not areas or (bool(wanted_areas) and wanted_areas <= areas)
    return access_ok and areas_ok


# ---------------------------------------------------------------------------------------------
# Passwords


def password_problem(password: str, *, login: str, common: frozenset[str]) -> Msg | None:
    """Why a new password is refused, or None. Length first (ASVS), then guessability: a common
    password, or one that is a common password once digits and symbols around it or repetition
    are taken off, or one that holds the login name."""
    if len(password) < PASSWORD_LENGTH_MIN:
        return msg(
            f"密码至少 {PASSWORD_LENGTH_MIN} 个字符", f"at least {PASSWORD_LENGTH_MIN} characters"
        )
    if len(password) > PASSWORD_LENGTH_MAX:
        return msg(
            f"密码最多 {PASSWORD_LENGTH_MAX} 个字符", f"at most {PASSWORD_LENGTH_MAX} characters"
        )
    lowered = password.lower()
    if len(set(lowered)) < PASSWORD_DISTINCT_MIN:
        return msg(
            f"密码至少要有 {PASSWORD_DISTINCT_MIN} 个不同的字符",
            f"needs at least {PASSWORD_DISTINCT_MIN} different characters",
        )
    if any(form in common for form in password_base_forms(lowered)):
        return msg("这是常见密码（或由常见密码加数字符号组成）", "this is a common password")
    if is_sequence(lowered):
        return msg("密码是连续的字符或键盘顺序", "it is a run of consecutive or adjacent keys")
    if len(login) >= 4 and login.lower() in lowered:
        return msg("密码不能包含登录名", "must not contain the login name")
    return None


# Runs people type for a password: counting, the alphabet, keyboard rows and columns.
SEQUENCES = (
    "0123456789",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "!@#$%^&*()",
)


def is_sequence(lowered: str) -> bool:
    """Whether the text is a stretch of one of SEQUENCES (forwards or backwards, wrapping)."""
    for sequence in SEQUENCES:
        runs = sequence * (len(lowered) // len(sequence) + 2)
        if lowered in runs or lowered[::-1] in runs:
            return True
    return False


_EDGE_SYMBOLS = "0123456789!@#$%^&*()-_=+.,;:?~`'\"/\\|[]{}<> "


def password_base_forms(lowered: str) -> set[str]:
    """The password and what is left of it without trailing or leading digits and symbols,
    and the unit of a repetition ("abcabcabc" → "abc")."""
    forms = {lowered, lowered.rstrip(_EDGE_SYMBOLS), lowered.lstrip(_EDGE_SYMBOLS)}
    forms.add(lowered.strip(_EDGE_SYMBOLS))
    for form in list(forms):
        unit = _repeated_unit(form)
        if unit:
            forms.add(unit)
    return {form for form in forms if form}


def _repeated_unit(text: str) -> str | None:
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return None


# ---------------------------------------------------------------------------------------------
# 统一社会信用代码 (GB 32100-2015)

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 symbols: no I, O, Z, S, V
CREDIT_CODE_WEIGHTS = tuple(pow(3, position, 31) for position in range(17))
CREDIT_CODE_LENGTH = 18


def credit_code_check_character(first_17: str) -> str:
    """The 18th character: 31 - (Σ value × 3^position mod 31) mod 31, as a charset symbol."""
    total = sum(
        CREDIT_CODE_CHARSET.index(char) * weight
        for char, weight in zip(first_17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def check_credit_code(code: str) -> str:
    """The code in upper case, if it is 18 symbols of the charset with the right check
    character; otherwise InvalidInput naming `credit_code` and what is wrong."""
    normal = code.strip().upper()
    if len(normal) != CREDIT_CODE_LENGTH:
        raise _bad_code(msg(f"应为 18 位，实为 {len(normal)} 位", f"has {len(normal)} characters"))
    wrong = [char for char in normal if char not in CREDIT_CODE_CHARSET]
    if wrong:
        raise _bad_code(
            msg(
                f"含有不允许的字符 {wrong[0]!r}（不用 I、O、Z、S、V）",
                f"holds {wrong[0]!r}, which the code never uses (no I, O, Z, S, V)",
            )
        )
    expected = credit_code_check_character(normal[:17])
    if normal[17] != expected:
        raise _bad_code(
            msg(
                f"校验位应为 {expected}，实为 {normal[17]}",
                f"its check character should be {expected}, not {normal[17]}",
            )
        )
    return normal


def _bad_code(why: Msg) -> InvalidInput:
    return InvalidInput(
        msg(
            f"统一社会信用代码无效（GB 32100-2015）：{why.zh}",
            f"the unified social credit code is not valid (GB 32100-2015): {why.en}",
        ),
        field="credit_code",
    )


# ---------------------------------------------------------------------------------------------
# Sign-in backoff


@dataclass(frozen=True)
class ThrottlePolicy:
    """After `threshold` failures in a row (none older than `window_s` apart), each further
    failure locks sign-in for base × 2^(failures − threshold) seconds, at most `cap_s`."""

    threshold: int
    base_s: int
    cap_s: int
    window_s: int

    def lock_seconds(self, failures: int) -> int:
        if failures < self.threshold:
            return 0
        return int(min(self.cap_s, self.base_s * 2 ** min(failures - self.threshold, 30)))


ACCOUNT_THROTTLE = ThrottlePolicy(threshold=5, base_s=30, cap_s=15 * 60, window_s=3600)
ADDRESS_THROTTLE = ThrottlePolicy(threshold=20, base_s=30, cap_s=3600, window_s=3600)
REGISTRATION_THROTTLE = ThrottlePolicy(threshold=10, base_s=600, cap_s=24 * 3600, window_s=3600)
