"""The scenario exchange over HTTP end to end (real SQLite, real matcher in lexical-only mode
so tests stay fast): the README walk-through import -> match -> 对接 -> challenge with the
reward held and awarded through the ledger; and bad input, each naming row and field."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from suanli.services.scenes import IMPORT_BYTES_MAX, lexical_only_matcher
from tests.helpers import City, build_city, make_app

DATA = Path(__file__).parents[2] / "src" / "suanli" / "data" / "scenes"
HEADER = "id,title,description,industry,tags,region,org\n"


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    app = make_app(tmp_path)
    built = build_city(app)
    built.client.app.state.scene_matcher = lexical_only_matcher()  # type: ignore[attr-defined]
    yield built
    app.close()


def org_id(city: City, token: str) -> str:
    reply = city.get(token, "/v1/me")
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return str(body.get("org_id") or body["organisation"]["id"])


def fund_agency(city: City, agency: str, amount_fen: int) -> None:
    """Agencies are funded by an operator-recorded top-up (wallets.top_up is for enterprises)."""
    body = {"amount_fen": amount_fen, "external_reference": f"拨付-{amount_fen}"}
    reply = city.post(city.operator, f"/v1/scenes/agencies/{agency}/top-ups", body)
    assert reply.status_code == 201, reply.text


def import_csv(city: City, token: str, kind: str, text: str, **extra: Any) -> Any:
    body = {"kind": kind, "filename": f"{kind}.csv", "content": text, **extra}
    return city.post(token, "/v1/scenes/import", body)


def first_rows(kind: str, count: int) -> str:
    lines = (DATA / f"{kind}.csv").read_text(encoding="utf-8-sig").splitlines(keepends=True)
    return "".join(lines[: count + 1])


def test_walk_through_import_match_pipeline_and_challenge(city: City) -> None:
    agency = org_id(city, city.agency)
    fund_agency(city, agency, 1_000_000)
    opportunities = import_csv(city, city.agency, "opportunities", first_rows("opportunities", 8))
    assert opportunities.status_code == 201, opportunities.text
    assert opportunities.json()["created"] == 8
    capabilities = import_csv(city, city.enterprise, "capabilities", first_rows("capabilities", 30))
    assert capabilities.status_code == 201, capabilities.text
    listed = city.get(city.other_enterprise, "/v1/scenes/capabilities", params={"batch": 2})
    assert listed.json()["total"] >= 1

    found = city.get(city.agency, "/v1/scenes/opportunities/OPP-001/matches", params={"top": 3})
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["mode"] == "lexical-only" and len(body["candidates"]) == 3
    best = body["candidates"][0]
    assert "共同关键词" in best["why"] or "shared terms" in best["why"]

    city.client.patch(
        "/v1/scenes/opportunities/OPP-001",
        json={"contact": "王工 0571-0000"},
        headers=city.headers(city.agency),
    )
    city.client.patch(
        f"/v1/scenes/capabilities/{best['id']}",
        json={"contact": "李经理 138-0000"},
        headers=city.headers(city.enterprise),
    )
    pair = city.post(
        city.agency,
        "/v1/scenes/pairs",
        {"opportunity_id": "OPP-001", "capability_id": best["id"], "score": best["score"]},
    ).json()
    pair_path = f"/v1/scenes/pairs/{pair['id']}"
    moved = city.post(city.enterprise, pair_path + "/stage", {"stage": "interested"})
    assert moved.json()["stage_label"] == "意向"
    refused = city.post(city.agency, pair_path + "/stage", {"stage": "negotiating"})
    assert refused.status_code == 409 and refused.json()["field"] == "stage"
    city.post(city.agency, pair_path + "/consent", {})
    assert city.get(city.enterprise, pair_path).json()["contacts"] is None
    both = city.post(city.enterprise, pair_path + "/consent", {}).json()
    assert both["contacts"] == {"opportunity": "王工 0571-0000", "capability": "李经理 138-0000"}
    for stage in ("negotiating", "signed", "delivered"):
        reply = city.post(city.agency, pair_path + "/stage", {"stage": stage})
        assert reply.status_code == 200, reply.text
    history = city.get(city.operator, pair_path).json()["history"]
    assert [event["to"] for event in history] == [
        "recommended",
        "interested",
        "negotiating",
        "signed",
        "delivered",
    ]
    assert city.get(city.other_enterprise, pair_path).status_code == 404
    stats = city.get(city.operator, "/v1/scenes/pipeline/stats").json()
    assert stats["stages"]["delivered"] == 1
    assert city.get(city.agency, "/v1/scenes/pipeline/stats").status_code == 403

    challenge_walk_through(city, agency)


def balances(city: City, org: str) -> dict[str, int]:
    reply = city.get(city.operator, f"/v1/wallets/{org}/balances")
    assert reply.status_code == 200, reply.text
    wallet = reply.json()[0] if isinstance(reply.json(), list) else reply.json()["items"][0]
    return {key: value for key, value in wallet.items() if key.endswith("_fen")}


def challenge_walk_through(city: City, agency: str) -> None:
    deadline = (date.today() + timedelta(days=30)).isoformat()
    criteria = [
        {"name": "技术方案", "weight_percent": 60},
        {"name": "落地能力", "weight_percent": 40},
    ]
    body = {
        "opportunity_id": "OPP-002",
        "goal": "焊缝底片自动评级，准确率不低于95%",
        "reward_fen": 300_000,
        "deadline": deadline,
        "criteria": criteria,
    }
    assert city.post(city.enterprise, "/v1/scenes/challenges", body).status_code == 403
    posted = city.post(city.agency, "/v1/scenes/challenges", body)
    assert posted.status_code == 201, posted.text
    challenge = posted.json()
    path = f"/v1/scenes/challenges/{challenge['id']}"
    held = balances(city, agency)
    assert 300_000 in held.values()  # the reward is held (pending) on the agency's wallet
    proposal = city.post(city.enterprise, path + "/proposals", {"summary": "射线底片深度学习评级"})
    assert proposal.status_code == 201, proposal.text
    other = city.post(city.other_enterprise, path + "/proposals", {"summary": "人工复核外包"})
    assert other.status_code == 201
    scores = {"技术方案": 90, "落地能力": 80}
    review = city.post(
        city.operator, path + "/reviews", {"proposal_id": proposal.json()["id"], "scores": scores}
    )
    assert review.status_code == 201, review.text
    assert review.json()["score"] == 86.0
    bad = city.post(
        city.agency, path + "/reviews", {"proposal_id": other.json()["id"], "scores": {"x": 1}}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "scores"
    awarded = city.post(city.agency, path + "/award", {"proposal_id": proposal.json()["id"]})
    assert awarded.status_code == 200, awarded.text
    assert awarded.json()["state"] == "awarded"
    winner = city.get(city.enterprise, f"/v1/wallets/{city.enterprise_id}/balances")
    assert "300000" in winner.text
    again = city.post(city.agency, path + "/award", {"proposal_id": proposal.json()["id"]})
    assert again.status_code == 409


def test_cancelled_challenge_voids_the_hold(city: City) -> None:
    agency = org_id(city, city.agency)
    fund_agency(city, agency, 500_000)
    import_csv(city, city.agency, "opportunities", first_rows("opportunities", 2))
    body = {
        "opportunity_id": "OPP-001",
        "goal": "缺陷检测",
        "reward_fen": 500_000,
        "deadline": (date.today() + timedelta(days=10)).isoformat(),
        "criteria": [{"name": "效果", "weight_percent": 100}],
    }
    first = city.post(city.agency, "/v1/scenes/challenges", body).json()
    short = city.post(city.agency, "/v1/scenes/challenges", body)
    assert short.status_code == 422  # the whole balance is held by the first challenge
    cancelled = city.post(city.agency, f"/v1/scenes/challenges/{first['id']}/cancel", {})
    assert cancelled.json()["state"] == "cancelled"
    assert city.post(city.agency, "/v1/scenes/challenges", body).status_code == 201


def test_challenges_list_newest_first_and_proposals_page_on_the_server(city: City) -> None:
    fund_agency(city, org_id(city, city.agency), 30_000)
    import_csv(city, city.agency, "opportunities", first_rows("opportunities", 3))
    posted = []
    for number in (1, 2, 3):
        body = {
            "opportunity_id": f"OPP-00{number}",
            "goal": f"目标{number}",
            "reward_fen": 10_000,
            "deadline": (date.today() + timedelta(days=10)).isoformat(),
            "criteria": [{"name": "效果", "weight_percent": 100}],
        }
        reply = city.post(city.agency, "/v1/scenes/challenges", body)
        assert reply.status_code == 201, reply.text
        posted.append(reply.json()["id"])
    first = city.get(city.enterprise, "/v1/scenes/challenges", params={"limit": 2}).json()
    assert [c["id"] for c in first["items"]] == [posted[2], posted[1]]  # the newest first
    assert (first["total"], first["offset"], first["limit"]) == (3, 0, 2)
    last = city.get(city.enterprise, "/v1/scenes/challenges", params={"offset": 2}).json()
    assert [c["id"] for c in last["items"]] == [posted[0]]

    path = f"/v1/scenes/challenges/{posted[2]}/proposals"
    proposed = city.post(city.enterprise, path, {"summary": "先到的方案"}).json()
    assert (proposed["enterprise_id"], proposed["enterprise_name"]) == (city.enterprise_id, "ent-a")
    ours = proposed["id"]
    theirs = city.post(city.other_enterprise, path, {"summary": "后到的方案"}).json()["id"]
    one = city.get(city.agency, path, params={"limit": 1}).json()
    assert ([p["id"] for p in one["items"]], one["total"], one["limit"]) == ([ours], 2, 1)
    two = city.get(city.agency, path, params={"offset": 1, "limit": 1}).json()
    assert [p["id"] for p in two["items"]] == [theirs]  # in the order they came in
    assert [p["enterprise_name"] for p in two["items"]] == ["ent-b"]  # who proposed, by name
    mine = city.get(city.enterprise, path).json()  # an enterprise sees its own only
    assert ([p["id"] for p in mine["items"]], mine["total"]) == ([ours], 1)
    assert city.get(city.provider, path).status_code == 403
    beyond = city.get(city.agency, path, params={"offset": 5}).json()
    assert (beyond["items"], beyond["total"], beyond["offset"]) == ([], 2, 5)
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"offset": -1}, "offset"),
    ):
        refused = city.get(city.agency, path, params=params)
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text


def test_pairs_list_newest_first_a_page_at_a_time(city: City) -> None:
    import_csv(city, city.agency, "opportunities", first_rows("opportunities", 2))
    import_csv(city, city.enterprise, "capabilities", first_rows("capabilities", 2))
    made = []
    for number in (1, 2):
        body = {"opportunity_id": f"OPP-00{number}", "capability_id": f"CAP-00{number}"}
        reply = city.post(city.agency, "/v1/scenes/pairs", body)
        assert reply.status_code == 201, reply.text
        made.append(reply.json()["id"])
    page = city.get(city.enterprise, "/v1/scenes/pairs", params={"limit": 1}).json()
    assert ([p["id"] for p in page["items"]], page["total"]) == ([made[1]], 2)  # just made
    rest = city.get(city.enterprise, "/v1/scenes/pairs", params={"offset": 1}).json()
    assert [p["id"] for p in rest["items"]] == [made[0]]


def rows_text(*rows: str) -> str:
    return HEADER + "".join(row + "\n" for row in rows)


@pytest.mark.parametrize(
    ("rows", "row", "field"),
    [
        (("A1,,描述,金融,标签,杭州市,某单位",), 2, "title"),
        (
            ("A1,标题,描述,金融,标签,杭州市,某单位", "A1,标题二,描述,金融,标签,杭州市,某单位"),
            3,
            "id",
        ),
    ],
    ids=["empty title", "duplicate id"],
)
def test_bad_rows_import_nothing_and_name_row_and_field(
    city: City, rows: tuple[str, ...], row: int, field: str
) -> None:
    reply = import_csv(city, city.enterprise, "capabilities", rows_text(*rows))
    assert reply.status_code == 422, reply.text
    error = reply.json()
    assert error["field"] == field and error["details"]["row"] == row
    assert city.get(city.enterprise, "/v1/scenes/capabilities").json()["total"] == 0


def test_an_unknown_industry_is_kept_as_written_with_a_warning(city: City) -> None:
    reply = import_csv(
        city, city.enterprise, "capabilities", rows_text("A1,标题,描述,火星采矿,,,单位")
    )
    assert reply.status_code == 201, reply.text
    problem = reply.json()["report"]["problems"][0]
    assert (problem["row"], problem["field"], problem["severity"]) == (2, "industry", "warning")
    item = city.get(city.enterprise, "/v1/scenes/capabilities/A1").json()
    assert item["industry"] == "火星采矿"
    created = city.post(
        city.enterprise, "/v1/scenes/capabilities", {"title": "x", "industry": "养老"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["industry"] == "养老"
    listed = city.get(city.enterprise, "/v1/scenes/capabilities?industry=火星采矿").json()
    assert [row["id"] for row in listed["items"]] == ["A1"]


def test_oversize_upload_is_refused_naming_the_file(city: City) -> None:
    big = rows_text("A1,标题," + "长" * (IMPORT_BYTES_MAX // 3 + 10) + ",金融,,,单位")
    reply = import_csv(city, city.enterprise, "capabilities", big)
    assert reply.status_code == 413 and reply.json()["field"] == "file"


def test_gbk_csv_is_decoded_with_a_warning(city: City) -> None:
    data = rows_text("G1,智能客服,银行客服问答,金融,客服,杭州市,某银行").encode("gbk")
    body = {
        "kind": "opportunities",
        "filename": "gbk.csv",
        "content_base64": base64.b64encode(data).decode(),
    }
    reply = city.post(city.agency, "/v1/scenes/import", body)
    assert reply.status_code == 201, reply.text
    assert any(p["field"] == "encoding" for p in reply.json()["report"]["problems"])
    assert city.get(city.agency, "/v1/scenes/opportunities/G1").json()["title"] == "智能客服"


def test_roles_and_tenants(city: City) -> None:
    item = {"title": "算法", "industry": "金融"}
    assert city.post(city.provider, "/v1/scenes/capabilities", item).status_code == 403
    assert city.post(city.agency, "/v1/scenes/capabilities", item).status_code == 403
    created = city.post(city.enterprise, "/v1/scenes/capabilities", {**item, "contact": "秘密"})
    assert created.status_code == 201, created.text
    path = f"/v1/scenes/capabilities/{created.json()['id']}"
    assert city.get(city.other_enterprise, path).json()["contact"] is None
    patch = city.client.patch(
        path, json={"title": "改"}, headers=city.headers(city.other_enterprise)
    )
    assert patch.status_code == 403  # the item is public: refused as another's, not hidden
    curated = city.client.patch(
        path, json={"status": "closed"}, headers=city.headers(city.operator)
    )
    assert curated.json()["status"] == "closed"


def test_export_round_trips_through_import(city: City) -> None:
    import_csv(city, city.agency, "opportunities", first_rows("opportunities", 5))
    exported = city.get(city.operator, "/v1/scenes/export/opportunities", params={"format": "csv"})
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [row["id"] for row in rows] == [f"OPP-00{n}" for n in range(1, 6)]
    xlsx = city.get(city.operator, "/v1/scenes/export/opportunities", params={"format": "xlsx"})
    assert xlsx.content[:2] == b"PK"


def test_an_xlsx_export_keeps_a_formula_like_title_as_text_and_drops_control_characters(
    city: City,
) -> None:
    import_csv(city, city.agency, "opportunities", first_rows("opportunities", 1))
    path = "/v1/scenes/opportunities/OPP-001"
    bell = '=HYPERLINK("http://evil.invalid","点我")\x07'
    refused = city.client.patch(path, json={"title": bell}, headers=city.headers(city.agency))
    assert (refused.status_code, refused.json()["field"]) == (422, "title")
    title = '=HYPERLINK("http://evil.invalid","点我")'
    patched = city.client.patch(path, json={"title": title}, headers=city.headers(city.agency))
    assert patched.status_code == 200, patched.text
    xlsx = city.get(city.operator, "/v1/scenes/export/opportunities", params={"format": "xlsx"})
    assert xlsx.status_code == 200, xlsx.text
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    cells = [cell for row in sheet.iter_rows(min_row=2) for cell in row]
    (cell,) = [cell for cell in cells if str(cell.value).startswith("=HYPERLINK")]
    assert cell.data_type == "s" and cell.value == title  # text, never a formula Excel would run
    # CSV: an apostrophe keeps Excel from running it, and an import takes it off again.
    exported = city.get(city.operator, "/v1/scenes/export/opportunities", params={"format": "csv"})
    text = exported.content.decode("utf-8-sig")
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["title"] == "'" + title
    reimported = import_csv(city, city.agency, "opportunities", text)
    assert reimported.status_code == 201, reimported.text
    assert city.get(city.agency, path).json()["title"] == title
