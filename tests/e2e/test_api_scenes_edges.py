"""The scenario exchange's edges over HTTP: a PATCH with the other kind's field, budgets that
are not whole fen, ids a URL path cannot carry, exports that must import back unchanged,
repeated deployment modes, who can read the audit entry of an award or a consent, and every
refusal naming its field."""

from __future__ import annotations

import base64
import csv
import io
from datetime import date, timedelta
from typing import Any

import pytest

from suanli.adapters.db.tables_scenes import SceneCapabilityRow
from tests.e2e.test_api_scenes import city as city  # the same city (fixture)
from tests.helpers import City

HEADER = "id,title,description,industry,tags,region,org"
OPPORTUNITIES = "/v1/scenes/opportunities"
CAPABILITIES = "/v1/scenes/capabilities"


def patch(city: City, token: str, path: str, body: dict[str, Any]) -> Any:
    return city.client.patch(path, json=body, headers=city.headers(token))


def import_csv(city: City, token: str, kind: str, text: str, language: str = "zh-CN") -> Any:
    body = {"kind": kind, "filename": f"{kind}.csv", "content": text}
    return city.post(token, "/v1/scenes/import", body, headers={"Accept-Language": language})


def org_id(city: City, token: str) -> str:
    body: dict[str, Any] = city.get(token, "/v1/me").json()
    return str(body.get("org_id") or body["organisation"]["id"])


# ---------------------------------------------------------------- PATCH: each kind's fields

OPPORTUNITY_EDITS: dict[str, Any] = {
    "budget_fen": 5,
    "deadline": "2027-06-30",
}
CAPABILITY_EDITS: dict[str, Any] = {
    "maturity": "pilot",
    "accelerators": ["昇腾910B"],
}
COMMON_EDITS: dict[str, Any] = {
    "title": "新标题",
    "description": "新描述",
    "industry": "金融",
    "tags": ["风控"],
    "region": "杭州市",
    "org": "某单位",
    "batch": 2,
    "status": "matched",
    "contact": "王工",
}


def made(city: City) -> dict[str, str]:
    opportunity = city.post(city.agency, OPPORTUNITIES, {"title": "需求", "industry": "金融"})
    capability = city.post(city.enterprise, CAPABILITIES, {"title": "能力", "industry": "金融"})
    assert opportunity.status_code == capability.status_code == 201, capability.text
    return {
        "opportunities": f"{OPPORTUNITIES}/{opportunity.json()['id']}",
        "capabilities": f"{CAPABILITIES}/{capability.json()['id']}",
    }


@pytest.mark.parametrize(
    ("kind", "own", "foreign"),
    [
        ("opportunities", OPPORTUNITY_EDITS, CAPABILITY_EDITS),
        ("capabilities", CAPABILITY_EDITS, OPPORTUNITY_EDITS),
    ],
)
def test_a_patch_takes_every_field_of_its_kind_and_refuses_the_other_kinds_naming_it(
    city: City, kind: str, own: dict[str, Any], foreign: dict[str, Any]
) -> None:
    path = made(city)[kind]
    token = city.agency if kind == "opportunities" else city.enterprise
    for name, value in {**COMMON_EDITS, **own}.items():
        reply = patch(city, token, path, {name: value})
        assert reply.status_code == 200, (name, reply.text)
    for name, value in foreign.items():
        # with a valid change beside it: refused as a whole, nothing half-written
        reply = patch(city, token, path, {"title": "不应写入", name: value})
        assert (reply.status_code, reply.json()["field"]) == (422, name), reply.text
        assert city.get(token, path).json()["title"] == "新标题"


# ---------------------------------------------------------------- import: budgets

BUDGET_HEADER = f"{HEADER},budget_yuan,budget_wan_yuan,budget_fen\n"


@pytest.mark.parametrize(
    ("budget", "reason"),
    [
        *[(text, "有限的数字") for text in ("inf", "-inf", "Infinity", "nan", "NaN", "sNaN")],
        ("1e999999999", "超过上限"),
        ("1e999990", "超过上限"),  # in Decimal's range, but a million-digit integer of fen
        ("-1e999999999", "不小于 0"),
        ("1e-999999999", "最多 2 位小数"),  # not rounded to 0 on the way
    ],
)
def test_a_budget_that_is_no_finite_amount_of_whole_fen_is_a_422_naming_row_and_column(
    city: City, budget: str, reason: str
) -> None:
    text = BUDGET_HEADER + f"B1,标题,描述,金融,,,单位,{budget},,\n"
    reply = import_csv(city, city.agency, "opportunities", text)
    assert reply.status_code == 422, reply.text
    error = reply.json()
    assert (error["field"], error["details"]["row"]) == ("budget_yuan", 2)
    assert reason in error["message"]
    assert city.get(city.agency, OPPORTUNITIES).json()["total"] == 0


