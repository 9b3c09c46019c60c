"""The provider, agency and operator consoles and the city dashboard in real Chromium, against
a real `suanli serve` on PostgreSQL (and, for the provider's journey, a real one-node Slurm
cluster): every page in both languages with axe-core, and each role's journey end to end."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from suanli.adapters.db.migrate import upgrade
from suanli.cli.bench_dashboard import DRAWN
from suanli.domain.identity import credit_code_check_character
from tests.conftest import require_component
from tests.e2e.portal import (
    CANVAS_RECORDER,
    LANGUAGES,
    LOCALES,
    PASSWORD,
    check_page,
    chromium,
    drawn_on,
    new_page,
    require_browser,
    screenshot,
    serving,
    texts_cut_or_outside,
)
from tests.helpers import build_city, fund, make_app, python_command

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.slurm]

ROLE_PAGES = {
    "provider": {
        "provider-pools": "/console/provider/pools",
        "provider-connections": "/console/provider/connections",
        "provider-jobs": "/console/provider/jobs",
        "provider-money": "/console/provider/money",
    },
    "agency": {
        "agency-programs": "/console/agency/programs",
        "agency-review": "/console/agency/review",
        "agency-report": "/console/agency/report",
        "agency-opportunities": "/console/agency/opportunities",
        "agency-challenges": "/console/agency/challenges",
    },
    "operator": {
        "operator-organisations": "/console/operator/organisations",
        "operator-connections": "/console/operator/connections",
        "operator-money": "/console/operator/money",
        "operator-ledger": "/console/operator/ledger",
    },
}
LOGINS = {
    "provider": "prov.wang",
    "agency": "agency.zhao",
    "operator": "op.chen",
    "enterprise": "ent.qian",
}
WAIT_S_MAX = 90
SCENES = Path(__file__).parents[2] / "src" / "suanli" / "data" / "scenes"


@dataclass
class Consoles:
    url: str
    database_url: str
    operator: str  # API tokens, for what the journeys do outside the consoles
    provider: str
    provider_id: str
    enterprise: str
    enterprise_id: str
    agency: str
    ascend_pool_id: str
    slurm: Any  # tests.integration.clusters.SlurmCluster

    def api(self, token: str | None, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        reply = httpx.request(method, self.url + path, json=body, headers=headers, timeout=30)
        assert reply.status_code < 300, reply.text
        return reply.json() if reply.content else None


def _slurm_available() -> bool:
    daemons = all(shutil.which(name, path="/usr/sbin:/usr/bin") for name in ("slurmctld", "slurmd"))
    return daemons and Path("/etc/munge/munge.key").exists() and os.geteuid() == 0


@pytest.fixture(scope="module")
def consoles(
    postgres_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Consoles]:
    require_browser()
    require_component(_slurm_available(), "Slurm (slurmctld, slurmd, munge) as root")
    from tests.integration.clusters import slurm_cluster

    schema = f"web17_{secrets.token_hex(4)}"
    engine = sa.create_engine(postgres_admin_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{postgres_admin_url}?options=-csearch_path%3D{schema}"
    upgrade(url)
    tmp = tmp_path_factory.mktemp("consoles")
    app = make_app(tmp, database_url=url)
    try:
        seeded = _seed(app)
        with slurm_cluster(gpus=8, gres_type="h100") as slurm, serving(tmp / "data", url) as base:
            yield Consoles(url=base, database_url=url, slurm=slurm, **seeded)
    finally:
        app.close()
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _seed(app: Any) -> dict[str, str]:
    """The helpers' city, an Ascend pool of the provider (local: the operator lists it), and
    a user with a password for the provider, the agency and the operator."""
    city = build_city(app)
    ascend = city.post(
        city.operator,
        "/v1/pools",
        {
            "name": "昇腾 910B 训练池",
            "accelerator_model": "Ascend-910B",
            "nodes": 1,
            "cards_per_node": 8,
            "region": "浙江/杭州/滨江",
            "price_fen_per_card_hour": 360_000,
            "provider_id": city.provider_id,
        },
    )
    assert ascend.status_code == 201, ascend.text
    for kind, token in (
        ("provider", city.provider),
        ("agency", city.agency),
        ("operator", city.operator),
        ("enterprise", city.enterprise),
    ):
        org_id = city.get(token, "/v1/me").json()["org_id"]
        user = {
            "login": LOGINS[kind],
            "display_name": LOGINS[kind],
            "role": "admin",
            "password": PASSWORD,
            "org_id": org_id,
        }
        reply = city.post(city.operator, "/v1/users", user)
        assert reply.status_code == 201, reply.text
    fund(app, city.enterprise_id, 10_000_000)
    return {
        "operator": city.operator,
        "provider": city.provider,
        "provider_id": city.provider_id,
        "enterprise": city.enterprise,
        "enterprise_id": city.enterprise_id,
        "agency": city.agency,
        "ascend_pool_id": ascend.json()["id"],
    }


@pytest.fixture(scope="module")
def browser(consoles: Consoles) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def signed_in(browser: Any, consoles: Consoles, role: str, language: str) -> Any:
    """A page whose context holds the role's session cookie (signed in through the API, as
    the sign-in page does; part 1 tests the page itself)."""
    page = new_page(browser, language)
    reply = page.context.request.post(
        consoles.url + "/v1/auth/login", data={"login": LOGINS[role], "password": PASSWORD}
    )
    assert reply.ok, reply.text()
    return page


def wait_until(done: Callable[[], bool], what: str, timeout_s: float = WAIT_S_MAX) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout_s:g}s")


def yuan_text(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def choose(page: Any, field_id: str, text: str) -> None:
    """Picks an Ant Design Select option by typing its text (the options are searchable)."""
    field = page.locator(f"#{field_id}")
    field.click()
    if field.is_editable():
        field.fill(text)
    open_list = ".ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option"
    page.locator(open_list, has_text=text).first.click()


# ---------------------------------------------------------------- the provider's journey


def test_a_provider_lists_a_pool_from_the_catalogue_and_sees_a_job_run_and_its_receivable_grow(
    consoles: Consoles, browser: Any
) -> None:
    page = signed_in(browser, consoles, "provider", "zh-CN")
    slurm = consoles.slurm
    page.goto(consoles.url + "/console/provider/connections")
    page.locator("#connection_name").fill("杭州 Slurm")
    choose(page, "connection_kind", "Slurm")
    page.locator("#connection_address").fill(str(slurm.conf))
    for field, value in (
        ("partition", slurm.partition),
        ("gres_type", "h100"),
        ("log_dir", str(slurm.log_dir)),
        ("run_as", slurm.job_user),
    ):
        page.locator(f"#connection_{field}").fill(value)
    page.locator("form[id=connection] button[type=submit]").click()
    row = page.locator("tr", has_text="杭州 Slurm")
    row.wait_for()
    connection_id = row.get_attribute("data-row-key")
    consoles.api(consoles.operator, "POST", f"/v1/connections/{connection_id}/approve", {})
    page.locator(f'[data-testid="check-{connection_id}"]').click()
    page.wait_for_selector(f'[data-testid="health-{connection_id}"]:has-text("正常")')

    page.goto(consoles.url + "/console/provider/pools")
    choose(page, "pool_accelerator_model", "H100-SXM")
    page.locator("#pool_name").fill("H100 Slurm 池")
    choose(page, "pool_backend", "slurm")
    choose(page, "pool_connection_id", "杭州 Slurm")
    page.locator("#pool_region").fill("火星/奥林匹斯山")
    page.locator("#pool_price").fill("20.00")  # cheaper than the city's other H100 pool
    page.locator("form[id=pool] button[type=submit]").click()
    refusal = page.locator(".ant-form-item:has(#pool_region) .ant-form-item-explain-error")
    refusal.wait_for()  # the server's 422 names `region`: its message shows under the field
    assert "火星" in refusal.inner_text()
    page.locator("#pool_region").fill("浙江/杭州/余杭")
    page.locator("form[id=pool] button[type=submit]").click()
    page.locator("tr", has_text="H100 Slurm 池").wait_for()
    pools = consoles.api(consoles.provider, "GET", "/v1/pools?mine=true")["items"]
    (pool,) = [p for p in pools if p["name"] == "H100 Slurm 池"]
    assert (pool["backend"], pool["connection_id"]) == ("slurm", connection_id)

    before = receivable_fen(consoles)
    job = consoles.api(
        consoles.enterprise,
        "POST",
        "/v1/jobs",
        {
            "name": "slurm-train",
            "command": "echo trained; sleep 2",
            "cards": 1,
            "max_run_time_s": 120,
            "accelerators": ["H100-SXM"],
        },
    )
    page.goto(consoles.url + "/console/provider/jobs")
    page.wait_for_selector(f'tr[data-row-key="{job["id"]}"]')
    wait_until(
        lambda: "成功" in page.inner_text(f'tr[data-row-key="{job["id"]}"]'),
        "the job succeeded on screen",
    )
    assert consoles.api(consoles.provider, "GET", f"/v1/jobs/{job['id']}")["pool_id"] == pool["id"]
    after = receivable_fen(consoles)
    assert after > before
    page.goto(consoles.url + "/console/provider/money")
    page.wait_for_selector(f'[data-testid="receivable"]:has-text("{yuan_text(after)}")')
    kinds = page.locator("tr.ant-table-row td:nth-child(2)").all_inner_texts()
    words = json.loads((LOCALES / "zh-CN.json").read_text(encoding="utf-8"))["ledger"]["codes"]
    assert kinds and set(kinds) <= set(words.values()), kinds  # words, never codes (job_hold)
    page.context.close()


def receivable_fen(consoles: Consoles) -> int:
    balances = consoles.api(
        consoles.provider, "GET", f"/v1/wallets/{consoles.provider_id}/balances"
    )
    return sum(a["posted_fen"] for a in balances if a["kind"] == "provider_receivable")


# ---------------------------------------------------------------- the agency's journey


def test_an_agency_creates_a_two_tier_program_funds_it_approves_and_sees_the_report_change(
    consoles: Consoles, browser: Any
) -> None:
    page = signed_in(browser, consoles, "agency", "en")
    page.goto(consoles.url + "/console/agency/programs")
    name = f"Wuhu compute vouchers {secrets.token_hex(2)}"
    page.locator("#program_name").fill(name)
    page.locator("#program_budget").fill("100000.00")
    start, end = date.today() - timedelta(days=1), date.today() + timedelta(days=300)
    page.locator("#program_period").click()
    page.locator("#program_period").fill(start.isoformat())
    page.keyboard.press("Enter")
    page.locator(".ant-picker-range input").nth(1).fill(end.isoformat())
    page.keyboard.press("Enter")
    page.locator("#program_base_ratio_percent").fill("30")
    page.locator("#program_cap_per_enterprise").fill("5000.00")
    for index, (label, ratio) in enumerate((("SME", "50"), ("Domestic", "40"))):
        page.get_by_test_id("add-tier").click()
        page.locator(f"#program_tiers_{index}_label").fill(label)
        page.locator(f"#program_tiers_{index}_ratio_percent").fill(ratio)
    page.locator("#program_tiers_0_sme").check()
    choose(page, "program_tiers_1_domestic", "Domestic")
    page.locator("form[id=program] button[type=submit]").click()
    row = page.locator("tr", has_text=name)
    row.wait_for()
    program_id = row.get_attribute("data-row-key")
    program = consoles.api(consoles.agency, "GET", f"/v1/vouchers/programs/{program_id}")
    assert [tier["label"] for tier in program["rules"]["tiers"]] == ["SME", "Domestic"]

    page.get_by_test_id(f"fund-{program_id}").click()
    page.locator("#fund_amount").fill("10000.00")
    page.locator("#fund_external_reference").fill("Treasury 2026-017")
    page.locator(".ant-modal-footer .ant-btn-primary").click()
    wait_until(
        lambda: (
            consoles.api(consoles.agency, "GET", f"/v1/vouchers/programs/{program_id}/report")[
                "totals"
            ]["funded_fen"]
            == 1_000_000
        ),
        "the funding",
    )

    facts = {
        "is_sme": True,
        "region": "浙江/杭州/余杭",
        "founded_on": "2021-03-01",
        "requested_fen": 200_000,
    }
    application = consoles.api(
        consoles.enterprise, "POST", f"/v1/vouchers/programs/{program_id}/applications", facts
    )
    page.goto(consoles.url + "/console/agency/review")
    page.locator(f'tr[data-row-key="{application["id"]}"]', has_text=name).wait_for()  # not vpr_…
    page.get_by_test_id(f"approve-{application['id']}").click()
    page.locator("#decision_quota").fill("1500.00")
    page.locator(".ant-modal-footer .ant-btn-primary").click()
    wait_until(
        lambda: (
            consoles.api(consoles.agency, "GET", f"/v1/vouchers/applications/{application['id']}")[
                "state"
            ]
            == "approved"
        ),
        "the approval",
    )

    page.goto(consoles.url + "/console/agency/report")
    _pick_program(page, name)
    page.wait_for_selector('[data-testid="report-paid"]')
    burn_label = page.locator("div[role=img]").first.get_attribute("aria-label") or ""
    assert page.inner_text('[data-testid="report-paid"]').endswith("¥0.00")
    job = consoles.api(
        consoles.enterprise,
        "POST",
        "/v1/jobs",
        {
            "name": "subsidised",
            "command": python_command("import time; time.sleep(1.5)"),
            "cards": 1,
            "max_run_time_s": 60,
            "accelerators": ["Ascend-910B"],
        },
    )
    wait_until(
        lambda: (
            consoles.api(consoles.enterprise, "GET", f"/v1/jobs/{job['id']}")["state"]
            == "succeeded"
        ),
        "the subsidised job",
    )
    report = consoles.api(consoles.agency, "GET", f"/v1/vouchers/programs/{program_id}/report")
    paid = report["totals"]["paid_fen"]
    assert paid > 0
    page.wait_for_selector(
        f'[data-testid="report-paid"]:has-text("{yuan_text(paid)}")', timeout=30_000
    )
    wait_until(
        lambda: (
            (page.locator("div[role=img]").first.get_attribute("aria-label") or "") != burn_label
        ),
        "the chart",
    )
    assert yuan_text(paid) in (
        page.locator("div[role=img]").first.get_attribute("aria-label") or ""
    )
    domestic = f"{report['domestic_share_bp'] / 100:.2f}%"
    assert page.inner_text('[data-testid="report-domestic"]') == domestic
    xlsx = page.context.request.get(
        f"{consoles.url}/v1/vouchers/programs/{program_id}/report?format=xlsx"
    )
    assert xlsx.ok and xlsx.body()[:2] == b"PK"
    _import_and_edit_opportunities(page, consoles)
    page.context.close()


def _import_and_edit_opportunities(page: Any, consoles: Consoles) -> None:
    lines = (SCENES / "opportunities.csv").read_text(encoding="utf-8-sig").splitlines()
    page.goto(consoles.url + "/console/agency/opportunities")
    upload = {
        "name": "opportunities.csv",
        "mimeType": "text/csv",
        "buffer": "\n".join(lines[:3]).encode(),
    }
    page.locator("input[type=file]").set_input_files(upload)
    # An import may load the text model on a cold server: allow for a slow, busy machine.
    page.wait_for_selector('[data-testid="import-report"]:has-text("2 imported")', timeout=60_000)
    page.locator("tr", has_text="OPP-001").get_by_role("button").click()
    page.locator("#opportunity_title").fill("Edited in the console")
    page.locator(".ant-modal-footer .ant-btn-primary").click()
    edited = "/v1/scenes/opportunities/OPP-001"
    wait_until(
        lambda: consoles.api(consoles.agency, "GET", edited)["title"] == "Edited in the console",
        "the edit",
    )


def _pick_program(page: Any, name: str) -> None:
    page.locator(".ant-page-header, h2").first.wait_for()
    select = page.get_by_label("Program")
    select.click()
    page.locator(".ant-select-item-option", has_text=name).first.click()


# ---------------------------------------------------------------- the agency's review queue


def test_the_review_page_names_the_applying_enterprise_with_its_id_beside_the_name(
    consoles: Consoles, browser: Any
) -> None:
    """A reviewer sees who applied: the enterprise's name in the enterprise column, its org_…
    id in small text under it, and both whole in the tooltip (before: the id alone)."""
    program_id = _open_program(consoles, f"Review vouchers {secrets.token_hex(2)}")
    application = _apply(consoles, consoles.enterprise, program_id)
    assert application["enterprise_name"] == "ent-a"
    for language in LANGUAGES:
        page = signed_in(browser, consoles, "agency", language)
        page.goto(consoles.url + "/console/agency/review")
        row = page.locator(f'tr[data-row-key="{application["id"]}"]')
        row.wait_for()
        words = json.loads((LOCALES / f"{language}.json").read_text(encoding="utf-8"))
        headers = page.locator("thead th").all_inner_texts()
        cell = row.locator("td").nth(headers.index(words["agency"]["review"]["enterprise"]))
        assert cell.get_by_test_id("org-name").inner_text() == "ent-a", row.inner_text()
        assert cell.get_by_test_id("org-id").inner_text() == consoles.enterprise_id
        cell.get_by_test_id("org-name").hover()
        tooltip = page.locator(".ant-tooltip:not(.ant-tooltip-hidden) .ant-tooltip-container")
        tooltip.wait_for()
        assert tooltip.inner_text().split() == ["ent-a", consoles.enterprise_id]
        page.context.close()


# ---------------------------------------------------------------- the operator's journey


def test_the_operator_reviews_a_registration_and_pays_a_provider_out(
    consoles: Consoles, browser: Any
) -> None:
    code = "91330100" + "".join(secrets.choice("0123456789") for _ in range(9))
    registration = {
        "name": f"芜湖算力 {secrets.token_hex(2)}",
        "kind": "provider",
        "region": "安徽/芜湖",
        "credit_code": code + credit_code_check_character(code),
        "contact": {"name": "周经理", "phone": "0553-0000000", "email": "ops@example.cn"},
        "admin": {
            "login": f"wuhu{secrets.token_hex(2)}",
            "display_name": "周",
            "password": PASSWORD,
        },
    }
    registered = consoles.api(None, "POST", "/v1/registrations", registration)
    org_id = registered["organisation"]["id"]
    page = signed_in(browser, consoles, "operator", "zh-CN")
    with page.expect_response("**/v1/organisations?*") as listed:
        page.goto(consoles.url + "/console/operator/organisations")
    assert "state=pending" in listed.value.url and "limit=20" in listed.value.url  # server-paged
    queue = consoles.api(consoles.operator, "GET", "/v1/organisations?state=pending")
    page.wait_for_selector(f'.ant-pagination-total-text:has-text("共 {queue["total"]} 条")')
    page.get_by_test_id(f"approve-{org_id}").click()
    wait_until(
        lambda: (
            consoles.api(consoles.operator, "GET", f"/v1/organisations/{org_id}")["state"]
            == "active"
        ),
        "the approval",
    )

    before = receivable_fen(consoles)
    assert before > 0, "the journeys above earned the provider money"
    page.goto(consoles.url + "/console/operator/money")
    choose(page, "payout_org_id", "prov-a")
    page.wait_for_selector(f'[data-testid="receivable"]:has-text("{yuan_text(before)}")')
    page.locator("#payout_amount").fill(f"{min(before, 100) / 100:.2f}")
    page.locator("#payout_external_reference").fill(f"工行-{secrets.token_hex(3)}")
    page.locator("form[id=payout] button[type=submit]").click()
    wait_until(lambda: receivable_fen(consoles) == before - min(before, 100), "the payout")
    page.wait_for_selector(
        f'[data-testid="receivable"]:has-text("{yuan_text(before - min(before, 100))}")'
    )

    page.goto(consoles.url + "/console/operator/ledger")
    with page.expect_response("**/v1/ledger/checks") as answered:
        page.get_by_test_id("run-check").click()
    assert answered.value.status == 201, answered.value.text()
    wait_until(
        lambda: consoles.api(consoles.operator, "GET", "/v1/ledger/checks")["total"] >= 1, "a check"
    )
    checks = consoles.api(consoles.operator, "GET", "/v1/ledger/checks")
    assert checks["items"][0]["ok"], checks["items"][0]["violations"]
    page.wait_for_selector(".ant-alert-success", timeout=30_000)
    page.context.close()


# ---------------------------------------------------------------- the operator's connection review


def test_the_operator_pages_through_pending_connections_approves_one_and_rejects_one(
    consoles: Consoles, browser: Any
) -> None:
    names = [f"待审集群 {secrets.token_hex(2)}-{index}" for index in range(3)]
    ids = _pending_connections(consoles, names)
    page = signed_in(browser, consoles, "operator", "zh-CN")
    page.goto(consoles.url + "/console/operator/connections")
    for connection_id in ids:
        page.wait_for_selector(f'tr[data-row-key="{connection_id}"]')
    shown = page.inner_text(".ant-pagination-total-text")
    pending = consoles.api(consoles.operator, "GET", "/v1/connections?review_state=pending")
    assert shown == f"共 {pending['total']} 条"
    assert "prov-a" in page.inner_text(f'tr[data-row-key="{ids[0]}"]')

    page.get_by_test_id(f"reject-{ids[1]}").click()
    reason = page.locator("#connection-review_reason")
    reason.fill("   ")  # passes the form's own check; the server refuses it, naming `reason`
    page.locator(".ant-modal-footer .ant-btn-primary").click()
    refusal = page.locator(
        ".ant-form-item:has(#connection-review_reason) .ant-form-item-explain-error"
    )
    refusal.wait_for()
    assert "驳回须写明原因" in refusal.inner_text()
    reason.fill("集群不在供应商名下")
    page.locator(".ant-modal-footer .ant-btn-primary").click()
    page.wait_for_selector(f'tr[data-row-key="{ids[1]}"]', state="detached")

    page.get_by_test_id(f"approve-{ids[0]}").click()
    page.locator(".ant-modal-footer .ant-btn-primary").click()
    page.wait_for_selector(f'tr[data-row-key="{ids[0]}"]', state="detached")
    assert page.locator(f'tr[data-row-key="{ids[2]}"]').is_visible()  # still waiting

    def state(connection_id: str) -> tuple[str, str]:
        row = consoles.api(consoles.operator, "GET", f"/v1/connections/{connection_id}")
        return row["review_state"], row["review_reason"]

    assert state(ids[0]) == ("approved", "")
    assert state(ids[1]) == ("rejected", "集群不在供应商名下")
    assert state(ids[2]) == ("pending", "")
    page.get_by_label("审核状态").click()
    page.locator(".ant-select-item-option", has_text="已驳回").click()
    page.wait_for_selector(f'[data-testid="state-{ids[1]}"]:has-text("集群不在供应商名下")')
    page.context.close()


def _pending_connections(consoles: Consoles, names: list[str]) -> list[str]:
    """Connections as a provider's `POST /v1/connections` leaves them after the cluster check,
    written directly: this module has one real cluster, and a cluster is claimed only once.
    Their addresses are closed local ports, so the poller's reads fail fast on 127.0.0.1."""
    from sqlalchemy.orm import Session

    from suanli.adapters.db.tables_connections import ClusterConnectionRow

    ids = [f"conn_review{secrets.token_hex(3)}{index}" for index in range(len(names))]
    engine = sa.create_engine(consoles.database_url)
    try:
        with Session(engine) as session, session.begin():
            for index, (connection_id, name) in enumerate(zip(ids, names, strict=True)):
                port = 1 + index  # below 1024 and unused: refused at once
                session.add(
                    ClusterConnectionRow(
                        id=connection_id, provider_id=consoles.provider_id, name=name,
                        kind="ray", address=f"http://127.0.0.1:{port}", options={},
                        healthy=True, last_error="", capacity={"H100-SXM": 8},
                        created_at=datetime.now(UTC) + timedelta(seconds=index),
                        review_state="pending", cluster_key=f"ray:review-{connection_id}",
                    )
                )  # fmt: skip
    finally:
        engine.dispose()
    return ids


