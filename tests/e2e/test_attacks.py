"""What a red team found attacking the running API: each class of bug with the test that
proves it gone."""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from suanli.adapters.db.migrate import upgrade
from suanli.domain.calendar import BEIJING
from tests.e2e.test_api_vouchers import hangzhou
from tests.e2e.test_hardening import (
    CONCURRENT,
    _concurrently,
    _smuggle_queued_job,
    job_spec,
    run_until,
)
from tests.e2e.test_hardening import city as city  # the same funded city, on both databases
from tests.helpers import City, build_city, make_app

# -- numbers too big for the scheduler's floats ---------------------------------------------------
ABSURD = [
    pytest.param("deadline_s", 10**400, id="deadline-1e400"),
    pytest.param("deadline_s", 2**63, id="deadline-2^63"),
    pytest.param("budget_fen", 10**400, id="budget-1e400"),
    pytest.param("budget_fen", 2**63, id="budget-2^63"),
]


@pytest.mark.parametrize(("field", "value"), ABSURD)
@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/jobs/quote"])
def test_an_absurd_deadline_or_budget_is_refused_naming_the_field(
    city: City, path: str, field: str, value: int
) -> None:
    body = job_spec(objective="deadline", **{field: value})
    reply = city.post(city.enterprise, path, body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["field"] == field, reply.text


@pytest.mark.parametrize(("field", "value"), ABSURD)
def test_a_stored_job_with_an_absurd_deadline_or_budget_never_stops_the_round(
    city: City, field: str, value: int
) -> None:
    """Before: `submitted_at_s + deadline_s` and `cost <= budget_fen` raised OverflowError in
    the policy, the whole tick failed, and no tenant's job was ever placed again."""
    bad = _smuggle_queued_job(city, {"objective": "deadline", field: value})
    healthy = city.post(city.enterprise, "/v1/jobs", job_spec(name="healthy")).json()
    done = run_until(city, city.enterprise, healthy["id"], {"succeeded"})
    assert done["state"] == "succeeded"
    assert city.get(city.enterprise, f"/v1/jobs/{bad}").json()["state"] != "running"


# -- formula injection in exports ------------------------------------------------------------------
FORMULA = '=HYPERLINK("http://evil.example","pay")'


def test_the_monthly_statement_csv_never_hands_a_spreadsheet_a_formula(city: City) -> None:
    job = city.post(city.enterprise, "/v1/jobs", job_spec(name=FORMULA)).json()
    run_until(city, city.enterprise, job["id"], {"succeeded"})
    month = datetime.now(BEIJING).strftime("%Y-%m")
    path = f"/v1/statements/{city.enterprise_id}/{month}"
    reply = city.get(city.enterprise, path, params={"format": "csv"})
    assert reply.status_code == 200, reply.text
    rows = list(csv.reader(io.StringIO(reply.text)))
    names = [row[1] for row in rows[1:]]
    assert names == ["'" + FORMULA], rows  # shown as text; the apostrophe is hidden
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "@"))], rows
    # the JSON statement keeps the name as the tenant wrote it
    assert city.get(city.enterprise, path).json()["lines"][0]["job_name"] == FORMULA


# -- bodies JSON cannot parse ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"name": "\xff\xfe", "command": "x"}', id="not-utf8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-100k"),
        pytest.param(
            b'{"name": "j", "command": "x", "cards": ' + b"9" * 5_000 + b"}", id="5k-digits"
        ),
    ],
)
def test_a_body_json_cannot_parse_is_refused_naming_the_body(city: City, raw: bytes) -> None:
    """Before: 400 `http_error`, "HTTP error 400", field `request`: nothing said what was wrong."""
    headers = {**city.headers(city.enterprise), "Content-Type": "application/json"}
    for language, words in (("zh-CN", "JSON"), ("en", "JSON")):
        reply = city.client.post(
            "/v1/jobs", content=raw, headers={**headers, "Accept-Language": language}
        )
        assert reply.status_code == 422, reply.text
        body = reply.json()
        assert (body["error"], body["field"]) == ("invalid_input", "body"), body
        assert words in body["message"], body