@pytest.mark.parametrize(
    ("cells", "column", "decimals"),
    [(("1.005", "", ""), "budget_yuan", "2"), (("", "0.0000001", ""), "budget_wan_yuan", "6")],
)
def test_a_fraction_of_a_fen_says_whole_fen_and_how_many_decimals(
    city: City, cells: tuple[str, str, str], column: str, decimals: str
) -> None:
    text = BUDGET_HEADER + "B1,标题,描述,金融,,,单位," + ",".join(cells) + "\n"
    reply = import_csv(city, city.agency, "opportunities", text)
    assert (reply.status_code, reply.json()["field"]) == (422, column), reply.text
    message = reply.json()["message"]
    assert f"最多 {decimals} 位小数" in message and "小于 1 分" not in message
    english = import_csv(city, city.agency, "opportunities", text, language="en")
    assert f"at most {decimals} decimals" in english.json()["message"]
    whole = import_csv(
        city, city.agency, "opportunities", BUDGET_HEADER + "B2,标题,,金融,,,,1.23,,\n"
    )
    assert whole.status_code == 201, whole.text
    assert city.get(city.agency, f"{OPPORTUNITIES}/B2").json()["extra"]["budget_fen"] == 123


# ---------------------------------------------------------------- ids a path can carry

BAD_IDS = ["a/b", "../../etc", "..", ".hidden", "-x", "_x", "a?b", "a#b", "a%2Fb", "a b", "a\\b"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_an_id_a_url_path_cannot_carry_is_refused_on_create_and_on_import(
    city: City, bad: str
) -> None:
    created = city.post(
        city.agency, OPPORTUNITIES, {"id": bad, "title": "需求", "industry": "金融"}
    )
    assert (created.status_code, created.json()["field"]) == (422, "id"), created.text
    imported = import_csv(city, city.agency, "opportunities", f'{HEADER}\n"{bad}",标题,,金融,,,\n')
    assert imported.status_code == 422, imported.text
    assert (imported.json()["field"], imported.json()["details"]["row"]) == ("id", 2)
    assert city.get(city.agency, OPPORTUNITIES).json()["total"] == 0


@pytest.mark.parametrize("good", ["OPP-001", "CAP_1.2", "成都-2024.001", "9x", "x" * 64])
def test_ids_of_letters_digits_and_dash_underscore_dot_are_reachable(city: City, good: str) -> None:
    created = city.post(city.agency, OPPORTUNITIES, {"id": good, "title": "需求", "industry": ""})
    assert created.status_code == 201, created.text
    path = f"{OPPORTUNITIES}/{good}"
    assert city.get(city.agency, path).json()["id"] == good
    assert patch(city, city.agency, path, {"title": "改"}).status_code == 200
    deleted = city.client.delete(path, headers=city.headers(city.agency))
    assert deleted.status_code == 204


# ---------------------------------------------------------------- export -> import round trip

TITLES = ["=1+1", "+86 571", "-x", "@SUM(A1)", "'quoted", "'=already", "''+twice", " padded "]
DESCRIPTIONS = ["\tpad", "'\t=x", "=cmd|' /C calc'!A0", "\n换行开头", "结尾空格 ", "'", "'-"]


def exported(city: City, kind: str, fmt: str) -> dict[str, Any]:
    reply = city.get(city.operator, f"/v1/scenes/export/{kind}", params={"format": fmt})
    assert reply.status_code == 200, reply.text
    if fmt == "csv":
        return {"content": reply.content.decode("utf-8-sig")}
    return {"content_base64": base64.b64encode(reply.content).decode()}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_imports_back_unchanged_whatever_its_text_starts_with(
    city: City, fmt: str
) -> None:
    ids = []
    for number, (title, description) in enumerate(zip(TITLES, DESCRIPTIONS * 2, strict=False)):
        body = {
            "id": f"RT{number}",
            "title": title,
            "description": description,
            "region": title,
            "org": title,
            "industry": "金融",
        }
        reply = city.post(city.agency, OPPORTUNITIES, body)
        assert reply.status_code == 201, reply.text
        ids.append(reply.json()["id"])
    before = {i: city.get(city.agency, f"{OPPORTUNITIES}/{i}").json() for i in ids}
    content = exported(city, "opportunities", fmt)
    for item_id in ids:  # the import must put every text back, not merely leave it alone
        scrambled = {"title": "x", "description": "x", "region": "x", "org": "x"}
        assert patch(city, city.agency, f"{OPPORTUNITIES}/{item_id}", scrambled).status_code == 200
    body = {"kind": "opportunities", "filename": f"o.{fmt}", **content}
    reply = city.post(city.agency, "/v1/scenes/import", body)
    assert reply.status_code == 201, reply.text
    for item_id, item in before.items():
        after = city.get(city.agency, f"{OPPORTUNITIES}/{item_id}").json()
        for name in ("title", "description", "region", "org"):
            assert after[name] == item[name], (item_id, name)


# ---------------------------------------------------------------- deployment modes


def test_a_repeated_deployment_mode_is_refused_and_a_file_drops_repeats(city: City) -> None:
    body = {"title": "能力", "industry": "金融", "deployment_modes": ["cloud", "edge", "cloud"]}
    refused = city.post(city.enterprise, CAPABILITIES, body)
    assert (refused.status_code, refused.json()["field"]) == (422, "deployment_modes")
    assert city.get(city.enterprise, CAPABILITIES).json()["total"] == 0
    text = f"{HEADER},deployment_modes\nC1,能力,,金融,,,,cloud；公有云；edge\n"
    assert import_csv(city, city.enterprise, "capabilities", text).status_code == 201
    item = city.get(city.enterprise, f"{CAPABILITIES}/C1").json()
    assert item["extra"]["deployment_modes"] == ["cloud", "edge"]


def test_a_row_stored_with_repeated_modes_before_the_rule_still_reads(city: City) -> None:
    text = f"{HEADER},deployment_modes\nC1,能力,,金融,,,,cloud\n"
    assert import_csv(city, city.enterprise, "capabilities", text).status_code == 201
    with city.app.db.session() as session:
        row = session.get(SceneCapabilityRow, "C1")
        assert row is not None
        row.deployment_modes = ["cloud", "cloud"]
        session.commit()
    assert city.get(city.operator, "/v1/scenes/export/capabilities").status_code == 200
    patched = patch(city, city.enterprise, f"{CAPABILITIES}/C1", {"title": "改"})
    assert patched.json()["extra"]["deployment_modes"] == ["cloud"]


# ---------------------------------------------------------------- challenges: funds, audit


def challenge_body(reward_fen: int) -> dict[str, Any]:
    return {
        "opportunity_id": "OPP-1",
        "goal": "缺陷检测",
        "reward_fen": reward_fen,
        "deadline": (date.today() + timedelta(days=10)).isoformat(),
        "criteria": [{"name": "效果", "weight_percent": 100}],
    }


def post_challenge(city: City, reward_fen: int) -> Any:
    return city.post(city.agency, "/v1/scenes/challenges", challenge_body(reward_fen))


def test_an_underfunded_challenge_names_reward_fen(city: City) -> None:
    city.post(city.agency, OPPORTUNITIES, {"id": "OPP-1", "title": "需求", "industry": "金融"})
    never_funded = post_challenge(city, 10_000)
    assert never_funded.status_code == 422, never_funded.text
    assert never_funded.json()["field"] == "reward_fen"
    agency = org_id(city, city.agency)
    top_up = {"amount_fen": 5_000, "external_reference": "拨付-1"}
    assert (
        city.post(city.operator, f"/v1/scenes/agencies/{agency}/top-ups", top_up).status_code == 201
    )
    short = post_challenge(city, 10_000)
    assert (short.status_code, short.json()["error"]) == (422, "insufficient_funds")
    assert short.json()["field"] == "reward_fen"


def audit_entries(city: City, token: str, action: str) -> list[dict[str, Any]]:
    reply = city.get(token, "/v1/audit", params={"limit": 500})
    assert reply.status_code == 200, reply.text
    return [entry for entry in reply.json()["items"] if entry["action"] == action]


def test_the_winner_reads_the_award_with_its_amount_and_the_other_side_reads_a_consent(
    city: City,
) -> None:
    agency = org_id(city, city.agency)
    top_up = {"amount_fen": 50_000, "external_reference": "拨付-1"}
    city.post(city.operator, f"/v1/scenes/agencies/{agency}/top-ups", top_up)
    city.post(city.agency, OPPORTUNITIES, {"id": "OPP-1", "title": "需求", "industry": "金融"})
    challenge = post_challenge(city, 30_000).json()["id"]
    path = f"/v1/scenes/challenges/{challenge}"
    proposal = city.post(city.enterprise, path + "/proposals", {"summary": "方案"}).json()["id"]
    city.post(city.agency, path + "/reviews", {"proposal_id": proposal, "scores": {"效果": 90}})
    awarded = city.post(city.agency, path + "/award", {"proposal_id": proposal})
    assert awarded.status_code == 200, awarded.text
    (entry,) = audit_entries(city, city.enterprise, "scenes.challenge.award")
    assert entry["about_org_id"] == city.enterprise_id
    assert entry["after"]["amount_fen"] == 30_000
    assert entry["after"]["winner_org_id"] == city.enterprise_id

    city.post(city.enterprise, CAPABILITIES, {"id": "CAP-1", "title": "能力", "industry": "金融"})
    pair = city.post(
        city.agency, "/v1/scenes/pairs", {"opportunity_id": "OPP-1", "capability_id": "CAP-1"}
    ).json()["id"]
    assert city.post(city.agency, f"/v1/scenes/pairs/{pair}/consent", {}).status_code == 200
    (consent,) = audit_entries(city, city.enterprise, "scenes.pair.consent")
    assert consent["about_org_id"] == city.enterprise_id
    (recommended,) = audit_entries(city, city.enterprise, "scenes.pair.recommend")
    assert recommended["org_id"] == agency


# ---------------------------------------------------------------- every 403 names a field


ORG = "organisation"  # who the caller is, as the permission table names it


def second_agency(city: City) -> str:
    body = {"name": "agency-b", "kind": "agency", "region": "浙江/杭州"}
    reply = city.post(city.operator, "/v1/organisations", body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


def test_every_scenes_refusal_of_who_you_are_names_the_field_at_fault(city: City) -> None:
    agency = org_id(city, city.agency)
    top_up = {"amount_fen": 50_000, "external_reference": "拨付-1"}
    city.post(city.operator, f"/v1/scenes/agencies/{agency}/top-ups", top_up)
    city.post(city.agency, OPPORTUNITIES, {"id": "OPP-1", "title": "需求", "industry": "金融"})
    city.post(city.enterprise, CAPABILITIES, {"id": "CAP-1", "title": "能力", "industry": "金融"})
    challenge = post_challenge(city, 30_000).json()["id"]
    path = f"/v1/scenes/challenges/{challenge}"
    proposal = city.post(city.enterprise, path + "/proposals", {"summary": "方案"}).json()["id"]
    pair = city.post(
        city.agency, "/v1/scenes/pairs", {"opportunity_id": "OPP-1", "capability_id": "CAP-1"}
    ).json()["id"]
    other_agency = second_agency(city)
    review = {"proposal_id": proposal, "scores": {"效果": 90}}
    pairs = "/v1/scenes/pairs"
    refusals = [  # (who, where, body, the field the 403 names)
        (
            city.enterprise,
            OPPORTUNITIES,
            {"title": "x", "industry": "金融", "org_id": agency},
            "org_id",
        ),
        (city.other_enterprise, pairs, {"opportunity_id": "OPP-1", "capability_id": "CAP-1"}, ORG),
        (city.operator, f"{pairs}/{pair}/consent", {}, ORG),
        (other_agency, path + "/reviews", review, ORG),
        (other_agency, path + "/award", {"proposal_id": proposal}, ORG),
        (city.enterprise, "/v1/scenes/challenges", challenge_body(30_000), ORG),
        (city.agency, f"/v1/scenes/agencies/{agency}/top-ups", top_up, ORG),
    ]
    for token, where, body, field in refusals:
        reply = city.post(token, where, body)
        assert (reply.status_code, reply.json()["field"]) == (403, field), (where, reply.text)
    stats = city.get(city.agency, "/v1/scenes/pipeline/stats")
    assert (stats.status_code, stats.json()["field"]) == (403, ORG)
    assert city.post(city.agency, path + "/reviews", review).status_code == 201
    awarded = city.post(city.agency, path + "/award", {"proposal_id": proposal})
    assert awarded.status_code == 200  # the refusals above changed nothing


# ---------------------------------------------------------------- industries, as README says


def test_industry_labels_are_kept_as_written_except_platform_aliases_and_empty(
    city: City,
) -> None:
    text = f"{HEADER}\nI1,标题,,制造,,,\nI2,标题,,,,,\nI3,标题,,养老,,,\n"
    reply = import_csv(city, city.agency, "opportunities", text)
    assert reply.status_code == 201, reply.text
    stored = {
        item["id"]: item["industry"]
        for item in city.get(city.agency, OPPORTUNITIES).json()["items"]
    }
    assert stored == {"I1": "智能制造", "I2": "其他", "I3": "养老"}
    found = city.get(city.agency, OPPORTUNITIES, params={"industry": "制造"}).json()
    assert [item["id"] for item in found["items"]] == ["I1"]


AUTOMOBILES = "A1,标题,,汽车制造业,,,\nA2,标题,,汽车,,,\nA3,标题,,C36,,,\nA4,标题,,Automobiles,,,\n"
OTHERS = "M1,标题,,智能制造,,,\nX1,标题,,火星采矿,,,\n"


def filtered_ids(city: City, industry: str) -> dict[str, list[str]]:
    """What each list that filters by industry answers: the list, the export, the storefront."""
    params = {"industry": industry}
    listed = city.get(city.agency, OPPORTUNITIES, params=params).json()["items"]
    export = city.get(city.agency, "/v1/scenes/export/opportunities", params=params)
    rows = csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")))
    public = city.client.get("/v1/public/scenes/opportunities", params=params).json()["items"]
    return {
        "list": [item["id"] for item in listed],
        "export": [row["id"] for row in rows],
        "storefront": [item["id"] for item in public],
    }


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["汽车制造业", "automobiles", " AUTOMOBILES ", "36", "C36", "c 36", "汽车", "汽 车"], "A"),
        (["C", "制造业", "manufacturing", "Smart  Manufacturing", "智能制造", "制造"], "M"),
        (["火星采矿", " 火星 采矿 "], "X"),
    ],
)
def test_every_list_finds_an_industry_by_any_of_its_names(
    city: City, names: list[str], expected: str
) -> None:
    """A GB/T code or English name, a platform name or alias, any case and spacing; words the
    taxonomy does not know find the items labelled with them, as typed."""
    text = HEADER + "\n" + AUTOMOBILES + OTHERS
    assert import_csv(city, city.agency, "opportunities", text).status_code == 201
    ids = sorted(line.split(",")[0] for line in (AUTOMOBILES + OTHERS).splitlines())
    wanted = [item for item in ids if item.startswith(expected)]
    for name in names:
        assert filtered_ids(city, name) == dict.fromkeys(("list", "export", "storefront"), wanted)