# ---------------------------------------------------------------- challenges (揭榜挂帅)


def test_an_agency_posts_a_challenge_an_enterprise_answers_and_the_agency_awards_it(
    consoles: Consoles, browser: Any
) -> None:
    agency_id = consoles.api(consoles.agency, "GET", "/v1/me")["org_id"]
    funded = _wallet_fen(consoles, consoles.agency, agency_id)
    operator = signed_in(browser, consoles, "operator", "zh-CN")
    operator.goto(consoles.url + "/console/operator/money")
    choose(operator, "top-up_org_id", "agency")  # the agency's wallet pays challenge rewards
    operator.locator("#top-up_amount").fill("5000.00")
    operator.locator("#top-up_external_reference").fill(f"财政拨付-{secrets.token_hex(3)}")
    operator.locator("form[id=top-up] button[type=submit]").click()
    wait_until(
        lambda: _wallet_fen(consoles, consoles.agency, agency_id) == funded + 500_000,
        "the agency's top-up",
    )
    operator.context.close()
    opportunity = f"OPP-W{secrets.token_hex(2)}"
    consoles.api(
        consoles.agency,
        "POST",
        "/v1/scenes/opportunities",
        {"id": opportunity, "title": "铸件表面缺陷在线检测", "industry": "智能制造"},
    )
    goal = f"Weld film grading at 95% accuracy {secrets.token_hex(2)}"
    agency = signed_in(browser, consoles, "agency", "en")
    agency.goto(consoles.url + "/console/agency/challenges")
    agency.locator("#challenge_opportunity_id").fill(opportunity)
    agency.locator("#challenge_reward").fill("1200.00")
    agency.locator("#challenge_deadline").click()
    agency.locator("#challenge_deadline").fill((date.today() + timedelta(days=30)).isoformat())
    agency.keyboard.press("Enter")
    agency.locator("#challenge_goal").fill(goal)
    agency.locator("form[id=challenge] button[type=submit]").click()
    row = agency.locator("tr", has_text=goal)
    row.wait_for()
    challenge_id = row.get_attribute("data-row-key")
    assert row.get_by_test_id("challenge-state").inner_text() == "Open"
    path = f"/v1/scenes/challenges/{challenge_id}"
    posted = consoles.api(consoles.agency, "GET", path)
    assert (posted["reward_fen"], posted["opportunity_id"]) == (120_000, opportunity)

    enterprise = signed_in(browser, consoles, "enterprise", "zh-CN")
    enterprise.goto(consoles.url + "/console/scenes")
    enterprise.get_by_role("tab", name="揭榜挂帅").click()
    enterprise.get_by_test_id(f"propose-{challenge_id}").click()
    _fill_until_taken(enterprise, ".ant-modal textarea", "射线底片深度学习评级，已在两家船厂试用")
    enterprise.locator(".ant-modal-footer .ant-btn-primary").click()
    _dialog_closes(enterprise)
    (proposal,) = consoles.api(consoles.agency, "GET", path + "/proposals")["items"]
    assert proposal["enterprise_id"] == consoles.enterprise_id
    enterprise.context.close()

    before = _wallet_fen(consoles, consoles.enterprise, consoles.enterprise_id)
    with agency.expect_response("**/proposals?*") as listed:
        agency.get_by_test_id(f"proposals-{challenge_id}").click()
    assert "offset=0" in listed.value.url and "limit=20" in listed.value.url  # server-paged
    agency.wait_for_selector('.ant-modal .ant-pagination-total-text:has-text("1 in all")')
    proposed = agency.locator(f'.ant-modal tr[data-row-key="{proposal["id"]}"]')
    assert proposed.get_by_test_id("org-name").inner_text() == "ent-a"  # who, not org_…
    assert proposed.get_by_test_id("org-id").inner_text() == consoles.enterprise_id
    agency.get_by_label("Technical approach").fill("88")
    agency.get_by_test_id(f"review-{proposal['id']}").click()
    agency.wait_for_selector(f'.ant-modal tr[data-row-key="{proposal["id"]}"]:has-text("88.00")')
    agency.get_by_test_id(f"award-{proposal['id']}").click()
    wait_until(
        lambda: consoles.api(consoles.agency, "GET", path)["state"] == "awarded", "the award"
    )
    awarded = consoles.api(consoles.agency, "GET", path)
    assert awarded["winner_proposal_id"] == proposal["id"]
    after = _wallet_fen(consoles, consoles.enterprise, consoles.enterprise_id)
    assert after == before + 120_000  # the reward, paid from the agency's hold
    agency.keyboard.press("Escape")
    agency.wait_for_selector(f'tr[data-row-key="{challenge_id}"] :text("Awarded")')
    agency.context.close()


