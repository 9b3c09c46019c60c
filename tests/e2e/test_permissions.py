"""Who may call what, tested for every operation of the API, generated from the one table
(`domain/permissions.py`): each role of each kind of organisation is let through or refused
(403 naming the organisation or the role) exactly as the table says; scoped tokens reach only
their areas and access; without a credential every operation but the public ones is a 401;
an organisation waiting for review may only do what the table lets it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from suanli.api.app import create_api
from suanli.api.deps import CurrentPrincipal
from suanli.domain.identity import AREAS, ORG_KINDS, ROLES
from suanli.domain.permissions import ACCOUNT, GENERAL, RULES, Rule, rule_for
from suanli.services.organisations import FirstAdmin, create_organisation, create_user, issue_token
from tests.helpers import City, build_city, make_app

OWN_ACCOUNT = {
    "POST /v1/auth/password",
    "POST /v1/auth/sign-out-everywhere",
    "POST /v1/auth/totp/setup",
    "POST /v1/auth/totp/confirm",
    "POST /v1/auth/totp/disable",
    "POST /v1/tokens",
    "DELETE /v1/tokens/{token_id}",
}
PATH_VALUES = {"kind": "opportunities", "month": "2025-07"}
PARAM = re.compile(r"{(\w+)}")


def operations() -> list[tuple[str, str]]:
    schema = create_api(SimpleNamespace()).openapi()  # type: ignore[arg-type]
    return sorted(
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    )


def test_every_operation_has_exactly_one_rule_and_every_rule_an_operation() -> None:
    found = {f"{method} {path}" for method, path in operations()}
    assert found == set(RULES), {
        "without a rule": sorted(found - set(RULES)),
        "rule without an operation": sorted(set(RULES) - found),
    }


def test_the_table_is_sane() -> None:
    public = {key for key, rule in RULES.items() if rule.public}
    storefront = {f"GET /v1/public/{page}" for page in ("overview", "pools", "programs")}
    assert public == {
        "GET /healthz",
        "POST /v1/auth/login",
        "POST /v1/registrations",
        "GET /v1/public/scenes/{kind}",
        "GET /v1/public/dashboard",
        *storefront,
    }
    for key, rule in RULES.items():
        assert rule.kinds and rule.roles, key
        assert rule.area in (*AREAS, ACCOUNT, GENERAL), key
    viewers_write = {key for key, rule in RULES.items() if rule.write and "viewer" in rule.roles}
    assert viewers_write == OWN_ACCOUNT, "a viewer writes nothing but its own account"
    assert not rule_for("GET", "/v1/nowhere")


def concrete(path: str) -> str:
    return PARAM.sub(lambda match: PATH_VALUES.get(match.group(1), "nope_0"), path)


@dataclass
class Callers:
    """A token for each role of each kind, plus scoped tokens and a pending organisation."""

    city: City
    tokens: dict[tuple[str, str], str]
    pending: str

    def call(self, method: str, path: str, token: str | None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
        return self.city.client.request(method, concrete(path), json=body, headers=headers)


@pytest.fixture(scope="module")
def callers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callers]:
    app = make_app(tmp_path_factory.mktemp("permissions"))
    city = build_city(app)
    tokens: dict[tuple[str, str], str] = {}
    with app.db.session() as session:
        for kind in ORG_KINDS:
            org = create_organisation(session, app.clock, name=f"roles-{kind}", kind=kind)
            for role in ROLES:
                user = create_user(
                    session, app.clock, org_id=org.id, first=FirstAdmin(f"{kind}-{role}"), role=role
                )
                tokens[(kind, role)] = issue_token(session, app.clock, user.id, org.id).token
        waiting = create_organisation(
            session, app.clock, name="waiting", kind="enterprise", state="pending"
        )
        admin = create_user(session, app.clock, org_id=waiting.id, first=FirstAdmin("w"))
        pending = issue_token(session, app.clock, admin.id, waiting.id).token
    yield Callers(city, tokens, pending)
    app.close()


def refused(reply: Any, field: str) -> bool:
    return reply.status_code == 403 and reply.json().get("field") == field


@pytest.mark.parametrize(("method", "path"), operations(), ids=" ".join)
def test_each_role_of_each_kind_is_let_through_or_refused_as_the_table_says(
    callers: Callers, method: str, path: str
) -> None:
    rule = RULES[f"{method} {path}"]
    if rule.public:
        assert callers.call(method, path, None).status_code not in (401, 403)
        return
    assert callers.call(method, path, None).status_code == 401, "no credential, no entry"
    wrong = []
    for (kind, role), token in callers.tokens.items():
        reply = callers.call(method, path, token)
        expected_refusal = _expected_refusal(rule, kind, role)
        if expected_refusal is None and reply.status_code in (401, 403):
            wrong.append(f"{kind}/{role}: refused {reply.status_code} {reply.text[:120]}")
        elif expected_refusal is not None and not refused(reply, expected_refusal):
            wrong.append(f"{kind}/{role}: expected 403 on {expected_refusal}, got {reply.text}")
    assert not wrong, wrong


def _expected_refusal(rule: Rule, kind: str, role: str) -> str | None:
    if kind not in rule.kinds:
        return "organisation"
    if role not in rule.roles:
        return "role"
    return None


@pytest.mark.parametrize(("method", "path"), operations(), ids=" ".join)
def test_scoped_tokens_reach_only_their_access_and_areas(
    callers: Callers, method: str, path: str
) -> None:
    rule = RULES[f"{method} {path}"]
    if rule.public:
        return
    kind = sorted(rule.kinds)[0]
    role = "admin" if "admin" in rule.roles else sorted(rule.roles)[0]
    user_token = callers.tokens[(kind, role)]
    client = callers.city.client
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {user_token}"}).json()
    for scopes, area in ((["read"], None), *((["write", area], area) for area in AREAS)):
        token = _token(callers, me["id"], me["org_id"], scopes)
        reply = callers.call(method, path, token)
        if (
            (rule.write and "write" not in scopes)
            or (area is not None and rule.area == ACCOUNT)
            or (area is not None and rule.area not in (area, GENERAL))
        ):
            ok = refused(reply, "scopes")
        else:
            ok = reply.status_code not in (401, 403)
        assert ok, (scopes, reply.status_code, reply.text[:200])


def _token(callers: Callers, user_id: str, org_id: str, scopes: list[str]) -> str:
    app = callers.city.app
    with app.db.session() as session:
        return issue_token(
            session, app.clock, user_id, org_id, name="s", scopes=frozenset(scopes)
        ).token


@pytest.mark.parametrize(("method", "path"), operations(), ids=" ".join)
def test_an_organisation_awaiting_review_does_only_what_the_table_allows(
    callers: Callers, method: str, path: str
) -> None:
    rule = RULES[f"{method} {path}"]
    if rule.public or "enterprise" not in rule.kinds or "admin" not in rule.roles:
        return
    reply = callers.call(method, path, callers.pending)
    if rule.while_pending:
        assert reply.status_code not in (401, 403), reply.text
    else:
        assert refused(reply, "organisation"), reply.text
        assert reply.json()["error"] == "organisation_not_active"


def test_an_expired_token_is_a_401_naming_its_expiry(callers: Callers) -> None:
    app = callers.city.app
    me = callers.city.get(callers.city.enterprise, "/v1/auth/me").json()
    with app.db.session() as session:
        token = issue_token(
            session, app.clock, me["id"], me["org_id"], lifetime=timedelta(seconds=-1)
        ).token
    reply = callers.city.get(token, "/v1/jobs")
    assert reply.status_code == 401 and reply.json()["error"] == "credential_expired", reply.text
    assert (
        "expired"
        in callers.city.client.get(
            "/v1/jobs", headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"}
        ).json()["message"]
    )


def test_no_path_outside_the_table(tmp_path: Path) -> None:
    """A route added without a rule is refused, never open."""
    app = make_app(tmp_path)
    city = build_city(app)
    extra = APIRouter()

    @extra.get("/v1/unlisted")
    def unlisted(_caller: CurrentPrincipal) -> dict[str, str]:
        return {"open": "yes"}

    city.client.app.include_router(extra)  # type: ignore[attr-defined]
    client = TestClient(city.client.app)
    reply = client.get("/v1/unlisted", headers=city.headers(city.operator))
    assert reply.status_code == 403 and reply.json()["field"] == "path"
    app.close()
