"""Who may call what: one table, the single source of truth for every API operation.

Each operation (`"METHOD /path"`, as the OpenAPI document names it) has a `Rule`: the kinds
of organisation that may call it at all, the roles within them, whether it writes, and the
area a scoped token must cover. The API checks the rule of the matched route before the route
runs (`api/deps.py`); the services keep their own finer checks (whose object it is). The
permission tests are generated from this table: every operation, every kind, every role.

Roles:
- `admin`: everything the organisation's kind may do, plus its users, tokens and settings;
- `member`: operates (jobs, pools, connections, scenes, programs and their decisions);
- `finance`: money (top-ups, payouts, refunds, program funding), where the kind allows;
- `viewer`: reads only.
Every role reads what its organisation may read, except users (admins) and the audit log
(admins, finance and viewers: the people who answer for the record).
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.domain.identity import AREAS, ORG_KIND_NAMES_ZH, ORG_KINDS, ROLE_NAMES_ZH, ROLES
from suanli.errors import OrganisationNotActive, PermissionDenied
from suanli.i18n import Msg, msg

ANY_KIND = frozenset(ORG_KINDS)
ANY_ROLE = frozenset(ROLES)
OPERATE = frozenset({"admin", "member"})
MONEY = frozenset({"admin", "finance"})
ADMIN = frozenset({"admin"})
OVERSIGHT = frozenset({"admin", "finance", "viewer"})
OPERATOR = frozenset({"operator"})
# "account": users, tokens, organisations' settings and the audit log: only a token without
# area scopes reaches them. "general": harmless reads every token reaches (catalog, me).
ACCOUNT = "account"
GENERAL = "general"


@dataclass(frozen=True)
class Rule:
    area: str
    kinds: frozenset[str] = ANY_KIND
    roles: frozenset[str] = ANY_ROLE
    write: bool = False
    public: bool = False  # no credential at all (sign-in, self-registration, health)
    while_pending: bool = False  # allowed while the organisation waits for review


def _kinds(*kinds: str) -> frozenset[str]:
    return frozenset(kinds)


def read(area: str, kinds: frozenset[str] = ANY_KIND, roles: frozenset[str] = ANY_ROLE) -> Rule:
    return Rule(area, kinds, roles)


def write(area: str, kinds: frozenset[str], roles: frozenset[str] = OPERATE) -> Rule:
    return Rule(area, kinds, roles, write=True)


PUBLIC = Rule(GENERAL, public=True)
SELF = Rule(ACCOUNT, write=True, while_pending=True)  # the caller's own account
PROVIDERS = _kinds("operator", "provider")
SCENE_PUBLISHERS = _kinds("operator", "agency", "enterprise")
AGENCY_OR_OPERATOR = _kinds("operator", "agency")

RULES: dict[str, Rule] = {
    # health, catalog, the caller
    "GET /healthz": PUBLIC,
    "GET /metrics": read(GENERAL, OPERATOR),
    "GET /v1/catalog/accelerators": read(GENERAL),
    # the city dashboard (城市大屏): aggregates only, published like the cities' wall screens
    "GET /v1/public/dashboard": PUBLIC,
    "GET /v1/me": Rule(GENERAL, while_pending=True),
    # sign-in and the caller's own account
    "POST /v1/auth/login": PUBLIC,
    "POST /v1/registrations": PUBLIC,
    # the public storefront (web portal, no sign-in): public faces only
    "GET /v1/public/overview": PUBLIC,
    "GET /v1/public/pools": PUBLIC,
    "GET /v1/public/programs": PUBLIC,
    "GET /v1/public/scenes/{kind}": PUBLIC,
    "GET /v1/auth/me": Rule(GENERAL, while_pending=True),
    "POST /v1/auth/logout": Rule(GENERAL, while_pending=True),
    "POST /v1/auth/password": SELF,
    "POST /v1/auth/sign-out-everywhere": SELF,
    "POST /v1/auth/totp/setup": write(ACCOUNT, AGENCY_OR_OPERATOR, ANY_ROLE),
    "POST /v1/auth/totp/confirm": write(ACCOUNT, AGENCY_OR_OPERATOR, ANY_ROLE),
    "POST /v1/auth/totp/disable": write(ACCOUNT, AGENCY_OR_OPERATOR, ANY_ROLE),
    "GET /v1/tokens": read(ACCOUNT),
    "POST /v1/tokens": write(ACCOUNT, ANY_KIND, ANY_ROLE),
    "DELETE /v1/tokens/{token_id}": write(ACCOUNT, ANY_KIND, ANY_ROLE),
    # users (an organisation's admins)
    "GET /v1/users": read(ACCOUNT, ANY_KIND, ADMIN),
    "POST /v1/users": write(ACCOUNT, ANY_KIND, ADMIN),
    "GET /v1/users/{user_id}": read(ACCOUNT, ANY_KIND, ADMIN),
    "PATCH /v1/users/{user_id}": write(ACCOUNT, ANY_KIND, ADMIN),
    "POST /v1/users/{user_id}/password": write(ACCOUNT, ANY_KIND, ADMIN),
    "POST /v1/users/{user_id}/sign-out": write(ACCOUNT, ANY_KIND, ADMIN),
    # organisations
    "GET /v1/organisations": read(GENERAL),
    "POST /v1/organisations": write(ACCOUNT, OPERATOR, ADMIN),
    "GET /v1/organisations/{org_id}": Rule(GENERAL, while_pending=True),
    "POST /v1/organisations/relations": write(ACCOUNT, ANY_KIND, ADMIN),
    "POST /v1/organisations/{org_id}/approve": write(ACCOUNT, OPERATOR),
    "POST /v1/organisations/{org_id}/reject": write(ACCOUNT, OPERATOR),
    "POST /v1/organisations/{org_id}/suspend": write(ACCOUNT, OPERATOR, ADMIN),
    "POST /v1/organisations/{org_id}/reinstate": write(ACCOUNT, OPERATOR, ADMIN),
    # the audit log
    "GET /v1/audit": read(ACCOUNT, ANY_KIND, OVERSIGHT),
    "GET /v1/audit/export": read(ACCOUNT, ANY_KIND, OVERSIGHT),
    "GET /v1/audit/head": read(ACCOUNT, ANY_KIND, OVERSIGHT),
    "GET /v1/audit/verify": read(ACCOUNT, ANY_KIND, OVERSIGHT),
    # pools and cluster connections
    "GET /v1/pools": read("pools"),
    "POST /v1/pools": write("pools", PROVIDERS),
    "GET /v1/pools/{pool_id}": read("pools"),
    "PATCH /v1/pools/{pool_id}": write("pools", PROVIDERS),
    "DELETE /v1/pools/{pool_id}": write("pools", PROVIDERS),
    "GET /v1/connections": read("pools", PROVIDERS),
    "POST /v1/connections": write("pools", PROVIDERS),
    "GET /v1/connections/{connection_id}": read("pools", PROVIDERS),
    "DELETE /v1/connections/{connection_id}": write("pools", PROVIDERS),
    "GET /v1/connections/{connection_id}/capacity": read("pools", PROVIDERS),
    "POST /v1/connections/{connection_id}/check": write("pools", PROVIDERS),
    "POST /v1/connections/{connection_id}/approve": write("pools", OPERATOR),
    "POST /v1/connections/{connection_id}/reject": write("pools", OPERATOR),
    # jobs
    "POST /v1/jobs/quote": read("jobs"),
    "POST /v1/jobs": write("jobs", _kinds("enterprise")),
    "GET /v1/jobs": read("jobs"),
    "GET /v1/jobs/{job_id}": read("jobs"),
    "POST /v1/jobs/{job_id}/cancel": write("jobs", _kinds("operator", "enterprise")),
    "GET /v1/jobs/{job_id}/logs": read("jobs"),
    "GET /v1/jobs/{job_id}/usage": read("jobs"),
    # money
    "POST /v1/wallets/{org_id}/top-ups": write("wallet", OPERATOR, MONEY),
    "POST /v1/payouts": write("wallet", OPERATOR, MONEY),
    "POST /v1/refunds": write("wallet", OPERATOR, MONEY),
    "POST /v1/ledger/holds/expire": write("wallet", OPERATOR, MONEY),
    "GET /v1/wallets/{org_id}/balances": read("wallet"),
    "GET /v1/wallets/{org_id}/statement": read("wallet"),
    "GET /v1/ledger/accounts/{account_id}/statement": read("wallet"),
    "GET /v1/ledger/platform": read("wallet", OPERATOR),
    "GET /v1/ledger/check": read("wallet", OPERATOR),
    "POST /v1/ledger/checks": write("wallet", OPERATOR, OPERATE | MONEY),
    "GET /v1/ledger/checks": read("wallet", OPERATOR),
    "GET /v1/statements/{org_id}/{month}": read("wallet"),
    # vouchers
    "GET /v1/vouchers/programs": read("vouchers"),
    "POST /v1/vouchers/programs": write("vouchers", _kinds("agency")),
    "GET /v1/vouchers/programs/{program_id}": read("vouchers"),
    "PATCH /v1/vouchers/programs/{program_id}": write("vouchers", _kinds("agency")),
    "DELETE /v1/vouchers/programs/{program_id}": write("vouchers", _kinds("agency")),
    "POST /v1/vouchers/programs/{program_id}/funding": write("vouchers", AGENCY_OR_OPERATOR, MONEY),
    "GET /v1/vouchers/programs/{program_id}/report": read("vouchers", AGENCY_OR_OPERATOR),
    "POST /v1/vouchers/programs/{program_id}/applications": write("vouchers", _kinds("enterprise")),
    "GET /v1/vouchers/applications": read("vouchers"),
    "GET /v1/vouchers/applications/{application_id}": read("vouchers"),
    "POST /v1/vouchers/applications/{application_id}/approve": write("vouchers", _kinds("agency")),
    "POST /v1/vouchers/applications/{application_id}/reject": write("vouchers", _kinds("agency")),
    "GET /v1/vouchers/grants": read("vouchers"),
    "POST /v1/vouchers/expire": write("vouchers", AGENCY_OR_OPERATOR, OPERATE | MONEY),
    # scenes
    "POST /v1/scenes/opportunities": write("scenes", SCENE_PUBLISHERS),
    "POST /v1/scenes/capabilities": write("scenes", _kinds("operator", "enterprise")),
    "POST /v1/scenes/import": write("scenes", SCENE_PUBLISHERS),
    "GET /v1/scenes/export/{kind}": read("scenes"),
    "GET /v1/scenes/{kind}": read("scenes"),
    "GET /v1/scenes/{kind}/{item_id}": read("scenes"),
    "PATCH /v1/scenes/{kind}/{item_id}": write("scenes", SCENE_PUBLISHERS),
    "DELETE /v1/scenes/{kind}/{item_id}": write("scenes", SCENE_PUBLISHERS),
    "GET /v1/scenes/{kind}/{item_id}/matches": read("scenes"),
    "POST /v1/scenes/pairs": write("scenes", ANY_KIND),
    "GET /v1/scenes/pairs": read("scenes"),
    "GET /v1/scenes/pairs/{pair_id}": read("scenes"),
    "POST /v1/scenes/pairs/{pair_id}/stage": write("scenes", ANY_KIND),
    "POST /v1/scenes/pairs/{pair_id}/consent": write("scenes", ANY_KIND),
    "GET /v1/scenes/pipeline/stats": read("scenes", OPERATOR),
    "POST /v1/scenes/agencies/{agency_id}/top-ups": write("scenes", OPERATOR, MONEY),
    "POST /v1/scenes/challenges": write("scenes", _kinds("agency")),
    "GET /v1/scenes/challenges": read("scenes"),
    "GET /v1/scenes/challenges/{challenge_id}": read("scenes"),
    "POST /v1/scenes/challenges/{challenge_id}/proposals": write("scenes", _kinds("enterprise")),
    # an enterprise reads its own proposals only (scenes_deals.list_proposals filters them)
    "GET /v1/scenes/challenges/{challenge_id}/proposals": read(
        "scenes", _kinds("operator", "agency", "enterprise")
    ),
    "POST /v1/scenes/challenges/{challenge_id}/reviews": write("scenes", AGENCY_OR_OPERATOR),
    "POST /v1/scenes/challenges/{challenge_id}/award": write("scenes", _kinds("agency")),
    "POST /v1/scenes/challenges/{challenge_id}/cancel": write("scenes", AGENCY_OR_OPERATOR),
}


def rule_for(method: str, path: str) -> Rule | None:
    return RULES.get(f"{method.upper()} {path}")


@dataclass(frozen=True)
class Caller:
    """What the check needs to know about the caller (the services' Principal carries it)."""

    org_kind: str
    role: str
    org_state: str = "active"
    scopes: frozenset[str] | None = None  # None: a signed-in session, limited by its role only


def authorize(rule: Rule, caller: Caller) -> None:
    """Raises PermissionDenied (or OrganisationNotActive) naming why; returns if allowed."""
    if rule.public:
        return
    if caller.org_state != "active" and not rule.while_pending:
        raise OrganisationNotActive(_not_active(caller.org_state), field="organisation")
    if caller.org_kind not in rule.kinds:
        wanted = " / ".join(sorted(rule.kinds))
        wanted_zh = "或".join(ORG_KIND_NAMES_ZH.get(kind, kind) for kind in sorted(rule.kinds))
        raise PermissionDenied(
            msg(f"只有{wanted_zh}可以这样做", f"this needs an organisation of kind {wanted}"),
            field="organisation",
        )
    if caller.role not in rule.roles:
        wanted = " / ".join(role for role in ROLES if role in rule.roles)
        wanted_zh = "或".join(ROLE_NAMES_ZH[role] for role in ROLES if role in rule.roles)
        role_zh = ROLE_NAMES_ZH.get(caller.role, caller.role)
        raise PermissionDenied(
            msg(
                f"{role_zh}角色不能做这件事（需要{wanted_zh}角色）",
                f"the role {caller.role} may not do this (it needs {wanted})",
            ),
            field="role",
        )
    if caller.scopes is not None:
        _check_scopes(rule, caller.scopes)


def _check_scopes(rule: Rule, scopes: frozenset[str]) -> None:
    if rule.write and "write" not in scopes:
        raise PermissionDenied(
            msg("这个令牌没有 `write` 权限", "this token lacks the write scope"), field="scopes"
        )
    if not (scopes & {"read", "write"}):
        raise PermissionDenied(
            msg("这个令牌没有 `read` 权限", "this token lacks the read scope"), field="scopes"
        )
    areas = scopes & set(AREAS)
    if not areas or rule.area == GENERAL:
        return
    if rule.area not in areas:
        reach = ", ".join(sorted(areas))
        raise PermissionDenied(
            msg(
                f"这个令牌只能用于 {reach}，不能用于 {rule.area}",
                f"this token is limited to {reach}, not {rule.area}",
            ),
            field="scopes",
        )


def _not_active(state: str) -> Msg:
    if state == "pending":
        return msg("机构正在等待平台审核，审核通过后才能操作", "the organisation awaits review")
    if state == "rejected":
        return msg("机构的入驻申请未通过审核", "the organisation's registration was rejected")
    return msg("机构已被平台暂停", "the organisation is suspended")