def _wallet_fen(consoles: Consoles, token: str, org_id: str) -> int:
    balances = consoles.api(token, "GET", f"/v1/wallets/{org_id}/balances")
    return sum(a["posted_fen"] for a in balances if a["kind"] == "enterprise_wallet")


# ---------------------------------------------------------------- the operator's refund


def test_the_operator_refunds_a_settled_job_and_the_wallet_gets_its_payment_back(
    consoles: Consoles, browser: Any
) -> None:
    job = consoles.api(
        consoles.enterprise,
        "POST",
        "/v1/jobs",
        {
            "name": "to-refund",
            "command": python_command("import time; time.sleep(2)"),  # long enough to be charged
            "cards": 1,
            "max_run_time_s": 60,
            "accelerators": ["Ascend-910B"],
        },
    )
    wait_until(
        lambda: (
            consoles.api(consoles.enterprise, "GET", f"/v1/jobs/{job['id']}")["state"]
            == "succeeded"
        ),
        "the job",
    )
    paid_fen = _statement_lines(consoles)[f"job:{job['id']}:capture"]["amount_fen"]
    assert paid_fen > 0
    before = _wallet_fen(consoles, consoles.operator, consoles.enterprise_id)

    page = signed_in(browser, consoles, "operator", "en")
    page.goto(consoles.url + "/console/operator/money")
    page.locator("#refund_job_id").fill("job_never_ran")
    page.locator("#refund_reason").fill("Charged twice")
    page.locator("form[id=refund] button[type=submit]").click()
    refusal = page.locator(".ant-form-item:has(#refund_job_id) .ant-form-item-explain-error")
    refusal.wait_for()  # the server's 404 names `job_id`: its message shows under the field
    assert "job_never_ran" in refusal.inner_text()
    page.locator("#refund_job_id").fill(job["id"])
    with page.expect_response("**/v1/refunds") as answered:
        page.locator("form[id=refund] button[type=submit]").click()
    assert answered.value.status == 201, answered.value.text()
    wait_until(
        lambda: (
            _wallet_fen(consoles, consoles.operator, consoles.enterprise_id) == before + paid_fen
        ),
        "the refund",
    )
    refunded = _statement_lines(consoles)[f"job:{job['id']}:refund:capture"]
    assert (refunded["amount_fen"], refunded["memo"]) == (paid_fen, "Charged twice")
    assert page.locator("#refund_job_id").input_value() == ""  # the form is cleared
    page.context.close()


