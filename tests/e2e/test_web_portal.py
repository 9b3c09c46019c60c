"""The web portal in real Chromium against a real `suanli serve` on PostgreSQL: every page in
both languages with axe-core, and each journey end to end as a visitor or user clicks it."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from suanli.adapters.db.migrate import upgrade
from suanli.cli.bench_dashboard import DRAWN
from suanli.domain.calendar import BEIJING
from tests.e2e.portal import (
    CANVAS_RECORDER,
    LANGUAGES,
    LOCALES,
    PASSWORD,
    Seeded,
    check_page,
    chromium,
    drawn_on,
    new_page,
    require_browser,
    screenshot,
    serving,
    sign_in,
)
from tests.helpers import build_city, fund, make_app

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PUBLIC_PAGES = {"overview": "/", "market": "/market", "programs": "/programs", "scenes": "/scenes"}


@pytest.fixture(scope="module")
def portal(postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    require_browser()
    schema = f"web_{secrets.token_hex(4)}"
    engine = sa.create_engine(postgres_admin_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{postgres_admin_url}?options=-csearch_path%3D{schema}"
    upgrade(url)
    tmp = tmp_path_factory.mktemp("portal")
    app = make_app(tmp, database_url=url)
    try:
        seeded = _seed(app)
        with serving(tmp / "data", url) as base:
            yield Seeded(url=base, **seeded)
    finally:
        app.close()
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _program_body() -> dict[str, Any]:
    today = datetime.now(BEIJING).date()
    return {
        "name": "杭州市算力券（国产）",
        "category": "compute",
        "budget_fen": 100_000_000,
        "valid_from": (today - timedelta(days=1)).isoformat(),
        "valid_until": (today + timedelta(days=300)).isoformat(),
        "base_ratio": "0.3",
        "tiers": [{"ratio": "0.5", "domestic": True, "label": "国产"}],
        "cap_per_enterprise_fen": 10_000_000,
    }


def _seed(app: Any) -> dict[str, str]:
    """The helpers' city (an H100 pool), plus an Ascend pool and an enterprise user."""
    city = build_city(app)
    other_provider = city.get(city.other_provider, "/v1/me").json()["org_id"]
    ascend = city.post(
        city.operator,
        "/v1/pools",
        {
            "name": "昇腾 910B 训练池",
            "accelerator_model": "Ascend-910B",
            "nodes": 2,
            "cards_per_node": 8,
            "region": "浙江/杭州/滨江",
            "price_fen_per_card_hour": 1850,
            "provider_id": other_provider,
        },
    )
    assert ascend.status_code == 201, ascend.text
    user = {
        "login": "ent.li",
        "display_name": "李工",
        "role": "admin",
        "password": PASSWORD,
        "org_id": city.enterprise_id,
    }
    assert city.post(city.operator, "/v1/users", user).status_code == 201
    for login, token in (("prov.li", city.provider), ("op.li", city.operator)):  # other consoles
        org_id = city.get(token, "/v1/me").json()["org_id"]
        other = {**user, "login": login, "display_name": login, "org_id": org_id}
        assert city.post(city.operator, "/v1/users", other).status_code == 201
    fund(app, city.enterprise_id)
    program = city.post(city.agency, "/v1/vouchers/programs", _program_body())
    assert program.status_code == 201, program.text
    funding = {"amount_fen": 10_000_000, "external_reference": "财政拨款-portal"}
    path = f"/v1/vouchers/programs/{program.json()['id']}/funding"
    assert city.post(city.agency, path, funding).status_code == 201
    return {
        "program_id": program.json()["id"],
        "operator": city.operator,
        "enterprise": city.enterprise,
        "enterprise_id": city.enterprise_id,
        "agency": city.agency,
        "ascend_pool_id": ascend.json()["id"],
        "h100_pool_id": city.pool_id,
    }


