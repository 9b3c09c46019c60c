"""Voucher programs over HTTP, where their money and their owners meet the rest of the API: a
refunded funding (the treasury's clawback) is net everywhere and never reaches approved grants;
refusals to other agencies name the field; names are one per agency among live programs; an
instant given in UTC is answered in Beijing time from the create on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from suanli.services import ledger
from tests.e2e.test_api_vouchers import city as city  # the same city (fixture)
from tests.e2e.test_api_vouchers import day, hangzhou, open_program
from tests.helpers import City


def small_program(city: City, name: str = "上海模型券") -> dict[str, Any]:
    return open_program(
        city, name=name, budget_fen=1000, cap_per_enterprise_fen=1000, tiers=[], base_ratio="0.3"
    )


def fund_program(city: City, program_id: str, amount_fen: int, reference: str) -> Any:
    body = {"amount_fen": amount_fen, "external_reference": reference}
    return city.post(city.agency, f"/v1/vouchers/programs/{program_id}/funding", body)


def refund(city: City, transfer_id: str, amount_fen: int | None = None) -> Any:
    body = {"transfer_id": transfer_id, "amount_fen": amount_fen, "reason": "treasury clawback"}
    return city.post(city.operator, "/v1/refunds", body)


def report(city: City, program_id: str) -> dict[str, Any]:
    reply = city.get(city.agency, f"/v1/vouchers/programs/{program_id}/report")
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def assert_consistent(found: dict[str, Any], funded: int, remaining: int, committed: int) -> None:
    """Totals, the burn-down's last day and the identity funded = committed + paid + remaining
    all say the same; nothing was redeemed, so nothing is paid."""
    totals = found["totals"]
    expected = {"funded_fen": funded, "remaining_fen": remaining, "committed_fen": committed}
    assert totals == {**expected, "paid_fen": 0}, totals
    last = found["burn_down"][-1]
    assert {k: last[k] for k in totals} == totals, last


def apply_and_approve(city: City, program_id: str, quota_fen: int) -> str:
    facts = {"is_sme": True, "region": "浙江/杭州", "founded_on": "2020-01-01"}
    application = city.post(
        city.enterprise,
        f"/v1/vouchers/programs/{program_id}/applications",
        {**facts, "requested_fen": quota_fen},
    )
    assert application.status_code == 201, application.text
    path = f"/v1/vouchers/applications/{application.json()['id']}/approve"
    assert city.post(city.agency, path, {"quota_fen": quota_fen}).status_code == 201
    return str(application.json()["id"])


def ledger_ok(city: City) -> None:
    assert ledger.run_check(city.app.db).ok


# ---------------------------------------------------------------------------------------------
# A refunded funding


def test_a_refunded_funding_is_net_in_the_report_the_burn_down_and_the_budget_cap(
    city: City,
) -> None:
    program = small_program(city)
    funding = fund_program(city, program["id"], 1000, "SH-1")
    assert funding.status_code == 201, funding.text
    assert refund(city, funding.json()["id"], 400).status_code == 201
    assert_consistent(report(city, program["id"]), funded=600, remaining=600, committed=0)
    shown = city.get(city.agency, f"/v1/vouchers/programs/{program['id']}").json()["totals"]
    assert shown == report(city, program["id"])["totals"]
    # The cap counts what the program holds from its treasury: 600 + 400 is the budget again.
    assert fund_program(city, program["id"], 400, "SH-2").status_code == 201
    over = fund_program(city, program["id"], 1, "SH-3")
    assert over.status_code == 422 and over.json()["field"] == "amount_fen", over.text
    assert_consistent(report(city, program["id"]), funded=1000, remaining=1000, committed=0)
    ledger_ok(city)


def test_a_clawback_never_takes_what_approved_grants_hold(city: City) -> None:
    program = small_program(city)
    funding = fund_program(city, program["id"], 1000, "SH-1").json()
    application_id = apply_and_approve(city, program["id"], 700)
    too_much = refund(city, funding["id"], 301)
    assert too_much.status_code == 422, too_much.text
    assert too_much.json()["field"] == "amount_fen"
    assert too_much.json()["details"]["unallocated_fen"] == 300
    everything = refund(city, funding["id"])  # the default is the whole transfer: 1000
    assert everything.status_code == 422 and everything.json()["field"] == "amount_fen"
    assert_consistent(report(city, program["id"]), funded=1000, remaining=300, committed=700)
    # A grant is the agency's decision, not a payment: no refund moves it back to the budget.
    grant = refund(city, f"voucher:grant:{application_id}", 100)
    assert grant.status_code == 422, grant.text
    assert grant.json()["field"] == "transfer_id"
    assert refund(city, funding["id"], 300).status_code == 201
    assert_consistent(report(city, program["id"]), funded=700, remaining=0, committed=700)
    (view,) = city.get(city.enterprise, "/v1/vouchers/grants").json()["items"]
    assert view["balance_fen"] == view["quota_fen"] == 700
    ledger_ok(city)


# ---------------------------------------------------------------------------------------------
# Refusals to other agencies name the field


def other_agency(city: City) -> str:
    body = {"name": "另一个经信局", "kind": "agency", "region": "浙江/宁波"}
    reply = city.post(city.operator, "/v1/organisations", body)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["token"])


def test_another_agency_is_refused_naming_the_program_or_the_application(city: City) -> None:
    program = open_program(city)
    fund_program(city, program["id"], 500_000, "拨款-1")
    facts = {"is_sme": False, "region": "浙江/杭州", "founded_on": "2020-01-01"}
    application = city.post(
        city.enterprise,
        f"/v1/vouchers/programs/{program['id']}/applications",
        {**facts, "requested_fen": 10},
    ).json()
    stranger = other_agency(city)
    path = f"/v1/vouchers/programs/{program['id']}"
    headers = city.headers(stranger)
    attempts = {
        "patch": city.client.patch(path, json={"name": "hijack"}, headers=headers),
        "delete": city.client.delete(path, headers=headers),
        "fund": city.post(
            stranger, path + "/funding", {"amount_fen": 1, "external_reference": "x"}
        ),
        "report": city.get(stranger, path + "/report"),
    }
    for what, reply in attempts.items():
        assert reply.status_code == 403, (what, reply.text)
        assert reply.json()["field"] == "program_id", (what, reply.json())
    decisions = f"/v1/vouchers/applications/{application['id']}"
    for action, body in (("approve", {"quota_fen": 10}), ("reject", {"reason": "no"})):
        reply = city.post(stranger, f"{decisions}/{action}", body)
        assert reply.status_code == 403, reply.text
        assert reply.json()["field"] == "application_id", reply.json()
    assert city.get(city.agency, path).json()["name"] == program["name"]


# ---------------------------------------------------------------------------------------------
# Names


def rename(city: City, program_id: str, name: str) -> Any:
    path = f"/v1/vouchers/programs/{program_id}"
    return city.client.patch(path, json={"name": name}, headers=city.headers(city.agency))


def test_renaming_to_a_name_in_use_says_so_as_create_does(city: City) -> None:
    first = open_program(city, name="杭州市算力券")
    second = open_program(city, name="语料券", category="corpus")
    created = city.post(city.agency, "/v1/vouchers/programs", hangzhou(name="杭州市算力券"))
    renamed = rename(city, second["id"], "杭州市算力券")
    assert created.status_code == renamed.status_code == 409, renamed.text
    assert renamed.json() == created.json()
    assert renamed.json()["field"] == "name" and "杭州市算力券" in renamed.json()["message"]
    assert rename(city, first["id"], "杭州市算力券").status_code == 200  # its own name: fine


def test_a_deleted_programs_name_is_free_again(city: City) -> None:
    gone = open_program(city, name="试点券")
    deleted = city.client.delete(
        f"/v1/vouchers/programs/{gone['id']}", headers=city.headers(city.agency)
    )
    assert deleted.status_code == 204, deleted.text
    again = city.post(city.agency, "/v1/vouchers/programs", hangzhou(name="试点券"))
    assert again.status_code == 201, again.text
    city.client.delete(
        f"/v1/vouchers/programs/{again.json()['id']}", headers=city.headers(city.agency)
    )
    other = open_program(city, name="语料券", category="corpus")
    assert rename(city, other["id"], "试点券").status_code == 200
    assert [p["name"] for p in city.get(city.agency, "/v1/vouchers/programs").json()["items"]] == [
        "试点券"
    ]


# ---------------------------------------------------------------------------------------------
# Instants


def test_a_utc_instant_is_answered_in_beijing_time_as_every_read_shows_it(city: City) -> None:
    until = datetime.fromisoformat(day(200) + "T04:30:00+00:00")
    created = open_program(city, valid_until=until.isoformat().replace("+00:00", "Z"))
    assert created["valid_until"].endswith("+08:00"), created["valid_until"]
    assert datetime.fromisoformat(created["valid_until"]) == until
    (listed,) = city.get(city.agency, "/v1/vouchers/programs").json()["items"]
    shown = city.get(city.agency, f"/v1/vouchers/programs/{created['id']}").json()
    for read in (listed, shown):
        assert (read["valid_from"], read["valid_until"]) == (
            created["valid_from"],
            created["valid_until"],
        )
