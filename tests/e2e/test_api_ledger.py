"""Money over HTTP end to end, on SQLite and PostgreSQL: top-up with Idempotency-Key, holds at
submit, settlement at completion, balances, statements, payout, refund, monthly exports, check."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from suanli.services.wallets import CHINA_STANDARD_TIME
from tests.e2e.test_cli_against_server import cli, server  # noqa: F401 (a fixture)
from tests.helpers import City, build_city, make_app, python_command
from tests.language import has_chinese


@pytest.fixture
def city(tmp_path: Path, database_url: str) -> Iterator[City]:
    app = make_app(tmp_path, database_url)
    yield build_city(app)
    app.close()


def top_up(city: City, amount: object, reference: str = "ICBC-1", **extra: object) -> object:
    body = {"amount_fen": amount, "external_reference": reference, **extra}
    return city.post(city.operator, f"/v1/wallets/{city.enterprise_id}/top-ups", body)


def wallet(city: City, token: str | None = None) -> dict:
    reply = city.get(token or city.enterprise, f"/v1/wallets/{city.enterprise_id}/balances")
    assert reply.status_code == 200, reply.text
    return next(a for a in reply.json() if a["kind"] == "enterprise_wallet")


def run_until_done(city: City, job_id: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        city.app.runtime.tick()
        job = city.get(city.enterprise, f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled", "timed_out"):
            return dict(job)
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_top_up_replays_by_key_and_by_bank_reference_and_conflicts_on_change(city: City) -> None:
    key = {"Idempotency-Key": "topup-1"}
    body = {"amount_fen": 50_000, "external_reference": "ICBC-1"}
    path = f"/v1/wallets/{city.enterprise_id}/top-ups"
    first = city.post(city.operator, path, body, headers=key)
    assert first.status_code == 201, first.text
    again = city.post(city.operator, path, body, headers=key)
    assert again.json() == first.json() and again.headers.get("Idempotent-Replay") == "true"
    changed = city.post(city.operator, path, {**body, "amount_fen": 60_000}, headers=key)
    assert changed.status_code == 409
    same_reference = top_up(city, 50_000, "ICBC-1")
    assert same_reference.json()["id"] == first.json()["id"]  # type: ignore[attr-defined]
    other_amount = top_up(city, 1, "ICBC-1")
    assert other_amount.status_code == 409  # type: ignore[attr-defined]
    assert wallet(city)["available_fen"] == 50_000


@pytest.mark.parametrize(
    ("amount", "extra", "status", "error"),
    [
        (0, {}, 422, "invalid_amount"),
        (-100, {}, 422, "invalid_amount"),
        (12.5, {}, 422, "invalid_input"),
        ("100", {}, 422, "invalid_input"),
        (10**16, {}, 422, "invalid_input"),  # over money.FEN_MAX: the request type refuses it
        (100, {"currency": "USD"}, 422, "currency_mismatch"),
    ],
)
def test_bad_amounts_and_currencies_get_a_typed_4xx_and_write_nothing(
    city: City, amount: object, extra: dict, status: int, error: str
) -> None:
    reply = top_up(city, amount, f"bad-{error}", **extra)
    assert reply.status_code == status, reply.text  # type: ignore[attr-defined]
    assert reply.json()["error"] == error  # type: ignore[attr-defined]
    statement = city.get(city.operator, f"/v1/wallets/{city.enterprise_id}/statement").json()
    assert statement["total"] == 0


def test_only_the_operator_moves_money_and_tenants_see_only_their_own(city: City) -> None:
    mine = city.post(
        city.enterprise,
        f"/v1/wallets/{city.enterprise_id}/top-ups",
        {"amount_fen": 100, "external_reference": "self"},
    )
    assert mine.status_code == 403
    assert top_up(city, 100, "x").status_code == 201  # type: ignore[attr-defined]
    other = city.get(city.other_enterprise, f"/v1/wallets/{city.enterprise_id}/balances")
    assert other.status_code == 404
    ghost = city.post(
        city.operator, "/v1/wallets/org_ghost/top-ups", {"amount_fen": 1, "external_reference": "g"}
    )
    assert ghost.status_code == 404
    assert city.get(city.enterprise, "/v1/ledger/check").status_code == 403
    payout = city.post(
        city.operator,
        "/v1/payouts",
        {"provider_id": city.provider_id, "amount_fen": 1, "external_reference": "too-early"},
    )
    assert payout.status_code == 422 and payout.json()["error"] in (
        "unknown_account",
        "insufficient_funds",
    )


def test_a_job_is_refused_with_the_missing_amount_when_the_wallet_is_short(city: City) -> None:
    top_up(city, 1_000)
    job = {"name": "big", "command": python_command("print(1)"), "cards": 2, "max_run_time_s": 3600}
    refused = city.post(city.enterprise, "/v1/jobs", job)
    assert refused.status_code == 422
    assert refused.json()["error"] == "insufficient_funds"
    assert refused.json()["details"]["missing_fen"] == 2 * 3_600 - 1_000  # 2 cards × 1 h × ¥36
    assert wallet(city)["pending_fen"] == 0


def test_a_job_is_held_settled_paid_out_refunded_and_the_ledger_stays_consistent(
    city: City,
) -> None:
    top_up(city, 100_000)
    # 8 cards for about 2 s at 3,600 fen per card-hour: some 16 fen, enough for a 1 fen fee.
    command = python_command("import time; time.sleep(2)")
    job = {"name": "train", "command": command, "cards": 8, "max_run_time_s": 60}
    submitted = city.post(city.enterprise, "/v1/jobs", job)
    assert submitted.status_code == 201, submitted.text
    assert wallet(city)["pending_fen"] == 480  # 8 cards × 60 s at 1 fen per card-second
    done = run_until_done(city, submitted.json()["id"])
    assert done["state"] == "succeeded"
    usage = city.get(city.enterprise, f"/v1/jobs/{done['id']}/usage").json()
    assert usage["amount_fen"] > 0
    after = wallet(city)
    assert (after["pending_fen"], after["posted_fen"]) == (0, 100_000 - usage["amount_fen"])
    provider = city.get(city.operator, f"/v1/wallets/{city.provider_id}/balances").json()
    owed = sum(a["posted_fen"] for a in provider if a["kind"] == "provider_receivable")
    platform = {
        a["kind"]: a["posted_fen"] for a in city.get(city.operator, "/v1/ledger/platform").json()
    }
    assert owed + platform["platform_revenue"] == usage["amount_fen"]
    assert platform["settlement_clearing"] == 0

    ended = datetime.fromisoformat(usage["ended_at"].replace("Z", "+00:00"))
    month = ended.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m")
    _assert_monthly_exports(city, done["id"], usage["amount_fen"], month)
    paid = city.post(
        city.operator,
        "/v1/payouts",
        {"provider_id": city.provider_id, "amount_fen": owed, "external_reference": "PAY-1"},
    )
    assert (paid.status_code, paid.json()["already_recorded"]) == (201, False), paid.text
    again = city.post(
        city.operator,
        "/v1/payouts",
        {"provider_id": city.provider_id, "amount_fen": owed, "external_reference": "PAY-1"},
    )  # the bank file sent twice: the first payout again, nothing paid twice
    assert (again.status_code, again.json()["already_recorded"]) == (200, True), again.text
    assert again.json()["id"] == paid.json()["id"]
    audit = city.get(city.operator, "/v1/audit", params={"action": "wallet.payout"}).json()
    assert audit["total"] == 1, audit
    # The provider was paid already: reversing its share now would overdraw its receivable.
    late = city.post(city.operator, "/v1/refunds", {"job_id": done["id"], "reason": "SLA"})
    assert late.status_code == 422 and late.json()["error"] == "insufficient_funds"
    check = city.get(city.operator, "/v1/ledger/check").json()
    assert check["ok"] and check["violations"] == []


def _assert_monthly_exports(city: City, job_id: str, amount_fen: int, month: str) -> None:
    statement = city.get(city.enterprise, f"/v1/statements/{city.enterprise_id}/{month}").json()
    (line,) = statement["lines"]
    assert line["job_id"] == job_id and line["amount_fen"] == amount_fen
    assert line["subsidy_fen"] == 0 and line["unit_price_fen_per_card_hour"] == 3_600
    csv_reply = city.get(
        city.enterprise, f"/v1/statements/{city.enterprise_id}/{month}", params={"format": "csv"}
    )
    assert csv_reply.headers["content-type"].startswith("text/csv") and job_id in csv_reply.text
    html_reply = city.get(
        city.enterprise, f"/v1/statements/{city.enterprise_id}/{month}", params={"format": "html"}
    )
    assert (
        html_reply.headers["content-type"].startswith("text/html") and "<table" in html_reply.text
    )
    assert "default-src 'none'" in html_reply.headers["content-security-policy"]
    assert html_reply.headers["x-content-type-options"] == "nosniff"
    for language, word, other in (("zh-CN", "期初余额", "Opening"), ("en", "Opening", "期初余额")):
        printable = printable_statement(city, month, language)
        # one language per document: the labels had both in every line
        assert word in printable and other not in printable, language
        assert f'<html lang="{language}">' in printable
    _assert_movements_are_worded(city, month)


def printable_statement(city: City, month: str, language: str) -> str:
    return str(
        city.client.get(
            f"/v1/statements/{city.enterprise_id}/{month}",
            params={"format": "html"},
            headers={**city.headers(city.enterprise), "Accept-Language": language},
        ).text
    )


def _assert_movements_are_worded(city: City, month: str) -> None:
    """Why money moved, in the reader's words: the movements showed the transfer codes
    `top_up` and `job_capture` in either language."""
    chinese = printable_statement(city, month, "zh-CN")
    english = printable_statement(city, month, "en")
    assert "充值" in chinese and "作业扣款" in chinese, chinese
    assert "top-up" in english and "job charge" in english, english
    for printable in (chinese, english):
        assert "top_up" not in printable and "job_capture" not in printable, printable
    assert not has_chinese(english), english  # tenant text here (ent-a, train) is ASCII


def test_a_refund_reverses_a_top_up_and_never_more_than_it(city: City) -> None:
    original = top_up(city, 1_000).json()  # type: ignore[attr-defined]
    partial = city.post(
        city.operator,
        "/v1/refunds",
        {"transfer_id": original["id"], "amount_fen": 400, "reason": "paid twice"},
        headers={"Idempotency-Key": "refund-1"},
    )
    assert partial.status_code == 201, partial.text
    assert partial.json()[0]["amount_fen"] == 400
    too_much = city.post(
        city.operator,
        "/v1/refunds",
        {"transfer_id": original["id"], "amount_fen": 601, "reason": "x"},
    )
    assert too_much.status_code == 422
    assert wallet(city)["posted_fen"] == 600
    lines = city.get(
        city.enterprise, f"/v1/wallets/{city.enterprise_id}/statement", params={"limit": 1}
    ).json()
    assert (
        lines["total"] == 2
        and len(lines["items"]) == 1
        and lines["items"][0]["signed_fen"] == 1_000
    )
    naive = city.get(
        city.enterprise,
        f"/v1/wallets/{city.enterprise_id}/statement",
        params={"since": "2025-01-01T00:00:00"},
    )
    assert naive.status_code == 422


def test_the_ledger_cli_reaches_every_money_operation(
    server: dict[str, str],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    enterprise = json.loads(
        cli(server, "orgs", "create", "--name", "e", "--kind", "enterprise", "--json").stdout
    )["organisation"]["id"]
    funded = cli(
        server,
        "ledger",
        "topup",
        "--org",
        enterprise,
        "--amount-fen",
        "5000",
        "--reference",
        "BANK-1",
        "--json",
    )
    transfer_id = json.loads(funded.stdout)["id"]
    balance = json.loads(cli(server, "ledger", "balance", "--org", enterprise, "--json").stdout)
    assert balance[0]["available_fen"] == 5_000
    refunded = cli(
        server,
        "ledger",
        "refund",
        "--transfer",
        transfer_id,
        "--amount-fen",
        "1000",
        "--reason",
        "overpaid",
        "--json",
    )
    assert json.loads(refunded.stdout)["amount_fen"] == 1_000
    page = json.loads(cli(server, "ledger", "statement", "--org", enterprise, "--json").stdout)
    assert [line["signed_fen"] for line in page["items"]] == [5_000, -1_000]
    month = datetime.now(CHINA_STANDARD_TIME).strftime("%Y-%m")
    html_file = tmp_path / "statement.html"
    cli(
        server,
        "ledger",
        "monthly",
        "--org",
        enterprise,
        "--month",
        month,
        "--format",
        "html",
        "-o",
        str(html_file),
    )
    assert "<table" in html_file.read_text(encoding="utf-8")
    bad = cli(
        server,
        "ledger",
        "topup",
        "--org",
        enterprise,
        "--amount-fen",
        "0",
        "--reference",
        "BANK-2",
        check=False,
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert cli(server, "ledger", "expire").returncode == 0
    checked = json.loads(cli(server, "ledger", "check", "--json").stdout)
    assert checked["ok"] and checked["transfers_checked"] == 2