def test_an_industry_nobody_uses_is_an_empty_list_and_an_overlong_one_a_422(city: City) -> None:
    assert filtered_ids(city, "不存在的行业")["list"] == []
    reply = city.get(city.agency, OPPORTUNITIES, params={"industry": "行" * 101})
    assert reply.status_code == 422 and reply.json()["field"] == "industry"


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_filtering_by_the_industry_a_reader_is_shown_finds_the_item(
    city: City, language: str
) -> None:
    """What the list shows (光伏 → a 42-character GB/T English name for an en reader, 房地产
    → "real estate", which also names section K) typed back into the filter."""
    labels = ["光伏", "房地产", "K", "养老", "银行", "医药", "港口", "具身智能", "C36", "火星采矿"]
    rows = "".join(f"L{number},标题,,{label},,,\n" for number, label in enumerate(labels))
    assert import_csv(city, city.agency, "opportunities", f"{HEADER}\n{rows}").status_code == 201
    headers = {**city.headers(city.agency), "Accept-Language": language}
    shown = city.client.get(OPPORTUNITIES, headers=headers).json()["items"]
    for item in shown:
        params = {"industry": item["industry"]}
        found = city.client.get(OPPORTUNITIES, headers=headers, params=params)
        assert item["id"] in [row["id"] for row in found.json()["items"]], item
