"""Vouchers over HTTP end to end (real SQLite, real local backend): the README walk-through,
agency creates a program -> an enterprise applies -> approval -> a job runs -> the statement
shows the voucher deduction -> the agency report; and bad input, each a 4xx changing nothing."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import event

from suanli.domain.vouchers import BEIJING
from tests.helpers import City, build_city, fund, make_app, python_command

PRICE_FEN_PER_CARD_HOUR = 360_000  # 100 fen per card-second: visible subsidies on short jobs


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    app = make_app(tmp_path)
    built = build_city(app)
    fund(app, built.enterprise_id, 1_000_000)
    yield built
    app.close()


def day(offset_days: int) -> str:
    return (datetime.now(BEIJING).date() + timedelta(days=offset_days)).isoformat()


def hangzhou(**overrides: Any) -> dict[str, Any]:
    """Hangzhou's published figures: 30% base, 20% non-domestic, 50% for SMEs whose yearly
    contracts stay within 500,000 yuan, 8,000,000 yuan per enterprise per year."""
    body: dict[str, Any] = {
        "name": "杭州市算力券 2025",
        "category": "compute",
        "budget_fen": 1_000_000_000,
        "valid_from": day(-1),
        "valid_until": day(300),
        "base_ratio": "0.3",
        "tiers": [
            {"ratio": "0.5", "sme": True, "yearly_spend_max_fen": 50_000_000, "label": "SME"},
            {"ratio": "0.2", "domestic": False, "label": "non-domestic"},
        ],
        "cap_per_enterprise_fen": 800_000_000,
        "max_combined_ratio": "0.6",
    }
    return {**body, **overrides}


def ascend_pool(city: City) -> str:
    body = {
        "name": "ascend",
        "accelerator_model": "Ascend-910",
        "nodes": 1,
        "cards_per_node": 8,
        "region": "浙江/杭州/余杭",
        "price_fen_per_card_hour": PRICE_FEN_PER_CARD_HOUR,
        "provider_id": city.provider_id,
    }
    reply = city.post(city.operator, "/v1/pools", body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def run_until_done(city: City, job_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        city.app.runtime.tick()
        job = city.get(city.enterprise, f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled", "timed_out"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def balances(city: City, org_id: str, token: str) -> dict[str, dict[str, Any]]:
    reply = city.get(token, f"/v1/wallets/{org_id}/balances")
    assert reply.status_code == 200, reply.text
    return {account["kind"]: account for account in reply.json()}


def open_program(city: City, **overrides: Any) -> dict[str, Any]:
    program = city.post(city.agency, "/v1/vouchers/programs", hangzhou(**overrides))
    assert program.status_code == 201, program.text
    return dict(program.json())


def granted(city: City, program_id: str, quota_fen: int = 100_000) -> dict[str, Any]:
    funding = {"amount_fen": 1_000_000, "external_reference": f"财政拨款-{program_id}"}
    reply = city.post(city.agency, f"/v1/vouchers/programs/{program_id}/funding", funding)
    assert reply.status_code == 201, reply.text
    facts = {
        "is_sme": True,
        "region": "浙江/杭州/余杭",
        "founded_on": "2021-03-01",
        "requested_fen": quota_fen,
    }
    application = city.post(
        city.enterprise, f"/v1/vouchers/programs/{program_id}/applications", facts
    )
    assert application.status_code == 201, application.text
    assert application.json()["state"] == "pending"
    path = f"/v1/vouchers/applications/{application.json()['id']}/approve"
    grant = city.post(city.agency, path, {"quota_fen": quota_fen})
    assert grant.status_code == 201, grant.text
    return dict(grant.json())


def test_the_walk_through_from_program_to_statement_to_report(city: City) -> None:
    ascend_pool(city)
    program = open_program(city)
    assert program["rules"]["base_ratio"] == "0.3"
    grant = granted(city, program["id"])
    assert (grant["quota_fen"], grant["available_fen"]) == (100_000, 100_000)

    job = {
        "name": "train",
        "command": python_command("import time; time.sleep(1.2); print('trained')"),
        "cards": 2,
        "max_run_time_s": 60,
        "accelerators": ["Ascend-910"],
    }
    submitted = city.post(city.enterprise, "/v1/jobs", job)
    assert submitted.status_code == 201, submitted.text
    max_cost_fen = 2 * 60 * 100
    assert submitted.json()["hold_fen"] == max_cost_fen // 2  # an SME with a voucher holds half
    reserved = city.get(city.enterprise, "/v1/vouchers/grants").json()["items"][0]
    assert reserved["reserved_fen"] == max_cost_fen // 2

    finished = run_until_done(city, submitted.json()["id"])
    assert finished["state"] == "succeeded"
    usage = city.get(city.enterprise, f"/v1/jobs/{finished['id']}/usage").json()
    subsidy_fen = usage["amount_fen"] // 2
    assert subsidy_fen >= 100  # at least 2 card-seconds at 100 fen each, half of it subsidised

    month = datetime.now(BEIJING).strftime("%Y-%m")
    statement = city.get(city.enterprise, f"/v1/statements/{city.enterprise_id}/{month}").json()
    (line,) = statement["lines"]
    assert line["amount_fen"] == usage["amount_fen"]
    assert line["subsidy_fen"] == subsidy_fen
    assert line["payable_fen"] == usage["amount_fen"] - subsidy_fen
    assert "杭州市算力券 2025 50%（SME）" in line["subsidy_note"]

    after = city.get(city.enterprise, "/v1/vouchers/grants").json()["items"][0]
    assert (after["reserved_fen"], after["balance_fen"]) == (0, 100_000 - subsidy_fen)

    report = city.get(city.agency, f"/v1/vouchers/programs/{program['id']}/report").json()
    assert report["totals"] == {
        "funded_fen": 1_000_000,
        "committed_fen": 100_000 - subsidy_fen,
        "paid_fen": subsidy_fen,
        "remaining_fen": 900_000,
    }
    assert [e["subsidy_fen"] for e in report["by_enterprise"]] == [subsidy_fen]
    assert [p["key"] for p in report["by_provider"]] == [city.provider_id]
    assert report["by_vendor"][0]["key"] == "Huawei" and report["by_vendor"][0]["domestic"]
    assert report["domestic_share_bp"] == 10_000
    assert report["burn_down"][-1]["paid_fen"] == subsidy_fen


def test_the_report_exports_csv_and_xlsx_to_the_agency_only(city: City) -> None:
    program = open_program(city)
    granted(city, program["id"])
    path = f"/v1/vouchers/programs/{program['id']}/report"
    burn = city.get(city.agency, path, params={"format": "csv", "section": "burn_down"})
    assert burn.status_code == 200 and burn.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(burn.text)))
    assert rows[0][:5] == ["day", "funded_fen", "committed_fen", "paid_fen", "remaining_fen"]
    assert rows[-1][1:5] == ["1000000", "100000", "0", "900000"]
    xlsx = city.get(city.agency, path, params={"format": "xlsx"})
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == [
        "summary",
        "burn_down",
        "by_enterprise",
        "by_provider",
        "by_vendor",
        "refused",
    ]
    assert city.get(city.enterprise, path).status_code == 403
    bad_section = city.get(city.agency, path, params={"format": "csv", "section": "nope"})
    assert bad_section.status_code == 422 and bad_section.json()["field"] == "section"


def test_a_job_without_an_eligible_provider_pays_in_full_and_the_statement_says_why(
    city: City,
) -> None:
    ascend_pool(city)
    program = open_program(city, provider_scope="list", provider_ids=["org_someone_else"])
    granted(city, program["id"])
    sleep = python_command("import time; time.sleep(1.2)")
    job = {"name": "j", "command": sleep, "cards": 1, "max_run_time_s": 30}
    submitted = city.post(city.enterprise, "/v1/jobs", dict(job, accelerators=["Ascend-910"]))
    assert submitted.json()["hold_fen"] == 30 * 100  # no subsidy expected: the full cost held
    run_until_done(city, submitted.json()["id"])
    month = datetime.now(BEIJING).strftime("%Y-%m")
    (line,) = city.get(city.enterprise, f"/v1/statements/{city.enterprise_id}/{month}").json()[
        "lines"
    ]
    assert line["subsidy_fen"] == 0
    assert "服务商不在范围内" in line["subsidy_note"]
    report = city.get(city.agency, f"/v1/vouchers/programs/{program['id']}/report").json()
    assert report["refused"][0]["outcome"] == "provider_not_eligible"


# ---------------------------------------------------------------------------------------------
# Bad input: a clear 4xx, and nothing changes


def programs(city: City) -> list[dict[str, Any]]:
    return list(city.get(city.agency, "/v1/vouchers/programs").json()["items"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"base_ratio": "1.5"}, "base_ratio"),
        ({"base_ratio": "-0.1"}, "base_ratio"),
        ({"tiers": [{"ratio": "2"}]}, "tiers.ratio"),
        ({"max_combined_ratio": "1.01"}, "max_combined_ratio"),
        ({"base_ratio": "0.12345"}, "base_ratio"),
        ({"cap_per_enterprise_fen": 1_000_000_001}, "cap_per_enterprise_fen"),
        ({"valid_until": day(-2)}, "valid_until"),
        ({"valid_until": day(400)}, "valid_until"),
        ({"budget_fen": 0}, "budget_fen"),
    ],
)
def test_a_bad_program_is_refused_and_creates_nothing(
    city: City, change: dict[str, Any], field: str
) -> None:
    reply = city.post(city.agency, "/v1/vouchers/programs", hangzhou(**change))
    assert reply.status_code == 422, reply.text
    assert reply.json()["field"] == field
    assert programs(city) == []


def test_overlapping_validity_where_stacking_is_disallowed_is_a_conflict(city: City) -> None:
    beijing = open_program(city, name="北京算力券", stacking_allowed=False)
    district = city.post(city.agency, "/v1/vouchers/programs", hangzhou(name="区级算力券"))
    assert district.status_code == 409, district.text
    assert district.json()["error"] == "stacking_conflict"
    assert beijing["id"] in district.json()["message"]
    later = city.post(
        city.agency,
        "/v1/vouchers/programs",
        hangzhou(name="明年", valid_from=day(300), valid_until=day(600)),
    )
    assert later.status_code == 201  # no overlap: fine
    corpus = city.post(
        city.agency, "/v1/vouchers/programs", hangzhou(name="语料券", category="corpus")
    )
    assert corpus.status_code == 201  # other purchases: no overlap either
    assert [p["name"] for p in programs(city)] == ["语料券", "明年", "北京算力券"]  # newest first
    open_now = city.get(city.enterprise, "/v1/vouchers/programs", params={"open_only": True})
    assert [p["name"] for p in open_now.json()["items"]] == ["语料券", "北京算力券"]


def test_applying_to_an_expired_program_is_refused(city: City) -> None:
    expired = open_program(city, valid_from=day(-30), valid_until=day(-1))
    facts = {"is_sme": True, "region": "浙江/杭州", "founded_on": "2020-01-01", "requested_fen": 1}
    reply = city.post(city.enterprise, f"/v1/vouchers/programs/{expired['id']}/applications", facts)
    assert reply.status_code == 409 and reply.json()["error"] == "program_closed"
    assert city.get(city.enterprise, "/v1/vouchers/applications").json()["total"] == 0


def test_only_the_owning_agency_approves(city: City) -> None:
    program = open_program(city)
    city.post(
        city.agency,
        f"/v1/vouchers/programs/{program['id']}/funding",
        {"amount_fen": 500_000, "external_reference": "拨款-1"},
    )
    facts = {
        "is_sme": False,
        "region": "浙江/杭州",
        "founded_on": "2020-01-01",
        "requested_fen": 10,
    }
    application = city.post(
        city.enterprise, f"/v1/vouchers/programs/{program['id']}/applications", facts
    ).json()
    path = f"/v1/vouchers/applications/{application['id']}/approve"
    for token in (city.enterprise, city.operator, city.provider):
        reply = city.post(token, path, {"quota_fen": 10})
        assert reply.status_code == 403, reply.text
    assert (
        city.get(city.enterprise, f"/v1/vouchers/applications/{application['id']}").json()["state"]
        == "pending"
    )
    assert city.get(city.operator, "/v1/vouchers/grants").json()["total"] == 0
    too_much = city.post(city.agency, path, {"quota_fen": 800_000_001})
    assert too_much.status_code == 422 and too_much.json()["field"] == "quota_fen"
    beyond_budget = city.post(city.agency, path, {"quota_fen": 600_000})
    assert beyond_budget.status_code == 422 and beyond_budget.json()["error"] == "budget_short"
    assert city.post(city.agency, path, {"quota_fen": 500_000}).status_code == 201


def test_a_rejection_names_its_reason_and_is_final(city: City) -> None:
    program = open_program(city)
    facts = {"is_sme": True, "region": "浙江/杭州", "founded_on": "2020-01-01", "requested_fen": 10}
    application = city.post(
        city.enterprise, f"/v1/vouchers/programs/{program['id']}/applications", facts
    ).json()
    path = f"/v1/vouchers/applications/{application['id']}"
    rejected = city.post(city.agency, path + "/reject", {"reason": "材料不全 incomplete"})
    assert rejected.json()["state"] == "rejected" and rejected.json()["reason"].startswith("材料")
    assert rejected.json()["enterprise_name"] == "ent-a"
    assert city.post(city.agency, path + "/approve", {"quota_fen": 10}).status_code == 409


def test_applications_name_the_applying_enterprise_beside_its_id(city: City) -> None:
    """The agency's review queue says who applied (the organisation's name), not only an
    org_… id; the names of a page come in one query, however many applications it holds."""
    program = open_program(city)
    path = f"/v1/vouchers/programs/{program['id']}/applications"
    facts = {"is_sme": True, "region": "浙江/杭州", "founded_on": "2020-01-01", "requested_fen": 10}
    applied = city.post(city.enterprise, path, facts)
    assert applied.status_code == 201, applied.text
    assert (applied.json()["enterprise_id"], applied.json()["enterprise_name"]) == (
        city.enterprise_id,
        "ent-a",
    )
    one = statements_for(city, "/v1/vouchers/applications")
    assert city.post(city.other_enterprise, path, facts).status_code == 201

    listed = city.get(city.agency, "/v1/vouchers/applications?state=pending").json()["items"]
    names = {item["enterprise_id"]: item["enterprise_name"] for item in listed}
    assert len(names) == 2 and names.pop(city.enterprise_id) == "ent-a"  # the id stays too
    ((other_id, other_name),) = names.items()
    assert other_name == "ent-b" and other_id.startswith("org_")
    assert statements_for(city, "/v1/vouchers/applications") == one  # not one more per row
    (other,) = [item for item in listed if item["enterprise_id"] == other_id]
    detail = city.get(city.agency, f"/v1/vouchers/applications/{other['id']}").json()
    assert (detail["enterprise_id"], detail["enterprise_name"]) == (other_id, "ent-b")
    own = city.get(city.enterprise, "/v1/vouchers/applications").json()["items"]
    assert [item["enterprise_name"] for item in own] == ["ent-a"]


def test_grants_name_the_granted_enterprise_beside_its_id(city: City) -> None:
    """A grant said whose it was by org_… id only, where applications named the enterprise;
    the names of a page of grants come in one query, however many grants it holds."""
    program = open_program(city)
    funding = {"amount_fen": 1_000_000, "external_reference": "财政拨款-names"}
    funded = city.post(city.agency, f"/v1/vouchers/programs/{program['id']}/funding", funding)
    assert funded.status_code == 201, funded.text
    first = approve_for(city, city.enterprise, program["id"])
    assert (first["enterprise_id"], first["enterprise_name"]) == (city.enterprise_id, "ent-a")
    one = statements_for(city, "/v1/vouchers/grants")
    second = approve_for(city, city.other_enterprise, program["id"])

    listed = city.get(city.agency, "/v1/vouchers/grants").json()["items"]
    names = {item["enterprise_id"]: item["enterprise_name"] for item in listed}
    assert names == {city.enterprise_id: "ent-a", second["enterprise_id"]: "ent-b"}
    assert statements_for(city, "/v1/vouchers/grants") == one  # not one more per grant
    own = city.get(city.enterprise, "/v1/vouchers/grants").json()["items"]
    assert [item["enterprise_name"] for item in own] == ["ent-a"]


def approve_for(city: City, enterprise: str, program_id: str) -> dict[str, Any]:
    """The enterprise applies for a small quota and the agency approves it: the grant."""
    facts = {"is_sme": True, "region": "浙江/杭州", "founded_on": "2020-01-01", "requested_fen": 10}
    path = f"/v1/vouchers/programs/{program_id}/applications"
    application = city.post(enterprise, path, facts)
    assert application.status_code == 201, application.text
    approve = f"/v1/vouchers/applications/{application.json()['id']}/approve"
    grant = city.post(city.agency, approve, {"quota_fen": 10})
    assert grant.status_code == 201, grant.text
    return dict(grant.json())


def statements_for(city: City, path: str) -> int:
    """How many SQL statements the agency's GET of `path` runs (after one warm-up call)."""
    assert city.get(city.agency, path).status_code == 200
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = city.app.db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert city.get(city.agency, path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_an_ineligible_enterprise_is_told_every_reason(city: City) -> None:
    program = open_program(
        city, sme_only=True, enterprise_regions=["浙江/杭州"], bad_credit_lookback_years=3
    )
    facts = {
        "is_sme": False,
        "region": "上海/浦东",
        "founded_on": "2010-01-01",
        "bad_credit_on": date.today().replace(year=date.today().year - 1).isoformat(),
        "requested_fen": 10,
    }
    reply = city.post(city.enterprise, f"/v1/vouchers/programs/{program['id']}/applications", facts)
    assert reply.status_code == 422
    assert reply.json()["details"]["reasons"] == ["enterprise_region", "not_sme", "bad_credit"]


def test_a_blacklist_names_enterprises_to_its_agency_and_the_operator_only(city: City) -> None:
    """Before: every signed-in tenant and the public storefront read which enterprises a
    program had blacklisted."""
    listed = city.enterprise_id
    program = open_program(city, blacklist=[listed])
    assert program["rules"]["blacklist"] == [listed]
    path = f"/v1/vouchers/programs/{program['id']}"
    for token in (city.agency, city.operator):
        assert city.get(token, path).json()["rules"]["blacklist"] == [listed]
    for token in (city.enterprise, city.other_enterprise, city.provider):
        for reply in (city.get(token, path), city.get(token, "/v1/vouchers/programs")):
            assert listed not in reply.text and reply.json() != {}, reply.text
        assert city.get(token, path).json()["rules"]["blacklist_size"] == 1
    storefront = city.client.get("/v1/public/programs")
    assert storefront.status_code == 200 and listed not in storefront.text
    assert storefront.json()["items"][0]["rules"]["blacklist_size"] == 1
    applied = city.post(
        city.enterprise,
        f"{path}/applications",
        {"is_sme": True, "region": "浙江/杭州", "founded_on": "2020-01-01", "requested_fen": 10},
    )  # the blacklisted enterprise learns it when it applies, and only about itself
    assert applied.status_code == 422 and "blacklisted" in applied.json()["details"]["reasons"]


# ---------------------------------------------------------------------------------------------
# The documented walk-through, run as written (paths and port aside) against a real server

DOC = Path(__file__).parents[2] / "docs" / "vouchers.md"


@pytest.mark.slow
def test_the_documented_walk_through_is_the_one_the_readme_test_runs() -> None:
    """docs/vouchers.md repeats README's walk-through, which tests/e2e/test_readme.py runs
    as written and checks (statement line, report totals); the two texts must not drift."""
    documented = DOC.read_text(encoding="utf-8").split("```bash\n", 1)[1].split("```", 1)[0]
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    walk = readme.split("### Walk-through", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert documented == walk


def test_a_voucher_job_held_at_its_price_cap_runs_after_its_pool_is_repriced_within_it(
    city: City,
) -> None:
    """Before: with a grant, the holds were sized at the pools' prices of the moment, not at
    the job's cap, so a pool repriced within the cap before the job was placed no longer
    fitted the hold, and the job failed at launch (without vouchers it is held at the cap)."""
    pool_id = ascend_pool(city)
    granted(city, open_program(city)["id"])
    cap = 2 * PRICE_FEN_PER_CARD_HOUR
    job = {
        "name": "train",
        "command": python_command("import time; time.sleep(1.2)"),
        "cards": 2,
        "max_run_time_s": 60,
        "accelerators": ["Ascend-910"],
        "max_price_fen_per_card_hour": cap,
    }
    submitted = city.post(city.enterprise, "/v1/jobs", job)
    assert submitted.status_code == 201, submitted.text
    max_cost_at_cap = 2 * 60 * cap // 3600
    assert submitted.json()["hold_fen"] == max_cost_at_cap // 2  # an SME's half, at the cap
    grant = city.get(city.enterprise, "/v1/vouchers/grants").json()["items"][0]
    assert grant["reserved_fen"] == max_cost_at_cap // 2
    repriced = city.client.patch(
        f"/v1/pools/{pool_id}",
        json={"price_fen_per_card_hour": cap},
        headers=city.headers(city.operator),
    )
    assert repriced.status_code == 200, repriced.text
    finished = run_until_done(city, submitted.json()["id"])
    assert finished["state"] == "succeeded", finished
    usage = city.get(city.enterprise, f"/v1/jobs/{finished['id']}/usage").json()
    assert usage["price_fen_per_card_hour"] == cap
    after = city.get(city.enterprise, "/v1/vouchers/grants").json()["items"][0]
    assert (after["reserved_fen"], after["balance_fen"]) == (0, 100_000 - usage["amount_fen"] // 2)
    check = city.get(city.operator, "/v1/ledger/check").json()
    assert check["ok"], check