def _statement_lines(consoles: Consoles) -> dict[str, Any]:
    """The enterprise's wallet statement by transfer id (a small city: one page holds it)."""
    path = f"/v1/wallets/{consoles.enterprise_id}/statement?limit=500"
    page = consoles.api(consoles.operator, "GET", path)
    assert page["total"] <= page["limit"]
    return {line["id"]: line for line in page["items"]}


# ---------------------------------------------------------------- the city dashboard


@pytest.fixture
def dashboard_figures(consoles: Consoles) -> Iterator[None]:
    """What the dashboard counts, made here so that its test stands alone (`-k`) and every
    figure it compares is more than 0 whichever tests ran before: listed scenes (the funnel),
    a funded program and a grant, a job that ran, was paid for and subsidised (GMV, vouchers
    paid, succeeded), and a job still running (running, busy cards), cancelled afterwards."""
    for kind, token, rows in (
        ("opportunities", consoles.agency, slice(10, 12)),  # not the agency journey's rows
        ("capabilities", consoles.enterprise, slice(1, 3)),
    ):
        lines = (SCENES / f"{kind}.csv").read_text(encoding="utf-8-sig").splitlines()
        content = "\n".join([lines[0], *lines[rows]]) + "\n"
        body = {"kind": kind, "filename": f"{kind}.csv", "content": content}
        assert consoles.api(token, "POST", "/v1/scenes/import", body)["created"] == 2
    _grant_a_voucher(consoles)
    _run_a_job(consoles, "for-the-dashboard", "import time; time.sleep(1.5)", "succeeded")
    running = _run_a_job(consoles, "still-running", "import time; time.sleep(300)", "running")
    yield
    consoles.api(consoles.enterprise, "POST", f"/v1/jobs/{running}/cancel")


