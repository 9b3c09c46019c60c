"""People, not just tokens, over HTTP: sign-in and its backoff (with an injected clock),
sessions and their limits, the cookie and CSRF, TOTP, users and roles, API tokens,
self-registration with review, suspension, and the audit log's API."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.testclient import TestClient

from suanli.adapters.db.tables import PoolRow
from suanli.api.deps import DbSession
from suanli.bootstrap import App, bootstrap
from suanli.config import load_settings
from suanli.domain.identity import credit_code_check_character
from tests.helpers import City, build_city, fund, seed_migrated_sqlite

PASSWORD = "tea-kettle-river-42"
OTHER_PASSWORD = "blue-ocean-harbour-7"


class ManualClock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@dataclass
class World:
    app: App
    city: City
    clock: ManualClock

    def client(self, **kwargs: Any) -> TestClient:
        return TestClient(self.city.client.app, **kwargs)

    def add_user(self, token: str, login: str, role: str, org_id: str | None = None) -> str:
        body = {"login": login, "display_name": login, "role": role, "password": PASSWORD}
        if org_id:
            body["org_id"] = org_id
        reply = self.city.post(token, "/v1/users", body)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    def sign_in(
        self, login: str, password: str = PASSWORD, **kwargs: Any
    ) -> tuple[TestClient, dict[str, Any]]:
        client = self.client(**kwargs)
        reply = client.post("/v1/auth/login", json={"login": login, "password": password})
        assert reply.status_code == 200, reply.text
        return client, reply.json()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    clock = ManualClock()
    seed_migrated_sqlite(tmp_path / "data" / "suanli.db")
    app = bootstrap(load_settings(data_dir=tmp_path / "data"), clock=clock)
    city = build_city(app)
    yield World(app, city, clock)
    app.close()


def login(client: TestClient, name: str, password: str, **extra: Any) -> Any:
    return client.post("/v1/auth/login", json={"login": name, "password": password, **extra})


def credit_code(body: str = "91330106MA2AXXXX0") -> str:
    body = body.replace("X", "1")
    return body + credit_code_check_character(body)


# -- sign-in and the cookie ---------------------------------------------------------------


def test_sign_in_sets_a_strict_http_only_cookie_and_me_answers_until_logout(world: World) -> None:
    world.add_user(world.city.operator, "ops.zhang", "member")
    client, body = world.sign_in("ops.zhang")
    cookie = client.cookies.get("suanli_session")
    assert cookie and cookie.startswith("ss_")
    user = body["user"]
    assert {k: user[k] for k in ("login", "role", "org_kind")} == {
        "login": "ops.zhang",
        "role": "member",
        "org_kind": "operator",
    }
    assert set(user) >= {"id", "login", "display_name", "role", "org_id", "org_kind", "org_name"}
    me = client.get("/v1/auth/me").json()
    assert me["csrf_token"] == body["csrf_token"] and me["id"] == user["id"]
    with world.app.db.engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT token_sha256 FROM user_sessions")).scalars()
        assert cookie not in list(stored)  # only its hash is kept
    logout = client.post("/v1/auth/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert logout.status_code == 204
    assert client.get("/v1/auth/me").status_code == 401


def test_the_cookie_attributes(world: World) -> None:
    world.add_user(world.city.operator, "ops.wang", "viewer")
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        reply = login(world.client(base_url=base), "ops.wang", PASSWORD)
        header = reply.headers["set-cookie"].lower()
        assert "httponly" in header and "samesite=strict" in header and "path=/" in header
        assert ("secure" in header.split(";")[-1] or "; secure" in header) is secure, header


def test_a_login_failure_never_says_whether_the_user_exists(world: World) -> None:
    world.add_user(world.city.operator, "ops.li", "member")
    client = world.client()
    unknown = login(client, "nobody.here", PASSWORD)
    wrong = login(client, "ops.li", "not-the-password-1")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert wrong.json()["error"] == "login_failed"


def test_a_bearer_token_needs_no_csrf_token_but_a_cookie_does(world: World) -> None:
    world.add_user(world.city.operator, "ops.fin", "finance")
    client, body = world.sign_in("ops.fin")
    path = f"/v1/wallets/{world.city.enterprise_id}/top-ups"
    top_up = {"amount_fen": 100, "external_reference": "ICBC-1"}
    refused = client.post(path, json=top_up)
    assert refused.status_code == 403 and refused.json()["field"] == "X-CSRF-Token"
    wrong = client.post(path, json=top_up, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    elsewhere = client.post(
        path,
        json=top_up,
        headers={"X-CSRF-Token": body["csrf_token"], "Origin": "https://evil.example"},
    )
    assert elsewhere.status_code == 403 and elsewhere.json()["field"] == "Origin"
    same_site = {"X-CSRF-Token": body["csrf_token"], "Origin": "http://testserver"}
    assert client.post(path, json=top_up, headers=same_site).status_code == 201
    assert client.get(f"/v1/wallets/{world.city.enterprise_id}/balances").status_code == 200
    bearer = world.city.post(world.city.operator, path, {**top_up, "external_reference": "B-2"})
    assert bearer.status_code == 201


# -- backoff, with the injected clock -----------------------------------------------------


def test_failed_sign_ins_back_off_per_account_with_retry_after(world: World) -> None:
    world.add_user(world.city.operator, "ops.chen", "member")
    client = world.client()
    for _ in range(4):
        assert login(client, "ops.chen", "wrong-password-00").status_code == 401
    assert login(client, "ops.chen", "wrong-password-00").status_code == 401  # 5th: locks 30 s
    locked = login(client, "ops.chen", PASSWORD)  # even the right password waits
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "30"
    assert locked.json()["field"] == "login"
    world.clock.advance(29)
    assert login(client, "ops.chen", PASSWORD).status_code == 429
    world.clock.advance(2)
    assert login(client, "ops.chen", "wrong-password-00").status_code == 401  # 6th: 60 s
    assert login(client, "ops.chen", PASSWORD).headers["Retry-After"] == "60"
    world.clock.advance(61)
    assert login(client, "ops.chen", PASSWORD).status_code == 200  # and the count resets
    assert login(client, "ops.chen", "wrong-password-00").status_code == 401
    assert login(client, "ops.chen", PASSWORD).status_code == 200


def test_an_unknown_login_backs_off_exactly_like_a_known_one(world: World) -> None:
    client = world.client()
    for _ in range(5):
        login(client, "ghost.user", "wrong-password-00")
    reply = login(client, "ghost.user", "wrong-password-00")
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "30"


def test_failures_from_one_address_back_off_across_logins(world: World) -> None:
    world.add_user(world.city.operator, "ops.victim", "member")
    client = world.client()
    for n in range(20):  # 20 logins, 1 failure each: no account is locked
        assert login(client, f"spray.{n:02d}", "wrong-password-00").status_code == 401
    blocked = login(client, "ops.victim", PASSWORD)
    assert blocked.status_code == 429 and blocked.json()["field"] == "client"
    world.clock.advance(31)
    assert login(client, "ops.victim", PASSWORD).status_code == 200


# -- sessions -----------------------------------------------------------------------------


def test_a_session_ends_when_idle_or_old(world: World) -> None:
    world.add_user(world.city.operator, "ops.idle", "member")
    settings = world.app.settings
    client, _ = world.sign_in("ops.idle")
    world.clock.advance(settings.session_idle_s - 120)
    assert client.get("/v1/auth/me").status_code == 200  # use keeps it alive
    world.clock.advance(settings.session_idle_s + 1)
    idle = client.get("/v1/auth/me")
    assert idle.status_code == 401 and idle.json()["error"] == "credential_expired"
    client, _ = world.sign_in("ops.idle")
    for _ in range(settings.session_absolute_s // (settings.session_idle_s - 60) + 2):
        world.clock.advance(settings.session_idle_s - 60)
        if client.get("/v1/auth/me").status_code != 200:
            break
    old = client.get("/v1/auth/me")
    assert old.status_code == 401 and old.json()["error"] == "credential_expired"


def test_sign_out_everywhere_and_a_password_change_end_other_sessions(world: World) -> None:
    world.add_user(world.city.operator, "ops.many", "member")
    laptop, _ = world.sign_in("ops.many")
    phone, _ = world.sign_in("ops.many")
    desk, desk_body = world.sign_in("ops.many")
    change = desk.post(
        "/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
        headers={"X-CSRF-Token": desk_body["csrf_token"]},
    )
    assert change.status_code == 200 and change.json()["sessions_ended"] == 2
    assert laptop.get("/v1/auth/me").json()["error"] == "credential_revoked"
    assert phone.get("/v1/auth/me").status_code == 401
    assert desk.get("/v1/auth/me").status_code == 200  # the one that changed it stays
    assert login(world.client(), "ops.many", PASSWORD).status_code == 401
    other, _ = world.sign_in("ops.many", OTHER_PASSWORD)
    ended = desk.post(
        "/v1/auth/sign-out-everywhere", headers={"X-CSRF-Token": desk_body["csrf_token"]}
    )
    assert ended.json()["sessions_ended"] == 2
    assert desk.get("/v1/auth/me").status_code == other.get("/v1/auth/me").status_code == 401


def test_a_weak_new_password_is_refused_naming_the_field(world: World) -> None:
    world.add_user(world.city.operator, "ops.weak", "member")
    client, body = world.sign_in("ops.weak")
    for weak in ("short", "password12345", "ops.weak-2024-x"):
        reply = client.post(
            "/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": weak},
            headers={"X-CSRF-Token": body["csrf_token"]},
        )
        assert reply.status_code == 422 and reply.json()["field"] == "new_password", reply.text
    created = world.city.post(
        world.city.operator,
        "/v1/users",
        {"login": "ops.x", "display_name": "x", "role": "member", "password": "iloveyou1234"},
    )
    assert created.status_code == 422 and created.json()["field"] == "password"


# -- TOTP ---------------------------------------------------------------------------------


def test_totp_for_operator_users_asks_for_a_fresh_code(world: World) -> None:
    world.add_user(world.city.operator, "ops.otp", "admin")
    client, body = world.sign_in("ops.otp")
    csrf = {"X-CSRF-Token": body["csrf_token"]}
    setup = client.post("/v1/auth/totp/setup", json={"password": PASSWORD}, headers=csrf)
    assert setup.status_code == 200, setup.text
    assert setup.json()["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(setup.json()["secret"])
    code = totp.at(world.clock.now())
    assert (
        client.post("/v1/auth/totp/confirm", json={"code": code}, headers=csrf).status_code == 204
    )
    anonymous = world.client()
    needs = login(anonymous, "ops.otp", PASSWORD)
    assert needs.status_code == 401 and needs.json()["error"] == "totp_required"
    assert login(anonymous, "ops.otp", PASSWORD, totp=code).json()["field"] == "totp"  # replay
    world.clock.advance(30)
    fresh = totp.at(world.clock.now())
    assert login(anonymous, "ops.otp", PASSWORD, totp="000000").status_code == 401
    assert login(anonymous, "ops.otp", PASSWORD, totp=fresh).status_code == 200


def test_totp_is_for_operator_and_agency_users_only(world: World) -> None:
    world.add_user(world.city.enterprise, "ent.otp", "admin")
    client, body = world.sign_in("ent.otp")
    reply = client.post(
        "/v1/auth/totp/setup",
        json={"password": PASSWORD},
        headers={"X-CSRF-Token": body["csrf_token"]},
    )
    assert reply.status_code == 403 and reply.json()["field"] == "organisation"


# -- users and roles ----------------------------------------------------------------------


def test_roles_decide_what_each_user_of_an_enterprise_may_do(world: World) -> None:
    city = world.city
    fund(world.app, city.enterprise_id)
    tokens = {}
    for role in ("member", "finance", "viewer"):
        world.add_user(city.enterprise, f"ent.{role}", role)
        client, body = world.sign_in(f"ent.{role}")
        tokens[role] = (client, {"X-CSRF-Token": body["csrf_token"]})
    job = {"name": "j", "command": "echo hi", "cards": 1, "max_run_time_s": 60}
    member, csrf = tokens["member"]
    assert member.post("/v1/jobs", json=job, headers=csrf).status_code == 201
    for role in ("finance", "viewer"):
        client, csrf = tokens[role]
        refused = client.post("/v1/jobs", json=job, headers=csrf)
        assert refused.status_code == 403 and refused.json()["field"] == "role"
        assert client.get("/v1/jobs").status_code == 200  # everyone reads
    viewer, csrf = tokens["viewer"]
    assert viewer.get("/v1/users").status_code == 403  # users are the admins'


def test_an_organisation_keeps_one_admin_and_a_disabled_user_stops(world: World) -> None:
    city = world.city
    me = city.get(city.enterprise, "/v1/auth/me").json()
    demote = city.client.patch(
        f"/v1/users/{me['id']}", json={"role": "member"}, headers=city.headers(city.enterprise)
    )
    assert demote.status_code == 409 and demote.json()["field"] == "role"
    staff = world.add_user(city.enterprise, "ent.staff", "member")
    client, _ = world.sign_in("ent.staff")
    disable = city.client.patch(
        f"/v1/users/{staff}", json={"disabled": True}, headers=city.headers(city.enterprise)
    )
    assert disable.status_code == 200
    assert client.get("/v1/auth/me").status_code == 401
    assert login(world.client(), "ent.staff", PASSWORD).status_code == 401
    others = city.client.get(f"/v1/users/{staff}", headers=city.headers(city.other_enterprise))
    assert others.status_code == 404  # another tenant's user is a missing one


# -- API tokens ---------------------------------------------------------------------------


def test_tokens_are_shown_once_stored_hashed_scoped_expiring_and_revocable(world: World) -> None:
    city = world.city
    created = city.post(
        city.enterprise, "/v1/tokens", {"name": "ci", "scopes": ["read"], "expires_in_days": 7}
    )
    assert created.status_code == 201, created.text
    token, token_id = created.json()["token"], created.json()["id"]
    listed = city.get(city.enterprise, "/v1/tokens").json()["items"]
    assert token_id in {row["id"] for row in listed}
    assert all("token" not in row for row in listed)
    with world.app.db.engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT token_sha256 FROM api_tokens")).scalars()
        assert token not in set(stored)
    assert city.get(token, "/v1/jobs").status_code == 200
    job = {"name": "j", "command": "echo", "cards": 1}
    write = city.post(token, "/v1/jobs", job)
    assert write.status_code == 403 and write.json()["field"] == "scopes"
    used = city.get(city.enterprise, "/v1/tokens").json()["items"]
    assert next(r for r in used if r["id"] == token_id)["last_used_at"] is not None
    world.clock.advance(7 * 86400 + 1)
    expired = city.get(token, "/v1/jobs")
    assert expired.status_code == 401 and expired.json()["error"] == "credential_expired"
    world.clock.advance(-7 * 86400)
    revoke = city.client.delete(f"/v1/tokens/{token_id}", headers=city.headers(city.enterprise))
    assert revoke.status_code == 200 and revoke.json()["revoked"]
    assert city.get(token, "/v1/jobs").json()["error"] == "credential_revoked"


def test_a_token_never_exceeds_its_users_role_nor_a_year(world: World) -> None:
    city = world.city
    world.add_user(city.enterprise, "ent.viewer", "viewer")
    client, body = world.sign_in("ent.viewer")
    csrf = {"X-CSRF-Token": body["csrf_token"]}
    wide = client.post("/v1/tokens", json={"name": "x", "scopes": ["write"]}, headers=csrf)
    assert wide.status_code == 422 and wide.json()["field"] == "scopes"
    long = city.post(city.enterprise, "/v1/tokens", {"name": "x", "expires_in_days": 366})
    assert long.status_code == 422 and long.json()["field"] == "expires_in_days"
    jobs_only = city.post(city.enterprise, "/v1/tokens", {"name": "j", "scopes": ["write", "jobs"]})
    narrow = jobs_only.json()["token"]
    assert city.get(narrow, f"/v1/wallets/{city.enterprise_id}/balances").status_code == 403
    wider = city.post(narrow, "/v1/tokens", {"name": "w", "scopes": ["write"]})
    assert wider.status_code == 403  # tokens are an account matter: a jobs token has none
    # a user demoted after minting a write token cannot write with it either
    staff = world.add_user(city.enterprise, "ent.dev", "member")
    dev, dev_body = world.sign_in("ent.dev")
    minted = dev.post(
        "/v1/tokens", json={"name": "dev"}, headers={"X-CSRF-Token": dev_body["csrf_token"]}
    ).json()["token"]
    city.client.patch(
        f"/v1/users/{staff}", json={"role": "viewer"}, headers=city.headers(city.enterprise)
    )
    job = {"name": "j", "command": "echo", "cards": 1}
    assert city.post(minted, "/v1/jobs", job).json()["field"] == "role"


# -- self-registration, review, suspension ------------------------------------------------


def registration(code: str, login_name: str = "zhao.admin", **overrides: Any) -> dict[str, Any]:
    return {
        "name": "杭州某模型科技有限公司",
        "kind": "enterprise",
        "credit_code": code,
        "region": "浙江/杭州/滨江",
        "contact": {"name": "赵", "phone": "+86 138 0000 0000", "email": "zhao@example.cn"},
        "admin": {"login": login_name, "display_name": "赵六", "password": PASSWORD},
        **overrides,
    }


def test_a_registration_waits_for_review_and_then_acts(world: World) -> None:
    city, code = world.city, credit_code()
    anonymous = world.client()
    reply = anonymous.post("/v1/registrations", json=registration(code))
    assert reply.status_code == 201, reply.text
    org = reply.json()["organisation"]
    assert org["state"] == "pending" and org["credit_code"] == code
    client, body = world.sign_in("zhao.admin")
    assert body["user"]["org_state"] == "pending"
    waiting = client.get("/v1/jobs")
    assert waiting.status_code == 403 and waiting.json()["error"] == "organisation_not_active"
    assert client.get(f"/v1/organisations/{org['id']}").json()["state"] == "pending"
    queue = city.get(city.operator, "/v1/organisations", params={"state": "pending"}).json()
    assert [row["id"] for row in queue["items"]] == [org["id"]] and queue["total"] == 1
    approved = city.post(city.operator, f"/v1/organisations/{org['id']}/approve", None)
    assert approved.status_code == 200 and approved.json()["state"] == "active"
    assert client.get("/v1/jobs").status_code == 200


def test_registration_refusals_name_the_field(world: World) -> None:
    anonymous, code = world.client(), credit_code()
    wrong_code = code[:-1] + ("0" if code[-1] != "0" else "1")
    weak_admin = {"login": "a.b", "display_name": "x", "password": "123456789012"}
    cases = [
        (registration(wrong_code), 422, "credit_code"),
        (registration(code, kind="agency"), 422, "kind"),
        (registration(code, admin=weak_admin), 422, "admin.password"),
    ]
    for body, status, field in cases:
        reply = anonymous.post("/v1/registrations", json=body)
        assert (reply.status_code, reply.json().get("field")) == (status, field), reply.text
    assert anonymous.post("/v1/registrations", json=registration(code)).status_code == 201
    twice = anonymous.post(
        "/v1/registrations", json=registration(code, "other.admin", name="另一家公司")
    )
    assert twice.status_code == 409 and twice.json()["field"] == "credit_code"


def test_a_rejection_carries_its_reason(world: World) -> None:
    city = world.city
    org = world.client().post("/v1/registrations", json=registration(credit_code())).json()
    org_id = org["organisation"]["id"]
    no_reason = city.post(city.operator, f"/v1/organisations/{org_id}/reject", {"reason": ""})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    rejected = city.post(
        city.operator, f"/v1/organisations/{org_id}/reject", {"reason": "营业执照与名称不符"}
    )
    assert rejected.json()["state"] == "rejected"
    client, _ = world.sign_in("zhao.admin")
    assert client.get(f"/v1/organisations/{org_id}").json()["state_reason"] == "营业执照与名称不符"
    assert client.get("/v1/jobs").json()["error"] == "organisation_not_active"


def test_suspension_stops_every_session_and_token_at_once_and_changes_no_money(
    world: World,
) -> None:
    city = world.city
    fund(world.app, city.enterprise_id, 50_000)
    world.add_user(city.enterprise, "ent.ops", "member")
    client, _ = world.sign_in("ent.ops")
    balances = city.get(city.operator, f"/v1/wallets/{city.enterprise_id}/balances").json()
    suspend = city.post(
        city.operator, f"/v1/organisations/{city.enterprise_id}/suspend", {"reason": "欠费"}
    )
    assert suspend.status_code == 200 and suspend.json()["state"] == "suspended"
    stopped = city.get(city.enterprise, "/v1/jobs")
    assert stopped.status_code == 403 and stopped.json()["error"] == "organisation_not_active"
    assert client.get("/v1/auth/me").status_code == 401  # its sessions ended
    assert login(world.client(), "ent.ops", PASSWORD).json()["error"] == "organisation_not_active"
    assert city.get(city.operator, f"/v1/wallets/{city.enterprise_id}/balances").json() == balances
    assert city.post(city.operator, f"/v1/organisations/{city.enterprise_id}/reinstate", None)
    assert city.get(city.enterprise, "/v1/jobs").status_code == 200


def test_agencies_are_created_by_the_operator_only(world: World) -> None:
    city = world.city
    body = {
        "name": "某区经信局",
        "kind": "agency",
        "credit_code": credit_code("11330100002XXXXX0"),
        "admin": {"login": "jxj.admin", "display_name": "经信局管理员", "password": PASSWORD},
    }
    assert city.post(city.enterprise, "/v1/organisations", body).status_code == 403
    made = city.post(city.operator, "/v1/organisations", body)
    assert made.status_code == 201 and made.json()["organisation"]["state"] == "active"
    _, signed = world.sign_in("jxj.admin")
    assert (signed["user"]["org_kind"], signed["user"]["role"]) == ("agency", "admin")
    again = city.post(city.operator, "/v1/organisations", {**body, "name": "另一个局"})
    assert again.status_code == 409 and again.json()["field"] == "credit_code"


# -- the audit log's API ------------------------------------------------------------------


def test_every_write_is_in_the_chain_with_who_what_and_where(world: World) -> None:
    city = world.city
    headers = {**city.headers(city.operator), "X-Request-ID": "req-audit-1"}
    pool = city.client.patch(f"/v1/pools/{city.pool_id}", json={"price_fen_per_card_hour": 4000},
                             headers=headers)  # fmt: skip
    assert pool.status_code == 200 and pool.headers["x-request-id"] == "req-audit-1"
    entry = city.get(city.operator, "/v1/audit", params={"action": "pool.update"}).json()["items"][
        0
    ]
    assert entry["object"] == city.pool_id and entry["request_id"] == "req-audit-1"
    assert entry["before"] == {"price_fen_per_card_hour": 3600}
    assert entry["after"] == {"price_fen_per_card_hour": 4000}
    assert entry["credential"].startswith("token:tok_") and entry["client_address"]
    verify = city.get(city.operator, "/v1/audit/verify").json()
    assert verify["ok"] and verify["entries"] == verify["head_seq"] >= 7
    assert city.client.app.state.unaudited_writes == []  # type: ignore[attr-defined]


def test_each_organisation_sees_its_own_entries_and_those_about_it(world: World) -> None:
    city = world.city
    program = city.post(city.agency, "/v1/vouchers/programs", _program()).json()["id"]
    applied = city.post(
        city.enterprise,
        f"/v1/vouchers/programs/{program}/applications",
        {
            "is_sme": True,
            "region": "浙江/杭州/余杭",
            "founded_on": "2020-01-01",
            "requested_fen": 100,
        },
    )
    assert applied.status_code == 201, applied.text
    seen = {
        name: {e["action"] for e in city.get(token, "/v1/audit").json()["items"]}
        for name, token in (
            ("agency", city.agency),
            ("enterprise", city.enterprise),
            ("other", city.other_enterprise),
            ("operator", city.operator),
        )
    }
    assert {"voucher.program_create", "voucher.apply"} <= seen["agency"]
    assert (
        "voucher.apply" in seen["enterprise"] and "voucher.program_create" not in seen["enterprise"]
    )
    assert "voucher.apply" not in seen["other"]
    assert seen["operator"] >= seen["agency"] | seen["enterprise"]


def test_the_export_is_csv_or_xlsx_in_chain_order(world: World) -> None:
    city = world.city
    reply = city.get(city.operator, "/v1/audit/export", params={"format": "csv"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0][:3] == ["seq", "at", "actor_id"]
    assert [int(row[0]) for row in rows[1:]] == list(range(1, len(rows)))
    xlsx = city.get(city.operator, "/v1/audit/export", params={"format": "xlsx"})
    assert xlsx.content[:2] == b"PK"
    assert city.get(city.operator, "/v1/audit/export", params={"format": "pdf"}).status_code == 422


def test_a_kept_head_is_checked(world: World) -> None:
    city = world.city
    head = city.get(city.agency, "/v1/audit/head").json()
    city.post(city.operator, "/v1/organisations", {"name": "later", "kind": "enterprise"})
    good = city.get(city.agency, "/v1/audit/verify", params=head).json()
    assert good["ok"] and good["head_seq"] == head["seq"] + 1
    forged = city.get(city.agency, "/v1/audit/verify", params={**head, "hash": "0" * 64}).json()
    assert not forged["ok"] and forged["problem"]["seq"] == head["seq"]


def _program() -> dict[str, Any]:
    from tests.e2e.test_api_vouchers import hangzhou

    return hangzhou()


def test_a_write_that_forgets_its_audit_entry_is_caught(world: World) -> None:
    """The net under "every write appends an entry": a route that changes rows and queues no
    entry is recorded (and the fuzz test, which calls every operation, requires none)."""
    city = world.city
    forgetful = APIRouter()

    @forgetful.post("/v1/forgetful")
    def forget(session: DbSession) -> dict[str, str]:
        pool = session.get(PoolRow, city.pool_id)
        assert pool is not None
        pool.name = "renamed quietly"
        return {"ok": "yes"}

    city.client.app.include_router(forgetful)  # type: ignore[attr-defined]
    assert TestClient(city.client.app).post("/v1/forgetful").status_code == 200
    kept = city.client.app.state.unaudited_writes  # type: ignore[attr-defined]
    assert kept == ["POST /v1/forgetful changed ['pools']"]


def test_a_password_too_long_is_refused_naming_the_real_limit(world: World) -> None:
    body = {"login": "long.pw", "display_name": "x", "role": "member", "password": "Aa1!" * 50}
    headers = {**world.city.headers(world.city.enterprise), "Accept-Language": "en"}
    reply = world.city.client.post("/v1/users", json=body, headers=headers)
    assert (reply.status_code, reply.json()["field"]) == (422, "password"), reply.text
    assert "128" in reply.json()["message"] and "129" not in reply.json()["message"]
    past_any_bound = world.city.client.post(
        "/v1/users", json={**body, "password": "a" * 2_000}, headers=headers
    )
    assert past_any_bound.status_code == 422 and "1024" in past_any_bound.json()["message"]
