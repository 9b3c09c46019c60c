"""The web portal in real Chromium against a real `suanli serve` on PostgreSQL: every page in
both languages with axe-core, and each journey end to end as a visitor or user clicks it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from suanli.adapters.db.migrate import upgrade
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
    return {
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