def _grant_a_voucher(consoles: Consoles) -> None:
    """A program funded by the agency, and a grant to the enterprise its jobs draw on."""
    program_id = _open_program(consoles, f"Dashboard vouchers {secrets.token_hex(2)}")
    funding = {"amount_fen": 1_000_000, "external_reference": f"Treasury {program_id}"}
    consoles.api(consoles.agency, "POST", f"/v1/vouchers/programs/{program_id}/funding", funding)
    application = _apply(consoles, consoles.enterprise, program_id)
    path = f"/v1/vouchers/applications/{application['id']}/approve"
    consoles.api(consoles.agency, "POST", path, {"quota_fen": 100_000})


FILL_TRIES_MAX = 3
DIALOG_CLOSE_MS = 30_000


def _fill_until_taken(page: Any, selector: str, text: str) -> None:
    """Fills a field of a dialog that may still be opening (a fill during its animation was
    seen lost once, on a loaded CI machine), checking the form took the text."""
    field = page.locator(selector)
    for _ in range(FILL_TRIES_MAX):
        field.fill(text)
        if field.input_value() == text:
            return
        time.sleep(0.2)
    raise AssertionError(f"{selector} did not take the text: {field.input_value()!r}")


def _dialog_closes(page: Any) -> None:
    """Waits for the dialog to close after a submit; if it stays open, fails with what it
    says (a refusal is shown in it), not with a bare timeout."""
    dialog = page.locator(".ant-modal")
    try:
        dialog.wait_for(state="hidden", timeout=DIALOG_CLOSE_MS)
    except Exception as error:  # playwright's TimeoutError
        shown = dialog.first.inner_text() if dialog.count() else ""
        raise AssertionError(f"the dialog stayed open, saying: {shown!r}") from error


