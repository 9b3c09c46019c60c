"""The city dashboard and the recorded ledger checks over HTTP, on SQLite and PostgreSQL: a
small city runs a subsidised job (finished) and a long one (running), publishes scenes and
moves a pair; every dashboard figure then equals what the detailed APIs report."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from suanli.services.dashboard import Dashboard, DashboardCache, VendorCards, utilisation_as_of
from suanli.services.scenes import lexical_only_matcher
from tests.e2e.test_api_scenes import first_rows, import_csv
from tests.e2e.test_api_vouchers import ascend_pool, granted, open_program, run_until_done
from tests.helpers import City, build_city, fund, make_app, python_command


@pytest.fixture
def city(tmp_path: Path, database_url: str) -> Iterator[City]:
    app = make_app(tmp_path, database_url, dashboard_cache_s=0)
    built = build_city(app)
    built.client.app.state.scene_matcher = lexical_only_matcher()  # type: ignore[attr-defined]
    fund(app, built.enterprise_id, 1_000_000)
    yield built
    app.close()


def submit(city: City, seconds: float, cards: int) -> str:
    job = {
        "name": f"sleep-{seconds}",
        "command": python_command(f"import time; time.sleep({seconds})"),
        "cards": cards,
        "max_run_time_s": 120,
        "accelerators": ["Ascend-910"],
    }
    reply = city.post(city.enterprise, "/v1/jobs", job)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


def run_until_running(city: City, job_id: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        city.app.runtime.tick()
        if city.get(city.operator, f"/v1/jobs/{job_id}").json()["state"] == "running":
            return
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not start")


def all_pages(city: City, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        reply = city.get(city.operator, path, params={**params, "offset": len(items), "limit": 500})
        assert reply.status_code == 200, reply.text
        page = reply.json()
        items += page["items"]
        if len(items) >= page["total"]:
            return items


def a_busy_city(city: City) -> tuple[str, str]:
    ascend_pool(city)
    program = open_program(city)
    granted(city, program["id"])
    finished = submit(city, 1.2, 2)
    assert run_until_done(city, finished)["state"] == "succeeded"
    running = submit(city, 60, 1)
    run_until_running(city, running)
    assert import_csv(city, city.agency, "opportunities", first_rows("opportunities", 3)).is_success
    assert import_csv(
        city, city.enterprise, "capabilities", first_rows("capabilities", 4)
    ).is_success
    capability = city.get(city.agency, "/v1/scenes/capabilities").json()["items"][0]["id"]
    pair = city.post(
        city.agency, "/v1/scenes/pairs", {"opportunity_id": "OPP-001", "capability_id": capability}
    )
    assert pair.status_code == 201, pair.text
    moved = city.post(
        city.enterprise, f"/v1/scenes/pairs/{pair.json()['id']}/stage", {"stage": "interested"}
    )
    assert moved.status_code == 200, moved.text
    return finished, running


def test_every_dashboard_figure_equals_what_the_detailed_apis_report(city: City) -> None:
    finished, running = a_busy_city(city)
    try:
        reply = city.client.get(
            "/v1/public/dashboard"
        )  # no credential: published like a wall screen
        assert reply.status_code == 200, reply.text
        board = reply.json()
        check_cards(city, board)
        check_jobs(city, board)
        check_money(city, board)
        check_scenes(city, board)
        check_utilisation(city, board, finished, running)
    finally:
        city.post(city.enterprise, f"/v1/jobs/{running}/cancel", {})
        run_until_done(city, running)


def check_cards(city: City, board: dict[str, Any]) -> None:
    by_vendor: dict[str, list[int]] = {}
    for pool in all_pages(city, "/v1/pools"):
        cards = pool["nodes"] * pool["cards_per_node"]
        entry = by_vendor.setdefault(pool["vendor"], [0, 0, 0])
        entry[0] += 1
        entry[1] += cards
        entry[2] += cards - pool["free_cards"]
    assert {v["vendor"]: [v["pools"], v["cards"], v["busy_cards"]] for v in board["vendors"]} == (
        by_vendor
    )
    assert by_vendor["Huawei"][2] == 1, "the running job holds one Ascend card"
    domestic = by_vendor["Huawei"][1]
    total = sum(entry[1] for entry in by_vendor.values())
    assert (board["cards"], board["domestic_cards"]) == (total, domestic)
    assert board["domestic_share_bp"] == (2 * domestic * 10_000 + total) // (2 * total)  # half up


def check_jobs(city: City, board: dict[str, Any]) -> None:
    for state, count in board["jobs_by_state"].items():
        listed = city.get(city.operator, "/v1/jobs", params={"state": state, "limit": 1}).json()
        assert listed["total"] == count, state
    assert board["jobs_by_state"]["succeeded"] == 1 and board["jobs_by_state"]["running"] == 1
    assert board["jobs_total"] == city.get(city.operator, "/v1/jobs").json()["total"]


def check_money(city: City, board: dict[str, Any]) -> None:
    platform = city.get(city.operator, "/v1/ledger/platform").json()
    (clearing,) = [a for a in platform if a["kind"] == "settlement_clearing"]
    assert board["gmv_fen"] == clearing["debits_posted"] > 0
    programs = all_pages(city, "/v1/vouchers/programs")
    paid = 0
    for program in programs:
        report = city.get(city.operator, f"/v1/vouchers/programs/{program['id']}/report").json()
        paid += report["totals"]["paid_fen"]
    assert board["vouchers_paid_fen"] == paid > 0


def check_scenes(city: City, board: dict[str, Any]) -> None:
    stats = city.get(city.operator, "/v1/scenes/pipeline/stats").json()
    assert board["pipeline"] == stats["stages"]
    assert board["pipeline"]["interested"] == 1
    for kind in ("opportunities", "capabilities"):
        assert board[kind] == city.get(city.operator, f"/v1/scenes/{kind}").json()["total"]


def check_utilisation(city: City, board: dict[str, Any], finished: str, running: str) -> None:
    buckets = board["utilisation"]
    assert len(buckets) == 24 and board["hours"] == 24
    # the series is read to the last whole minute before the answer's instant
    as_of = utilisation_as_of(datetime.fromisoformat(board["at"]))
    assert as_of.second == 0 and timedelta(0) <= datetime.fromisoformat(board["at"]) - as_of
    usage = city.get(city.operator, f"/v1/jobs/{finished}/usage").json()
    started = min(datetime.fromisoformat(usage["started_at"]), as_of)
    ended = min(datetime.fromisoformat(usage["ended_at"]), as_of)
    finished_card_s = usage["cards"] * (ended - started).total_seconds()
    job = city.get(city.operator, f"/v1/jobs/{running}").json()
    running_card_s = max(0.0, (as_of - datetime.fromisoformat(job["started_at"])).total_seconds())
    used = sum(bucket["used_card_seconds"] for bucket in buckets)
    assert abs(used - (finished_card_s + running_card_s)) <= 2 * len(buckets)  # whole seconds
    last = buckets[-1]
    last_start = datetime.fromisoformat(last["start"])
    assert last["capacity_card_seconds"] == board["cards"] * (as_of - last_start).total_seconds()
    assert last["utilisation_bp"] == last["used_card_seconds"] * 10_000 // max(
        1, last["capacity_card_seconds"]
    )


def test_the_window_is_bounded_and_named_when_wrong(city: City) -> None:
    for hours in (0, 169, "x"):
        reply = city.client.get("/v1/public/dashboard", params={"hours": hours})
        assert reply.status_code == 422 and reply.json()["field"] == "hours", reply.text
    week = city.client.get("/v1/public/dashboard", params={"hours": 168}).json()
    assert len(week["utilisation"]) == 24
    assert week["jobs_by_state"]["succeeded"] == 0 and week["gmv_fen"] == 0


def test_the_operator_records_ledger_checks_and_reads_the_newest_first(city: City) -> None:
    assert city.get(city.operator, "/v1/ledger/checks").json()["total"] == 0
    first = city.post(city.operator, "/v1/ledger/checks", {})
    assert first.status_code == 201, first.text
    second = city.post(city.operator, "/v1/ledger/checks", {}).json()
    assert first.json()["ok"] and second["ok"] and second["violation_count"] == 0
    on_demand = city.get(city.operator, "/v1/ledger/check").json()
    assert second["accounts_checked"] == on_demand["accounts_checked"] > 0
    listed = city.get(city.operator, "/v1/ledger/checks").json()
    assert listed["total"] == 2 and listed["items"][0]["id"] == second["id"]
    audit = city.get(city.operator, "/v1/audit", params={"action": "ledger.check"}).json()
    assert sum(1 for entry in audit["items"] if entry["action"] == "ledger.check") == 2
    assert city.post(city.enterprise, "/v1/ledger/checks", {}).status_code == 403


def test_the_cache_keeps_a_window_for_its_time_to_live_only() -> None:
    now = [100.0]
    cache = DashboardCache(5.0, monotonic=lambda: now[0])
    built: list[int] = []

    def build() -> Any:
        built.append(1)
        return len(built)

    assert cache.get(24, build) == 1
    now[0] += 4.9
    assert cache.get(24, build) == 1
    assert cache.get(48, build) == 2, "another window is another entry"
    now[0] += 0.2
    assert cache.get(24, build) == 3


def test_the_utilisation_series_moves_once_a_minute() -> None:
    """Refreshes within one minute read the same instant, so the chart is not redrawn."""
    first = utilisation_as_of(datetime(2026, 12, 6, 12, 34, 0, tzinfo=UTC))
    later = utilisation_as_of(datetime(2026, 12, 6, 12, 34, 59, 999_000, tzinfo=UTC))
    assert first == later == datetime(2026, 12, 6, 12, 34, tzinfo=UTC)
    next_minute = utilisation_as_of(datetime(2026, 12, 6, 12, 35, 0, 1, tzinfo=UTC))
    assert next_minute - first == timedelta(minutes=1)


def test_the_dashboards_domestic_share_rounds_half_up_like_its_chart() -> None:
    def board(domestic: int, imported: int) -> Dashboard:
        vendors = [VendorCards("Huawei", True, 1, domestic, 0)]
        vendors.append(VendorCards("NVIDIA", False, 1, imported, 0))
        return Dashboard(datetime.now(UTC), vendors, [], {}, 0, 0, {}, 0, 0)

    assert board(16, 1_074).domestic_share_bp == 147  # 146.79: truncated, it read 1.46 %
    assert board(1, 3).domestic_share_bp == 2_500 and board(0, 0).domestic_share_bp == 0