# -- text that displays as something else ----------------------------------------------------------
SPOOFS = {
    "override": "invoice\u202egpj.exe",  # RIGHT-TO-LEFT OVERRIDE: shows "invoiceexe.jpg"
    "embedding": "a\u202bb",
    "isolate": "\u2066admin\u2069",
}


@pytest.mark.parametrize("bad", list(SPOOFS.values()), ids=list(SPOOFS))
def test_bidirectional_controls_are_refused_naming_the_field(city: City, bad: str) -> None:
    """Before: accepted and stored. An override reverses what follows it wherever the name is
    shown (portal, CLI, CSV, audit log), so one tenant's name or command reads as another
    (CVE-2021-42574, "Trojan Source")."""
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        (city.operator, "/v1/organisations", {"name": bad, "kind": "enterprise"}, "name"),
        (city.enterprise, "/v1/jobs", job_spec(name=bad), "name"),
        (city.enterprise, "/v1/jobs", job_spec(command=f"echo {bad}"), "command"),
        (city.agency, "/v1/vouchers/programs", hangzhou(name=bad), "name"),
        (city.agency, "/v1/scenes/opportunities", {"title": bad, "industry": "制造"}, "title"),
    ]
    for token, path, body, field in cases:
        reply = city.post(token, path, body)
        assert reply.status_code == 422, (path, reply.text)
        assert reply.json()["field"] == field, (path, reply.json())
    reply = city.get(city.enterprise, "/v1/jobs", params={"name": bad})
    assert reply.status_code == 422, reply.text
    assert city.get(city.enterprise, "/v1/jobs").json()["total"] == 0  # nothing half-written


def test_text_in_any_script_and_emoji_still_pass(city: City) -> None:
    names = ["مرحبا\u200f", "👩\u200d💻 团队", "שלום abc", "杭州\u200b算力"]
    for name in names:
        reply = city.post(city.enterprise, "/v1/jobs", job_spec(name=name))
        assert reply.status_code == 201, reply.text
        assert reply.json()["name"] == name