def _open_program(consoles: Consoles, name: str) -> str:
    """A compute-voucher program of the agency's, open from yesterday; its id."""
    start, end = date.today() - timedelta(days=1), date.today() + timedelta(days=300)
    program = {
        "name": name,
        "category": "compute",
        "budget_fen": 1_000_000,
        "valid_from": start.isoformat(),
        "valid_until": end.isoformat(),
        "base_ratio": "0.3",
        "cap_per_enterprise_fen": 500_000,
    }
    return str(consoles.api(consoles.agency, "POST", "/v1/vouchers/programs", program)["id"])


def _apply(consoles: Consoles, token: str, program_id: str) -> dict[str, Any]:
    """An application of the enterprise whose API token is `token` for ¥1,000 (pending)."""
    facts = {
        "is_sme": True,
        "region": "浙江/杭州/余杭",
        "founded_on": "2021-03-01",
        "requested_fen": 100_000,
    }
    path = f"/v1/vouchers/programs/{program_id}/applications"
    return dict(consoles.api(token, "POST", path, facts))


def _run_a_job(consoles: Consoles, name: str, code: str, state: str) -> str:
    """A one-card job on the Ascend pool (the local backend), once it reaches `state`."""
    body = {
        "name": name,
        "command": python_command(code),
        "cards": 1,
        "max_run_time_s": 600,
        "accelerators": ["Ascend-910B"],
    }
    job_id = str(consoles.api(consoles.enterprise, "POST", "/v1/jobs", body)["id"])
    wait_until(
        lambda: consoles.api(consoles.enterprise, "GET", f"/v1/jobs/{job_id}")["state"] == state,
        f"the job {name} {state}",
    )
    return job_id