@pytest.fixture(scope="module")
def browser(portal: Seeded) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_public_page_speaks_the_language_and_passes_axe(
    portal: Seeded, browser: Any, language: str
) -> None:
    page = new_page(browser, language)
    for name, path in PUBLIC_PAGES.items():
        page.goto(portal.url + path)
        page.wait_for_selector("h2")
        page.wait_for_load_state("networkidle")
        check_page(page, name, language)
        screenshot(page, name, language)
    page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_visitor_compares_two_pools_and_sees_the_apis_prices(
    portal: Seeded, browser: Any, language: str
) -> None:
    page = new_page(browser, language)
    page.goto(portal.url + "/market")
    chosen = []
    for pool_id in (portal.ascend_pool_id, portal.h100_pool_id):
        page.locator(f'tr[data-row-key="{pool_id}"] input[type=checkbox]').check()
        chosen.append(pool_id)
    page.get_by_test_id("compare").click()
    page.wait_for_url("**/market/compare?ids=*")
    page.wait_for_selector(f'[data-testid="compare-price-{portal.h100_pool_id}"]')
    check_page(page, "compare", language)
    screenshot(page, "compare", language)
    answer = httpx.get(f"{portal.url}/v1/public/pools", params={"ids": chosen}).json()
    assert {item["id"] for item in answer["items"]} == set(chosen)
    for item in answer["items"]:
        shown = page.inner_text(f'[data-testid="compare-price-{item["id"]}"]')
        fen = item["price_fen_per_card_hour"]
        assert shown == f"¥{fen // 100:,}.{fen % 100:02d}"
    page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_price_range_the_wrong_way_round_shows_the_apis_refusal_on_the_market_page(
    portal: Seeded, browser: Any, language: str
) -> None:
    refusal = httpx.get(
        f"{portal.url}/v1/public/pools",
        params={"price_min_fen": 3000, "price_max_fen": 1000},
        headers={"Accept-Language": language},
    )
    assert refusal.status_code == 422 and refusal.json()["field"] == "price_min_fen"
    message = refusal.json()["message"]
    page = new_page(browser, language)
    page.goto(portal.url + "/market")
    page.wait_for_selector(f'tr[data-row-key="{portal.ascend_pool_id}"]')
    page.locator("#price_min").fill("30")
    page.locator("#price_max").fill("10")
    page.locator("form button[type=submit]").click()
    alert = page.get_by_test_id("market-error")
    alert.wait_for()
    assert alert.inner_text().strip() == message
    marked = page.locator(".ant-form-item-has-error", has=page.locator("#price_min"))
    assert marked.locator(".ant-form-item-explain-error").inner_text() == message
    assert page.locator(".ant-form-item-has-error").count() == 1
    check_page(page, "market-refused", language)
    screenshot(page, "market-refused", language)
    page.context.close()