# -- spreadsheets that unpack into far more work than their size -----------------------------------
def _xlsx(far_row: int, far_column: int, padding: int = 0) -> bytes:
    """Two real items, a blank cell at (far_row, far_column), and `padding` spaces of XML
    whitespace in the sheet: a few kilobytes on the wire either way."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["id", "title", "description", "industry", "tags", "region", "org"])
    sheet.append(["C1", "缺陷检测", "视觉", "制造", "", "杭州市", "某厂"])
    sheet.append(["C2", "质检", "视觉", "制造", "", "杭州市", "某厂"])
    sheet.cell(row=far_row, column=far_column, value=" ")  # blank once stripped: no item
    out = io.BytesIO()
    workbook.save(out)
    if not padding:
        return out.getvalue()
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    padded = io.BytesIO()
    with zipfile.ZipFile(padded, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<sheetData>", b"<sheetData>" + b" " * padding)
            target.writestr(info.filename, data)
    return padded.getvalue()


@pytest.mark.parametrize(
    ("far_row", "far_column", "padding", "field"),
    [
        # each blank row up to the last is read, each padded to the widest row
        pytest.param(2_000, 16_000, 0, "columns", id="wide-and-tall"),
        pytest.param(1_048_576, 3, 0, "rows", id="last-row"),
        pytest.param(3, 3, 300 * 1024 * 1024, "file", id="unpacks-to-300MiB"),
    ],
)
def test_a_spreadsheet_that_unpacks_into_too_much_work_is_refused(
    city: City, far_row: int, far_column: int, padding: int, field: str
) -> None:
    """Before: a 5 KB file with one cell at (2000, 16000) took 7 s of a worker (inside the
    import's database transaction) and was accepted; one at XFD1048576 would take an hour."""
    data = _xlsx(far_row, far_column, padding)
    assert len(data) < 2 * 1024 * 1024
    body = {
        "kind": "capabilities",
        "filename": "list.xlsx",
        "content_base64": base64.b64encode(data).decode(),
    }
    reply = city.post(city.enterprise, "/v1/scenes/import", body)
    assert reply.status_code in (413, 422), reply.text
    assert reply.json()["field"] == field, reply.text
    assert city.get(city.enterprise, "/v1/scenes/capabilities").json()["total"] == 0


# -- a month in another spelling -------------------------------------------------------------------
@pytest.mark.parametrize("month", ["2026-1", "2026-001", " 2026-01", "2026-01 ", "２０２６-０１"])
def test_a_month_not_spelled_yyyy_mm_is_refused(city: City, month: str) -> None:
    """Before: strptime took `2026-1` for January, and the statement echoed the odd spelling
    in its body and its download's file name."""
    reply = city.get(city.enterprise, f"/v1/statements/{city.enterprise_id}/{month}")
    assert reply.status_code == 422, reply.text
    assert reply.json()["field"] == "month", reply.text


# -- a bank reference reused for different money --------------------------------------------------
def test_a_reference_reused_for_different_money_is_refused_naming_the_reference(
    city: City,
) -> None:
    """Before: 409 naming `id` with the internal transfer id (`topup:…`), a field the caller
    never sent; the caller could not tell which of its values collided."""
    program = city.post(city.agency, "/v1/vouchers/programs", hangzhou()).json()["id"]
    agency_id = city.get(city.agency, "/v1/me").json()["org_id"]
    writes = [
        (city.operator, f"/v1/wallets/{city.enterprise_id}/top-ups"),
        (city.agency, f"/v1/vouchers/programs/{program}/funding"),
        (city.operator, f"/v1/scenes/agencies/{agency_id}/top-ups"),
    ]
    for token, path in writes:
        first = city.post(token, path, {"amount_fen": 500, "external_reference": "BANK-7"})
        assert (first.status_code, first.json()["already_recorded"]) == (201, False), first.text
        # A replay, not an error, and said the same way on every such write (before: 201 for
        # program funding and agency top-ups, and an audit entry per replay).
        again = city.post(token, path, {"amount_fen": 500, "external_reference": "BANK-7"})
        assert (again.status_code, again.json()["already_recorded"]) == (200, True), again.text
        other = city.post(token, path, {"amount_fen": 900, "external_reference": "BANK-7"})
        assert other.status_code == 409, other.text
        body = other.json()
        assert (body["error"], body["field"]) == ("idempotency_conflict", "external_reference")
        assert "BANK-7" in body["message"] and ":" not in body["message"].split("BANK-7")[0]
    for action in ("wallet.top_up", "voucher.program_fund", "scenes.agency.top_up"):
        entries = city.get(city.operator, "/v1/audit", params={"action": action}).json()
        by_people = [entry for entry in entries["items"] if entry["actor_id"] != "system"]
        assert len(by_people) == 1, (action, entries)  # the city's own funding is the system's


def test_concurrent_top_ups_of_one_reference_credit_once_and_say_so_once(
    tmp_path: Path, postgres_schema_url: str
) -> None:
    """Before: eight concurrent top-ups of one bank reference credited once, but several
    answered 201 with `already_recorded: false` (the check ran before any lock), so the
    operator's own books would count the money several times."""
    upgrade(postgres_schema_url)
    app = make_app(tmp_path, postgres_schema_url)
    city = build_city(app)
    path = f"/v1/wallets/{city.enterprise_id}/top-ups"

    def send() -> Any:
        client = TestClient(city.client.app)
        body = {"amount_fen": 700, "external_reference": "ICBC-RACE"}
        return client.post(path, json=body, headers=city.headers(city.operator))

    replies = _concurrently(send)
    answers = sorted((r.status_code, r.json()["already_recorded"]) for r in replies)
    assert answers == [(200, True)] * (CONCURRENT - 1) + [(201, False)], answers
    balance = city.get(city.operator, f"/v1/wallets/{city.enterprise_id}/balances").json()
    assert balance[0]["posted_fen"] == 700
    app.close()


# -- a long string reported as a list --------------------------------------------------------------
def test_a_string_too_long_is_counted_in_characters_in_both_languages(city: City) -> None:
    """Before: an optional string field (`Line | None`, 42 of them) or a map's string value
    over its limit was refused as "Value should have at most 64 items" / "最多 64 项":
    pydantic checks the length on the union and reports it as a collection's."""
    pool = {
        "name": "p",
        "accelerator_model": "H100-SXM",
        "nodes": 1,
        "cards_per_node": 1,
        "region": "浙江/杭州",
        "price_fen_per_card_hour": 1,
        "provider_id": city.provider_id,
        "software": {"CUDA": "1" * 300},
    }
    for language, unit in (("zh-CN", "64 个字符"), ("en", "64 characters")):
        headers = {**city.headers(city.operator), "Accept-Language": language}
        reply = city.client.get("/v1/audit", params={"org_id": "a" * 100}, headers=headers)
        assert reply.status_code == 422 and reply.json()["field"] == "org_id", reply.text
        assert unit in reply.json()["message"], reply.text
        reply = city.client.post("/v1/pools", json=pool, headers=headers)
        assert reply.status_code == 422 and reply.json()["field"] == "software.CUDA", reply.text
        assert unit.replace("64", "200") in reply.json()["message"], reply.text


def test_an_empty_optional_string_is_counted_in_characters_in_both_languages(city: City) -> None:
    """The same for `min_length`: an empty name in a PATCH read "至少 1 项" / "at least 1 item"."""
    path = f"/v1/pools/{city.pool_id}"
    for language, unit in (("zh-CN", "至少 1 个字符"), ("en", "at least 1 character")):
        headers = {**city.headers(city.operator), "Accept-Language": language}
        reply = city.client.patch(path, json={"name": ""}, headers=headers)
        assert reply.status_code == 422 and reply.json()["field"] == "name", reply.text
        assert unit in reply.json()["message"] and "项" not in reply.json()["message"], reply.text


def test_a_path_too_long_is_refused_without_echoing_it(city: City) -> None:
    reply = city.get(city.enterprise, "/v1/jobs/" + "a" * 5_000)
    assert (reply.status_code, reply.json()["field"]) == (422, "path"), reply.text
    assert "aaaa" not in reply.text and len(reply.text) < 500
    assert city.get(city.enterprise, "/v1/jobs/" + "a" * 900).status_code == 404


def test_a_choice_list_reads_in_one_language(city: City) -> None:
    from suanli.api.validation_messages import problem_message
    from suanli.i18n import using_language

    problem = {"type": "literal_error", "ctx": {"expected": "'admin', 'member' or 'viewer'"}}
    with using_language("zh-CN"):
        assert problem_message(problem) == "应为以下之一: 'admin'、'member'、'viewer'"
    with using_language("en"):
        assert problem_message({**problem, "msg": "Input should be 'admin'"}).startswith("Input")


def test_a_name_of_invisible_characters_only_is_blank(city: City) -> None:
    """A zero-width space (or a BOM, a joiner) alone shows nothing: refused like an empty name."""
    from suanli.domain.text import is_blank

    assert is_blank("\u200b\u2060\ufeff \u3000") and not is_blank("a\u200b")
    job = {"name": "\u200b", "command": "true", "cards": 1, "max_run_time_s": 60}
    reply = city.post(city.enterprise, "/v1/jobs", job)
    assert (reply.status_code, reply.json()["field"]) == (422, "name"), reply.text
    pool = city.client.patch(
        f"/v1/pools/{city.pool_id}", json={"name": "\u200b\u200d"},
        headers=city.headers(city.operator),
    )  # fmt: skip
    assert (pool.status_code, pool.json()["field"]) == (422, "name"), pool.text