@pytest.mark.usefixtures("dashboard_figures")
def test_every_number_on_the_dashboard_equals_the_apis(consoles: Consoles, browser: Any) -> None:
    page = new_page(browser, "en")
    page.goto(consoles.url + "/dashboard")
    page.wait_for_selector('[data-testid="tile-cards"]')
    page.wait_for_function(DRAWN)  # the four ECharts canvases and the utilisation line's SVG
    shown = _dashboard_numbers(page)
    board = httpx.get(consoles.url + "/v1/public/dashboard").json()
    if shown["at"] != board["at"]:  # the server's 5 s cache turned between the two reads
        page.wait_for_timeout(6_000)
        shown, board = (
            _dashboard_numbers(page),
            httpx.get(consoles.url + "/v1/public/dashboard").json(),
        )
    assert shown["tiles"] == {
        "cards": str(board["cards"]),
        "busyCards": str(board["busy_cards"]),
        "domesticShare": f"{board['domestic_share_bp'] / 100:.2f}%",
        "jobsTotal": str(board["jobs_total"]),
        "running": str(board["jobs_by_state"]["running"]),
        "gmv": yuan_text(board["gmv_fen"]),
        "vouchersPaid": yuan_text(board["vouchers_paid_fen"]),
    }
    labels = shown["labels"]
    vendors = ", ".join(f"{v['vendor']} {v['cards']}/{v['busy_cards']}" for v in board["vendors"])
    assert f"Cards by vendor: {vendors}" in labels
    imported = board["cards"] - board["domestic_cards"]
    assert f"Domestic share: Domestic {board['domestic_cards']}, Imported {imported}" in labels
    last_tenths = (board["utilisation"][-1]["utilisation_bp"] + 5) // 10  # what the line draws
    assert f"Utilisation: {last_tenths / 10:.1f}%" in labels
    jobs = [label for label in labels if label.startswith("Jobs by state: ")]
    assert jobs and all(f" {count}" in jobs[0] for count in board["jobs_by_state"].values())
    assert jobs[0].count(",") == len(board["jobs_by_state"]) - 1
    funnel = [label for label in labels if label.startswith("Scenes pipeline: ")]
    counts = [board["opportunities"], board["capabilities"], *board["pipeline"].values()]
    assert funnel and [int(n) for n in re.findall(r" (\d+)(?:,|$)", funnel[0])] == counts
    # the fixture's figures: each compared above is one the page could get wrong
    assert board["gmv_fen"] > 0 and board["vouchers_paid_fen"] > 0
    assert board["jobs_by_state"]["succeeded"] >= 1 and board["jobs_by_state"]["running"] >= 1
    assert board["busy_cards"] >= 1 and board["opportunities"] >= 2 and board["capabilities"] >= 2
    page.context.close()


def _dashboard_numbers(page: Any) -> dict[str, Any]:
    tiles = {
        key: page.inner_text(f'[data-testid="tile-{key}"]')
        for key in (
            "cards",
            "busyCards",
            "domesticShare",
            "jobsTotal",
            "running",
            "gmv",
            "vouchersPaid",
        )
    }
    labels = [page.locator("div[role=img]").nth(i).get_attribute("aria-label") for i in range(5)]
    at = page.get_attribute('[data-testid="dashboard-at"]', "data-at")
    return {"tiles": tiles, "labels": labels, "at": at}


