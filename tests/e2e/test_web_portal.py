"""The web portal in real Chromium against a real `suanli serve` on PostgreSQL: every page in
both languages with axe-core, and each journey end to end as a visitor or user clicks it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from suanli.adapters.db.migrate import upgrade
from suanli.domain.calendar import BEIJING
from tests.e2e.portal import (
    LANGUAGES,
    PASSWORD,
    Seeded,
    check_page,
    chromium,
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