def test_the_catalogue_filters_on_the_server_and_hides_pool_internals(portal: Seeded) -> None:
    domestic = httpx.get(f"{portal.url}/v1/public/pools", params={"domestic": "true"}).json()
    assert [item["id"] for item in domestic["items"]] == [portal.ascend_pool_id]
    assert not {"backend", "connection_id", "labels"} & set(domestic["items"][0])
    cheap = httpx.get(f"{portal.url}/v1/public/pools", params={"price_max_fen": 2000}).json()
    assert [item["id"] for item in cheap["items"]] == [portal.ascend_pool_id]
    roomy = httpx.get(f"{portal.url}/v1/public/pools", params={"free_cards_min": 9}).json()
    assert [item["id"] for item in roomy["items"]] == [portal.ascend_pool_id]
    bad = httpx.get(
        f"{portal.url}/v1/public/pools",
        params={"ids": ["a", "b", "c", "d", "e"]},
        headers={"Accept-Language": "en"},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "ids"


def test_the_server_serves_the_portal_with_a_strict_csp_and_bundled_swagger(
    portal: Seeded,
) -> None:
    deep = httpx.get(f"{portal.url}/market/compare?ids=x")
    assert deep.status_code == 200 and '<div id="root">' in deep.text
    policy = deep.headers["content-security-policy"]
    assert (
        "script-src 'self'" in policy
        and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    docs = httpx.get(f"{portal.url}/docs")
    assert "/swagger/swagger-ui-bundle.js" in docs.text and "<script>" not in docs.text
    assert httpx.get(f"{portal.url}/swagger/swagger-ui-bundle.js").status_code == 200
    missing = httpx.get(f"{portal.url}/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["field"] == "path"
    schemes = httpx.get(f"{portal.url}/openapi.json").json()["components"]["securitySchemes"]
    assert {"bearer", "session"} <= set(schemes)


def test_the_portal_says_how_to_build_it_when_the_build_is_missing(tmp_path: Path) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from suanli.api.guards import RequestGuard
    from suanli.api.web import install_web

    api = FastAPI(docs_url=None, redoc_url=None)
    api.add_middleware(RequestGuard)
    install_web(api, static_dir=tmp_path / "absent")
    client = TestClient(api)
    chinese = client.get("/")
    english = client.get("/market", headers={"Accept-Language": "en"})
    assert (
        chinese.status_code == 503 and "make web" in chinese.text and "门户尚未构建" in chinese.text
    )
    assert "The web portal is not built" in english.text and "门户" not in english.text
    assert "make web" in client.get("/docs").text


CONSOLE_PAGES = {
    "home": "/console/home",
    "submit": "/console/submit",
    "jobs": "/console/jobs",
    "wallet": "/console/wallet",
    "vouchers": "/console/vouchers",
    "scenes": "/console/scenes",
}


def _granted(portal: Seeded) -> dict[str, Any]:
    """The enterprise's grant in the seeded program (applied and approved through the API
    when the browser test of the voucher journey has not run first)."""
    grants = portal.api(portal.enterprise, "GET", "/v1/vouchers/grants")["items"]
    if grants:
        return dict(grants[0])
    facts = {"is_sme": True, "region": "浙江/杭州/余杭", "founded_on": "2021-03-01"}
    path = f"/v1/vouchers/programs/{portal.program_id}/applications"
    applied = portal.api(portal.enterprise, "POST", path, {**facts, "requested_fen": 500_000})
    approve = f"/v1/vouchers/applications/{applied['id']}/approve"
    return dict(portal.api(portal.agency, "POST", approve, {"quota_fen": 500_000}))


def test_an_enterprise_applies_for_a_voucher_and_sees_its_grant_once_approved(
    portal: Seeded, browser: Any
) -> None:
    page = new_page(browser, "zh-CN")
    sign_in(page, portal.url, "ent.li")
    page.goto(portal.url + "/console/vouchers")
    page.get_by_test_id(f"apply-{portal.program_id}").click()
    page.fill("#region", "浙江/杭州/余杭")
    page.fill("#founded_on", "2021-03-01")
    page.keyboard.press("Enter")
    page.fill("#requested_yuan", "99999999")  # over the program's cap: the server refuses
    page.click(".ant-modal-footer .ant-btn-primary")
    field_error = page.locator("#requested_yuan_help")
    field_error.wait_for()
    assert field_error.inner_text().strip()
    page.fill("#requested_yuan", "5000")
    page.click(".ant-modal-footer .ant-btn-primary")
    page.locator(".ant-modal").wait_for(state="hidden")
    applications = portal.api(portal.enterprise, "GET", "/v1/vouchers/applications")["items"]
    assert [a["requested_fen"] for a in applications] == [500_000]
    approve = f"/v1/vouchers/applications/{applications[0]['id']}/approve"
    portal.api(portal.agency, "POST", approve, {"quota_fen": 400_000})
    page.get_by_role("tab").nth(2).click()
    page.get_by_test_id("grant-quota").filter(has_text="¥4,000.00").wait_for(timeout=15_000)
    check_page(page, "vouchers", "zh-CN")
    page.context.close()


def test_an_enterprise_orders_an_ascend_pool_with_its_voucher_and_finds_the_subsidy_on_the_bill(
    portal: Seeded, browser: Any
) -> None:
    _granted(portal)
    page = new_page(browser, "zh-CN")
    sign_in(page, portal.url, "ent.li")
    page.goto(portal.url + "/market")
    page.get_by_test_id(f"order-{portal.ascend_pool_id}").click()
    page.wait_for_url("**/console/submit?accelerator=*")
    page.fill("#name", "昇腾微调")
    # Long and wide enough to cost some fen at ¥18.50 per card-hour, so half of it shows.
    page.fill("#command", "python3 -c \"import time; print('hello'); time.sleep(4)\"")
    page.fill("#cards", "8")
    page.fill("#max_run_time_h", "0.5")
    subsidy = page.get_by_test_id("grant-subsidy").first
    subsidy.wait_for(timeout=15_000)
    assert "杭州市算力券" in subsidy.inner_text()
    quote = portal.api(
        portal.enterprise,
        "POST",
        "/v1/jobs/quote",
        {
            "name": "q",
            "command": "true",
            "cards": 8,
            "max_run_time_s": 1800,
            "accelerators": ["Ascend-910B"],
        },
    )
    pays = quote["vouchers"][0]["enterprise_pays_fen"]
    assert 0 < pays < quote["max_fen"]
    assert page.get_by_test_id("you-pay").first.inner_text() == f"¥{pays // 100:,}.{pays % 100:02d}"
    check_page(page, "submit", "zh-CN")
    screenshot(page, "submit", "zh-CN")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/jobs/job_*")
    page.locator('[data-state="succeeded"]').wait_for(timeout=90_000)
    page.get_by_test_id("bill-subsidy").wait_for(timeout=30_000)
    assert page.get_by_test_id("bill-subsidy").inner_text() not in ("¥0.00", "")
    assert "hello" in page.get_by_test_id("log").inner_text()
    check_page(page, "job", "zh-CN")
    screenshot(page, "job", "zh-CN")
    page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_console_page_speaks_the_language_and_passes_axe(
    portal: Seeded, browser: Any, language: str
) -> None:
    page = new_page(browser, language)
    sign_in(page, portal.url, "ent.li")
    for name, path in CONSOLE_PAGES.items():
        page.goto(portal.url + path)
        page.wait_for_selector("h2")
        page.wait_for_load_state("networkidle")
        check_page(page, name, language)
        screenshot(page, f"console-{name}", language)
    page.context.close()


def test_the_language_choice_persists_and_the_api_answers_in_it_with_no_token_stored(
    portal: Seeded, browser: Any
) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(portal.url + "/sign-in")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.get_by_role("combobox").first.click()
    page.locator(".ant-select-item-option", has_text="English").click()
    page.reload()
    page.wait_for_selector("#login")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.fill("#login", "ent.li")
    page.fill("#password", "not-the-password-1")
    page.click("button[type=submit]")
    refusal = page.locator("#password_help, #login_help, .ant-alert").first  # by its field
    refusal.wait_for()
    text = refusal.inner_text()
    assert text.strip() and not any("\u4e00" <= ch <= "\u9fff" for ch in text), text
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/**")
    stored = page.evaluate("() => Object.keys(window.localStorage)")
    assert stored == ["suanli.language"]
    cookie = next(c for c in context.cookies() if c["name"] == "suanli_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    context.close()


# ---------------------------------------------------------------- who may open which console

# A page of each console (the enterprise's, the provider's, the agency's, the operator's).
CONSOLE_KINDS = {
    "enterprise": ["/console/home", "/console/wallet", "/console/jobs/job_0"],
    "provider": ["/console/provider/pools", "/console/provider/money"],
    "agency": ["/console/agency/programs", "/console/agency/review"],
    "operator": ["/console/operator/organisations", "/console/operator/money"],
}
KIND_LOGINS = {"enterprise": "ent.li", "provider": "prov.li", "operator": "op.li"}


def words(language: str) -> dict[str, Any]:
    return dict(json.loads((LOCALES / f"{language}.json").read_text(encoding="utf-8")))


def api_calls(page: Any) -> list[str]:
    """The API requests the page makes from now on, but for who-am-I and the public ones."""
    calls: list[str] = []

    def note(request: Any) -> None:
        path = request.url.split("://", 1)[1].split("/", 1)[1]
        if path.startswith("v1/") and not path.startswith(("v1/auth/me", "v1/public/")):
            calls.append(f"{request.method} /{path}")

    page.on("request", note)
    return calls


def test_every_console_page_sends_a_visitor_to_sign_in_and_back_after(
    portal: Seeded, browser: Any
) -> None:
    page = new_page(browser, "zh-CN")
    calls = api_calls(page)
    for path in [path for paths in CONSOLE_KINDS.values() for path in paths]:
        page.goto(portal.url + path)
        page.wait_for_url("**/sign-in?next=*")
        page.wait_for_selector("#login")
    assert not calls, f"a console page called the API with no session: {calls}"
    page.fill("#login", "ent.li")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/home")  # the last page asked for is not its kind: its own
    page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_console_tells_a_user_of_another_kind_so_and_calls_nothing(
    portal: Seeded, browser: Any, language: str
) -> None:
    said = words(language)["consoles"]
    for kind, login in KIND_LOGINS.items():
        page = new_page(browser, language)
        sign_in(page, portal.url, login)
        page.goto(portal.url + "/console")  # the console's front door: the user's own
        page.wait_for_url(f"**{CONSOLE_KINDS[kind][0]}*")
        page.wait_for_load_state("networkidle")
        calls = api_calls(page)
        for owner, paths in CONSOLE_KINDS.items():
            if owner == kind:
                continue
            for path in paths:
                page.goto(portal.url + path)
                refusal = page.get_by_test_id("not-allowed")
                refusal.wait_for()
                text = refusal.inner_text()
                assert said["notAllowed"]["title"] in text
                assert said["kind"][owner] in text and said["kind"][kind] in text, text
        page.wait_for_load_state("networkidle")
        assert not calls, f"{login} on other consoles' pages called the API: {calls}"
        check_page(page, f"not-allowed-{kind}", language)
        page.get_by_role("button", name=said["notAllowed"]["home"]).click()
        page.wait_for_url(f"**{CONSOLE_KINDS[kind][0]}")
        page.context.close()


# ---------------------------------------------------------------- a session ended elsewhere


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_session_ended_elsewhere_drops_the_cached_pages_for_the_sign_in_page_and_its_reason(
    portal: Seeded, browser: Any, language: str
) -> None:
    page = new_page(browser, language)
    sign_in(page, portal.url, "ent.li")
    page.goto(portal.url + "/console/jobs")
    page.wait_for_selector("h2")
    page.wait_for_load_state("networkidle")
    with httpx.Client(base_url=portal.url) as elsewhere:  # another browser, the same user
        signed = elsewhere.post("/v1/auth/login", json={"login": "ent.li", "password": PASSWORD})
        token = signed.json()["csrf_token"]
        ended = elsewhere.post("/v1/auth/sign-out-everywhere", headers={"X-CSRF-Token": token})
        assert ended.status_code == 200, ended.text
    page.locator('aside a[href="/console/wallet"]').click()
    page.wait_for_url("**/sign-in?reason=credential_revoked*")
    notice = page.get_by_test_id("session-ended")
    notice.wait_for()
    said = words(language)
    assert notice.inner_text().strip() == said["signIn"]["ended"]["credential_revoked"]
    header = page.locator("header").inner_text()
    assert said["nav"]["signIn"].replace(" ", "") in header.replace(" ", "")
    assert said["nav"]["signOut"].replace(" ", "") not in header.replace(" ", "")
    check_page(page, "session-ended", language)
    page.fill("#login", "ent.li")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/wallet")  # back where the user was going
    page.context.close()


# ---------------------------------------------------------------- the words on money pages


def _statement_line(index: int, code: str, hold_state: str | None) -> dict[str, Any]:
    return {
        "id": f"line-{index}",
        "timestamp": "2026-12-06T05:30:00Z",
        "code": code,
        "reference": f"ref-{index}",
        "memo": "",
        "amount_fen": 6_000,
        "signed_fen": 0 if hold_state else 6_000,
        "hold_state": hold_state,
        "direction": "credit",
        "flags": 1 if hold_state else 0,
        "currency": "CNY",
        "debit_account_id": "acc_a",
        "credit_account_id": "acc_b",
        "pending_id": None,
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_wallet_statement_names_every_kind_of_movement_and_hold_in_the_language(
    portal: Seeded, browser: Any, language: str
) -> None:
    """Every transfer code the ledger writes, and every state a hold is in, shown as words
    of the reader's language (the statement's lines are the server's, rewritten in the page
    to hold one of each)."""
    from suanli.adapters.db.tables_ledger import HOLD_STATES_SQL
    from suanli.domain.ledger import TransferCode

    codes = [code.name.lower() for code in TransferCode]
    holds = [state.strip("'") for state in HOLD_STATES_SQL.split(",")]
    lines = [_statement_line(i, code, None) for i, code in enumerate(codes)]
    lines += [_statement_line(len(codes) + i, "job_hold", s) for i, s in enumerate(holds)]
    page = new_page(browser, language)
    page.route(
        "**/v1/wallets/*/statement?*",
        lambda route: route.fulfill(
            json={"items": lines, "total": len(lines), "offset": 0, "limit": 100}
        ),
    )
    sign_in(page, portal.url, "ent.li")
    page.goto(portal.url + "/console/wallet")
    page.get_by_test_id("statement-kind").first.wait_for()
    ledger = words(language)["ledger"]
    kinds = page.get_by_test_id("statement-kind").all_inner_texts()
    assert kinds == [ledger["codes"][line["code"]] for line in lines]
    amounts = page.get_by_test_id("statement-amount").all_inner_texts()[len(codes) :]
    for state, amount in zip(holds, amounts, strict=True):
        assert amount == ledger["heldAmount"].replace("{{amount}}", "¥60.00").replace(
            "{{state}}", ledger["holdStates"][state]
        )
    check_page(page, "wallet-words", language)
    page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_voucher_pages_name_the_program_and_say_the_grants_state(
    portal: Seeded, browser: Any, language: str
) -> None:
    grant = _granted(portal)
    name = portal.api(portal.enterprise, "GET", f"/v1/vouchers/programs/{portal.program_id}")[
        "name"
    ]
    page = new_page(browser, language)
    sign_in(page, portal.url, "ent.li")
    page.goto(portal.url + "/console/vouchers")
    page.get_by_role("tab").nth(1).click()
    applied = page.get_by_role("tabpanel").locator("tr.ant-table-row").first  # the shown tab's
    applied.filter(has_text=name).wait_for()
    assert portal.program_id not in applied.inner_text()
    page.get_by_role("tab").nth(2).click()
    state = page.get_by_test_id("grant-state").first
    state.wait_for()
    assert grant["state"] == "active"
    assert state.inner_text() == words(language)["vouchers"]["grantStates"]["active"]
    check_page(page, "vouchers-grants", language)
    page.context.close()


# ---------------------------------------------------------------- failures in words


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_failed_request_shows_the_apis_message_or_the_portals_own_never_a_javascript_error(
    portal: Seeded, browser: Any, language: str
) -> None:
    said = words(language)["errors"]
    page = new_page(browser, language)
    shown = page.get_by_test_id("page-error")

    page.route("**/v1/public/overview*", lambda route: route.abort())
    page.goto(portal.url + "/")
    shown.wait_for(timeout=20_000)
    assert shown.inner_text().strip() == said["network"]
    page.unroute("**/v1/public/overview*")
    page.route(
        "**/v1/public/overview*",
        lambda route: route.fulfill(status=502, body="<html>Bad Gateway</html>"),
    )
    page.goto(portal.url + "/")
    shown.wait_for(timeout=20_000)
    assert shown.inner_text().strip() == said["server"].replace("{{status}}", "502")
    check_page(page, "overview-failed", language)

    refusal = {"error": "internal", "message": "比较失败" if language == "zh-CN" else "failed"}
    page.route("**/v1/public/pools?*", lambda route: route.fulfill(status=500, json=refusal))
    for ids in (
        f"ids={portal.h100_pool_id}&ids={portal.ascend_pool_id}",  # the parameter repeated
        f"ids={portal.h100_pool_id},{portal.ascend_pool_id}",  # as the market links it
    ):
        page.goto(f"{portal.url}/market/compare?{ids}")
        shown.wait_for(timeout=20_000)
        assert shown.inner_text().strip() == refusal["message"]

    sign_in(page, portal.url, "ent.li")
    missing = httpx.get(
        f"{portal.url}/v1/jobs/job_nope",
        headers={"Authorization": f"Bearer {portal.enterprise}", "Accept-Language": language},
    )
    assert missing.status_code == 404
    page.goto(portal.url + "/console/jobs/job_nope")
    shown.wait_for()
    assert shown.inner_text().strip() == missing.json()["message"]
    page.context.close()


# ---------------------------------------------------------------- long names, narrow columns


def test_long_names_are_cut_in_their_cells_and_the_header_keeps_its_height(
    portal: Seeded, browser: Any
) -> None:
    """A 200-character display name, a 120-character job name and a 200-character bank
    reference, none with a space to break at: the header stays 64 px with its menu, and
    the tables keep their state and amount columns in view (no sideways scroll)."""
    login = f"long{secrets.token_hex(2)}"
    name = "显" * 200
    registered = portal.api(
        portal.operator,
        "POST",
        "/v1/organisations",
        {
            "name": f"长名企业 {login}",
            "kind": "enterprise",
            "region": "浙江/杭州",
            "admin": {"login": login, "password": PASSWORD, "display_name": name},
        },
    )
    org_id, token = registered["organisation"]["id"], registered["token"]
    reference = "R" * 200
    top_up = {"amount_fen": 1_000_000, "external_reference": reference}
    portal.api(portal.operator, "POST", f"/v1/wallets/{org_id}/top-ups", top_up)
    job = {"name": "W" * 120, "command": "true", "cards": 1, "max_run_time_s": 60}
    portal.api(token, "POST", "/v1/jobs", job)

    page = new_page(browser, "en")
    sign_in(page, portal.url, login)
    header = page.locator("header")
    assert header.bounding_box()["height"] == 64
    said = words("en")["nav"]
    menu = [
        item.inner_text() for item in header.locator(".ant-menu-item").all() if item.is_visible()
    ]
    assert menu == [said[page] for page in PUBLIC_PAGES]  # the whole menu, none of it folded
    shown = page.get_by_test_id("user-name")
    assert shown.bounding_box()["width"] <= 200
    width = page.viewport_size["width"]
    for path, long_text, column in (
        ("/console/jobs", "W" * 120, '[data-testid="job-state"]'),
        ("/console/wallet", reference, '[data-testid="statement-amount"]'),
    ):
        page.goto(portal.url + path)
        row = page.locator("tbody tr", has_text=long_text)
        row.wait_for()
        box = row.locator(column).bounding_box()
        assert box and box["x"] + box["width"] <= width, f"{path}: {column} at {box}"
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{path} scrolls sideways by {overflow} px"
        check_page(page, f"long-{path.rsplit('/', 1)[-1]}", "en")
    page.context.close()


# ---------------------------------------------------------------- the live quote, paged


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_live_quote_pages_its_pools_says_how_many_and_fits_the_page(
    portal: Seeded, browser: Any, language: str
) -> None:
    """The API lists at most 50 pools (the cheapest) and counts them all: ten rows a page,
    'showing 50 of 1,054', and every price column inside the page, even beside a voucher
    program with a long name (the answer is rewritten in the page to be that large)."""
    pools: list[dict[str, Any]] = [
        {
            "pool_id": f"pool_{index:04d}",
            "pool": f"批量算力池-{index:04d}",
            "accelerator": "H100-SXM",
            "region": "浙江/杭州/余杭",
            "price_fen_per_card_hour": 100 + index,
            "max_cost_fen": 100 + index,
        }
        for index in range(50)
    ]
    grant = {
        "grant_id": "vgr_1",
        "program_id": "vpr_1",
        "program_name": "杭州市算力券" * 12,
        "subsidy_fen": 30,
        "note": "",
    }
    subsidies = [
        {
            "pool_id": p["pool_id"],
            "amount_fen": p["max_cost_fen"],
            "grants": [grant],
            "enterprise_pays_fen": p["max_cost_fen"] - 30,
        }
        for p in pools
    ]
    quote = {
        "feasible_pools": pools,
        "feasible_pools_total": 1054,
        "min_fen": 100,
        "max_fen": 9_999,
        "reasons": [],
        "vouchers": subsidies,
    }
    page = new_page(browser, language)
    page.route("**/v1/jobs/quote", lambda route: route.fulfill(json=quote))
    sign_in(page, portal.url, "ent.li")
    page.goto(portal.url + "/console/submit")
    page.fill("#name", "quoted")
    card = page.get_by_test_id("quote")
    card.locator("tr.ant-table-row").first.wait_for()
    assert card.locator("tr.ant-table-row").count() == 10
    showing = words(language)["submit"]["showing"]
    assert page.get_by_test_id("quote-showing").inner_text() == showing.replace(
        "{{shown}}", "50"
    ).replace("{{total}}", "1,054")
    assert page.get_by_test_id("pools-total").inner_text() == "1,054"
    width = page.viewport_size["width"]
    card_box = card.bounding_box()
    assert card_box["x"] + card_box["width"] <= width
    for pay in page.get_by_test_id("you-pay").all():
        box = pay.bounding_box()
        assert box["x"] + box["width"] <= card_box["x"] + card_box["width"], box
    card.locator(".ant-pagination-item-2").click()
    card.locator("tbody tr", has_text="批量算力池-0010").wait_for()
    check_page(page, "submit-quote-paged", language)
    page.context.close()


# ---------------------------------------------------------------- small things on public pages


def test_the_documents_title_follows_the_language(portal: Seeded, browser: Any) -> None:
    page = new_page(browser, "zh-CN")
    page.goto(portal.url + "/market")
    page.wait_for_selector("h2")
    assert page.title() == words("zh-CN")["documentTitle"]
    page.get_by_role("combobox").first.click()
    page.locator(".ant-select-item-option", has_text="English").click()
    page.wait_for_function("(title) => document.title === title", arg=words("en")["documentTitle"])
    page.context.close()
    page = new_page(browser, "en")  # a page loaded in English (index.html's title is Chinese)
    page.goto(portal.url + "/programs")
    page.wait_for_selector("h2")
    assert page.title() == words("en")["documentTitle"]
    page.context.close()


def test_a_scene_published_without_its_organisation_starts_with_no_separator(
    portal: Seeded, browser: Any
) -> None:
    item = {
        "id": "OPP-1",
        "kind": "opportunities",
        "org": "",
        "title": "质检视觉",
        "description": "产线缺陷检测",
        "industry": "智能制造",
        "tags": [],
        "region": "浙江/杭州",
        "status": "open",
        "extra": {},
        "created_at": "2026-12-06T05:30:00Z",
    }
    page = new_page(browser, "zh-CN")
    page.route(
        "**/v1/public/scenes/opportunities?*",
        lambda route: route.fulfill(json={"items": [item], "total": 1, "offset": 0, "limit": 20}),
    )
    page.goto(portal.url + "/scenes")
    facts = page.locator(".ant-list-item-meta-description").first
    facts.wait_for()
    assert facts.inner_text().strip() == "智能制造 · 浙江/杭州"
    page.context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_dashboards_count_charts_mark_whole_numbers_only(
    portal: Seeded, browser: Any, language: str
) -> None:
    """With one or two jobs and cards, ECharts would mark 0.2, 0.4…: the two count charts
    (cards by vendor, jobs by state) draw whole-number ticks only."""

    def small(route: Any) -> None:
        board = route.fetch().json()
        board["jobs_by_state"] = {state: 0 for state in board["jobs_by_state"]}
        board["jobs_by_state"].update(succeeded=1, failed=2)
        board["vendors"] = [
            {"vendor": "Huawei", "domestic": True, "pools": 1, "cards": 2, "busy_cards": 1}
        ]
        route.fulfill(json=board)

    page = new_page(browser, language)
    page.context.add_init_script(CANVAS_RECORDER)
    page.route("**/v1/public/dashboard?*", small)
    page.goto(portal.url + "/dashboard")
    page.wait_for_function(DRAWN)
    charts = page.locator("div[role=img]")
    for index in (0, 3):  # cards by vendor, jobs by state
        ticks = [t["text"] for t in drawn_on(charts.nth(index))["texts"]]
        numbers = [text for text in ticks if re.fullmatch(r"[\d.,]+", text)]
        assert numbers and all("." not in n for n in numbers), f"chart {index}: {ticks}"
    page.context.close()


def test_a_scenes_industry_is_named_in_the_language_and_follows_a_switch(
    portal: Seeded, browser: Any
) -> None:
    """An industry is the platform's vocabulary: the English page names 智能制造 "smart
    manufacturing", and choosing 中文 names it again in Chinese, with no reload (the answers
    the server worded are asked for again in the new language)."""
    item = {"id": "OPP-LANG", "title": "weld grading", "industry": "智能制造", "org": "Acme"}
    created = httpx.post(
        f"{portal.url}/v1/scenes/opportunities",
        json=item,
        headers={"Authorization": f"Bearer {portal.agency}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    page = new_page(browser, "en")
    page.goto(portal.url + "/scenes")
    facts = page.locator(".ant-list-item", has_text="weld grading").locator(
        ".ant-list-item-meta-description"
    )
    facts.wait_for()
    assert facts.inner_text().strip() == "Acme · smart manufacturing"
    page.get_by_role("combobox").first.click()
    page.locator(".ant-select-item-option", has_text="中文").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.ant-list-item-meta-description')]"
        ".some((node) => node.textContent.trim() === 'Acme · 智能制造')"
    )
    page.context.close()