# The shapes the two crowded charts are drawn in. The donut: the domestic share of the cards
# (at half, its labels stand level with the ring's widest point, where they have least room).
# The scenes funnel: its counts top to bottom, as a share of the widest (a full top over an
# empty rest is the funnel in which the top label sat on the funnel's edge).
WALL_SHAPES = (
    (0.5, lambda steps: [3] + [0] * (steps - 1)),
    (0.0, lambda steps: list(range(steps, 0, -1))),
    (0.04, lambda steps: [0] * (steps - 1) + [4]),
    (0.96, lambda steps: [2] * steps),
    (1.0, lambda steps: [0] * steps),
)
FUNNEL_GAP_PX = 8  # the least room between the scenes funnel and any of its labels


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_dashboard_chart_label_is_cut_off_whatever_the_figures(
    consoles: Consoles, browser: Any, language: str
) -> None:
    """Every text ECharts draws is whole (no ellipsis) and inside its canvas, the donut's
    two names are drawn whole at each split, and the funnel's labels stand clear of the
    funnel. The shapes are set by rewriting the server's answer in the page (its domestic
    cards and share, and the funnel's counts; the rest is what the server said): the city
    holds one set of figures, and the labels must fit at any."""
    words = json.loads((LOCALES / f"{language}.json").read_text())["dashboard"]
    shape: dict[str, Any] = {}

    def answer(route: Any) -> None:
        board = route.fetch().json()
        domestic = board["domestic_cards"] = round(board["cards"] * shape["domestic"])
        board["domestic_share_bp"] = round(10_000 * domestic / max(board["cards"], 1))
        counts = shape["funnel"](2 + len(board["pipeline"]))
        board["opportunities"], board["capabilities"] = counts[:2]
        board["pipeline"] = dict(zip(board["pipeline"], counts[2:], strict=True))
        route.fulfill(json=board)

    page = new_page(browser, language)
    page.context.add_init_script(CANVAS_RECORDER)
    page.route("**/v1/public/dashboard?*", answer)
    charts = page.locator("div[role=img]")
    for split, funnel in WALL_SHAPES:
        shape.update(domestic=split, funnel=funnel)
        page.goto(consoles.url + "/dashboard")
        page.wait_for_function(DRAWN)
        cards = int(page.inner_text('[data-testid="tile-cards"]'))
        domestic = round(cards * split)
        stated = f"{words['domestic']} {domestic}, {words['imported']} {cards - domestic}"
        page.wait_for_function(
            "([chart, stated]) => document.querySelectorAll('div[role=img]')[chart]"
            ".getAttribute('aria-label').endsWith(stated)",
            arg=[1, stated],
        )
        for index in (0, 1, 3, 4):  # the ECharts canvases (2 is the SVG utilisation line)
            bad = texts_cut_or_outside(drawn_on(charts.nth(index)))
            assert not bad, f"chart {index} ({language}, {split:.0%} domestic) cuts: {bad}"
        donut = [text["text"] for text in drawn_on(charts.nth(1))["texts"]]
        for name in (words["domestic"], words["imported"]):  # in the legend and at its slice
            assert donut.count(name) == 2, f"{name!r} at {split:.0%}: drawn {donut}"
        _assert_funnel_labels_clear(drawn_on(charts.nth(4)), language)
    page.context.close()


def _assert_funnel_labels_clear(drawn: dict[str, Any], language: str) -> None:
    """Every label of the scenes funnel starts at least FUNNEL_GAP_PX right of the funnel's
    widest point (its filled layers' right edges), so none touches it."""
    assert drawn["shapes"] and drawn["texts"], drawn
    funnel_right = max(shape["right"] for shape in drawn["shapes"])
    touching = [
        f"{text['text']!r} at {text['left']:.0f} (funnel to {funnel_right:.0f})"
        for text in drawn["texts"]
        if text["left"] < funnel_right + FUNNEL_GAP_PX
    ]
    assert not touching, f"funnel labels touch the funnel ({language}): {touching}"


# ---------------------------------------------------------------- every page, both languages
# (last: the journeys above leave data on every page, so axe and the screenshots see it)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_console_page_and_the_dashboard_speak_the_language_and_pass_axe(
    consoles: Consoles, browser: Any, language: str
) -> None:
    for role, pages in ROLE_PAGES.items():
        page = signed_in(browser, consoles, role, language)
        for name, path in pages.items():
            page.goto(consoles.url + path)
            page.wait_for_selector("h2")
            page.wait_for_load_state("networkidle")
            check_page(page, name, language)
            screenshot(page, name, language)
        page.context.close()
    page = new_page(browser, language)
    page.goto(consoles.url + "/dashboard")
    page.wait_for_selector('[data-testid="tile-cards"]')
    page.wait_for_function(DRAWN)  # the four ECharts canvases and the utilisation line's SVG
    page.wait_for_load_state("networkidle")
    check_page(page, "dashboard", language)
    screenshot(page, "dashboard", language)
    # the utilisation line's readout: a bucket's Beijing time and value, in the page's language
    line, readout = page.locator("div[role=img]").nth(2), page.get_by_test_id("utilisation-readout")
    beijing = "北京时间" if language == "zh-CN" else "Beijing time"
    line.focus()  # the keyboard's way in: the last bucket, the one the label states
    assert beijing in readout.inner_text()
    assert readout.inner_text().endswith(line.get_attribute("aria-label").rsplit(" ", 1)[-1])
    first = line.locator("svg text").nth(5).text_content()  # after the 5 ticks, the first time
    box = line.bounding_box()
    line.blur()
    page.mouse.move(box["x"] + 1, box["y"] + box["height"] / 2)  # the pointer's: the first
    page.wait_for_function(
        "([hint, first]) => document.querySelector(hint).textContent.includes(first)",
        arg=['[data-testid="utilisation-readout"]', first],
    )
    page.mouse.move(0, 899)
    page.wait_for_function(
        "(hint) => !document.querySelector(hint).textContent",
        arg='[data-testid="utilisation-readout"]',
    )
    page.context.close()
