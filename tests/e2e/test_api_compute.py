"""The compute API end to end over HTTP (real SQLite, real local backend)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from tests.helpers import City, build_city, fund, make_app, python_command

JOB = {
    "name": "hello",
    "command": python_command("print('hi from suanli')"),
    "cards": 2,
    "max_run_time_s": 60,
}


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    app = make_app(tmp_path)
    built = build_city(app)
    fund(app, built.enterprise_id)
    yield built
    app.close()


def run_until_done(city: City, job_id: str, token: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        city.app.runtime.tick()
        job = city.get(token, f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled", "timed_out"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s}s")


def test_health_needs_no_token_but_everything_else_does(city: City) -> None:
    assert city.client.get("/healthz").json() == {"status": "ok", "role": "all", "leading": True}
    for path in ("/v1/pools", "/v1/jobs", "/v1/catalog/accelerators", "/metrics", "/v1/me"):
        reply = city.client.get(path)
        assert reply.status_code == 401, path
        assert reply.json()["error"] == "not_authenticated"
    assert city.client.get("/v1/jobs", headers=city.headers("sl_wrong")).status_code == 401


def test_a_job_runs_and_gets_a_priced_usage_line_and_a_log(city: City) -> None:
    submitted = city.post(city.enterprise, "/v1/jobs", JOB)
    assert submitted.status_code == 201, submitted.text
    job = run_until_done(city, submitted.json()["id"], city.enterprise)
    assert job["state"] == "succeeded"
    assert job["pool_id"] == city.pool_id
    log = city.get(city.enterprise, f"/v1/jobs/{job['id']}/logs").json()
    assert "hi from suanli" in log["text"] and log["finished"]
    logs_path = f"/v1/jobs/{job['id']}/logs"
    far = city.get(city.enterprise, logs_path, params={"offset": 2**40}).json()
    assert far["text"] == "" and far["next_offset"] == 2**40  # past the end: nothing more yet
    too_far = city.get(city.enterprise, logs_path, params={"offset": 2**45})
    assert (too_far.status_code, too_far.json()["field"]) == (422, "offset")
    usage = city.get(city.enterprise, f"/v1/jobs/{job['id']}/usage").json()
    assert usage["cards"] == 2
    assert usage["card_seconds"] % 2 == 0
    assert usage["amount_fen"] == round(usage["card_seconds"] * 3600 / 3600)
    assert usage["accelerator_model"] == "H100-SXM"


def test_a_jobs_log_keeps_at_most_the_configured_bytes(tmp_path: Path) -> None:
    """SUANLI_JOB_LOG_MAX_BYTES reaches the local backend. Before: it was read and never used,
    and a job's stdout went straight to its log file, without a limit."""
    app = make_app(tmp_path, job_log_max_bytes=2048)
    try:
        city = build_city(app)
        fund(app, city.enterprise_id)
        spec = dict(JOB, command="head -c 3000000 /dev/zero | tr '\\0' y; echo the-end")
        job_id = city.post(city.enterprise, "/v1/jobs", spec).json()["id"]
        assert run_until_done(city, job_id, city.enterprise)["state"] == "succeeded"
        log = city.get(city.enterprise, f"/v1/jobs/{job_id}/logs").json()
        assert log["text"].startswith("y" * 2048 + "\n[suanli]"), log["text"][:80]
        assert "the-end" not in log["text"] and len(log["text"]) < 2048 + 300
        assert log["finished"]
    finally:
        app.close()


def test_the_job_sees_its_cards_and_accelerator(city: City) -> None:
    spec = dict(JOB, command="echo cards=$SUANLI_CARDS acc=$SUANLI_ACCELERATOR")
    job_id = city.post(city.enterprise, "/v1/jobs", spec).json()["id"]
    run_until_done(city, job_id, city.enterprise)
    text = city.get(city.enterprise, f"/v1/jobs/{job_id}/logs").json()["text"]
    assert "cards=0,1 acc=H100-SXM" in text


def test_a_failing_command_ends_failed_with_its_exit_code(city: City) -> None:
    job_id = city.post(city.enterprise, "/v1/jobs", dict(JOB, command="exit 3")).json()["id"]
    job = run_until_done(city, job_id, city.enterprise)
    assert (job["state"], job["exit_code"]) == ("failed", 3)


def test_the_maximum_run_time_is_enforced(city: City) -> None:
    spec = dict(JOB, command="sleep 30", max_run_time_s=1)
    job_id = city.post(city.enterprise, "/v1/jobs", spec).json()["id"]
    job = run_until_done(city, job_id, city.enterprise, timeout_s=20)
    assert job["state"] == "timed_out"
    usage = city.get(city.enterprise, f"/v1/jobs/{job_id}/usage").json()
    assert usage["card_seconds"] <= 1 * 2  # never charged past the limit


def test_cancel_stops_a_running_job(city: City) -> None:
    job_id = city.post(city.enterprise, "/v1/jobs", dict(JOB, command="sleep 30")).json()["id"]
    city.app.runtime.tick()
    assert city.get(city.enterprise, f"/v1/jobs/{job_id}").json()["state"] in ("placed", "running")
    assert city.post(city.enterprise, f"/v1/jobs/{job_id}/cancel", None).status_code == 200
    assert run_until_done(city, job_id, city.enterprise)["state"] == "cancelled"
    again = city.post(city.enterprise, f"/v1/jobs/{job_id}/cancel", None)
    assert again.status_code == 409 and again.json()["error"] == "invalid_transition"


def test_a_job_that_does_not_fit_now_queues_and_runs_when_cards_free(city: City) -> None:
    first = city.post(city.enterprise, "/v1/jobs", dict(JOB, cards=8, command="sleep 1")).json()
    second = city.post(city.enterprise, "/v1/jobs", dict(JOB, cards=8)).json()
    city.app.runtime.tick()
    assert city.get(city.enterprise, f"/v1/jobs/{second['id']}").json()["state"] == "queued"
    assert run_until_done(city, first["id"], city.enterprise)["state"] == "succeeded"
    assert run_until_done(city, second["id"], city.enterprise)["state"] == "succeeded"


def test_a_job_no_pool_could_ever_fit_is_refused_with_reasons(city: City) -> None:
    spec = dict(JOB, precision="bf16", min_memory_gib=141)
    reply = city.post(city.enterprise, "/v1/jobs", spec, headers={"Accept-Language": "en"})
    assert reply.status_code == 422
    assert reply.json()["details"]["reasons"] == ["no pool offers >= 141 GiB per card"]
    chinese = city.post(city.enterprise, "/v1/jobs", spec).json()["details"]["reasons"]
    assert chinese == ["没有资源池能提供每卡显存不少于 141 GiB"]
    assert city.get(city.enterprise, "/v1/jobs").json()["total"] == 0  # nothing written


def test_a_zero_budget_is_refused_unless_a_free_pool_fits(city: City) -> None:
    """Before: budget_fen 0 was accepted and queued; no priced pool can run a job for 0 fen,
    so the loop failed it later. A free pool can: there it is accepted and runs."""
    spec = dict(JOB, budget_fen=0)
    refused = city.post(city.enterprise, "/v1/jobs", spec, headers={"Accept-Language": "en"})
    assert (refused.status_code, refused.json()["field"]) == (422, "budget_fen"), refused.text
    assert "at least 1 fen" in refused.json()["message"]
    chinese = city.post(city.enterprise, "/v1/jobs", spec).json()
    assert "至少为 1 分" in chinese["message"], chinese
    assert city.get(city.enterprise, "/v1/jobs").json()["total"] == 0  # nothing written
    for budget in ({"budget_fen": 1}, {}):  # a positive budget, or none, is taken as before
        assert city.post(city.enterprise, "/v1/jobs", {**JOB, **budget}).status_code == 201
    free = {"name": "free", "accelerator_model": "A100-SXM4-80GB", "nodes": 1,
            "cards_per_node": 8, "region": "浙江/杭州/余杭", "price_fen_per_card_hour": 0,
            "provider_id": city.provider_id}  # fmt: skip
    assert city.post(city.operator, "/v1/pools", free).status_code == 201
    on_free = city.post(city.enterprise, "/v1/jobs", spec)
    assert on_free.status_code == 201, on_free.text
    done = run_until_done(city, on_free.json()["id"], city.enterprise)
    assert done["state"] == "succeeded", done


def test_quote_gives_the_price_range_over_feasible_pools(city: City) -> None:
    reply = city.post(city.enterprise, "/v1/jobs/quote", dict(JOB, max_run_time_s=1800))
    assert reply.status_code == 200
    body = reply.json()
    assert body["min_fen"] == body["max_fen"] == 3600  # 2 cards × 0.5 h × 3600 fen
    assert [line["pool_id"] for line in body["feasible_pools"]] == [city.pool_id]


def test_a_quote_lists_the_cheapest_pools_and_counts_them_all(city: City) -> None:
    from suanli.services.jobs import QUOTE_POOLS_MAX

    for index in range(QUOTE_POOLS_MAX + 5):
        created = city.post(city.operator, "/v1/pools", {
            "name": f"p{index}", "accelerator_model": "L40S", "nodes": 1, "cards_per_node": 4,
            "region": "浙江/杭州", "price_fen_per_card_hour": 100 + index,
            "provider_id": city.provider_id,
        })  # fmt: skip
        assert created.status_code == 201, created.text
    body = city.post(city.enterprise, "/v1/jobs/quote", dict(JOB, max_run_time_s=3600)).json()
    assert body["feasible_pools_total"] == QUOTE_POOLS_MAX + 6  # with the H100 pool
    prices = [line["price_fen_per_card_hour"] for line in body["feasible_pools"]]
    assert prices == list(range(100, 100 + QUOTE_POOLS_MAX))  # the cheapest, cheapest first
    assert (body["min_fen"], body["max_fen"]) == (200, 7200)  # over all of them


def test_tenants_see_only_their_own_jobs(city: City) -> None:
    job_id = city.post(city.enterprise, "/v1/jobs", JOB).json()["id"]
    city.app.runtime.tick()
    assert city.get(city.other_enterprise, f"/v1/jobs/{job_id}").status_code == 404
    assert city.get(city.other_enterprise, f"/v1/jobs/{job_id}/logs").status_code == 404
    assert city.get(city.other_enterprise, "/v1/jobs").json()["total"] == 0
    assert city.get(city.other_provider, f"/v1/jobs/{job_id}").status_code == 404
    seen = city.get(city.provider, f"/v1/jobs/{job_id}")
    assert seen.status_code == 200 and "command" not in seen.json()["spec"]
    assert city.get(city.operator, f"/v1/jobs/{job_id}").status_code == 200
    assert city.post(city.provider, f"/v1/jobs/{job_id}/cancel", None).status_code == 403


def test_only_enterprises_submit_jobs(city: City) -> None:
    for token in (city.provider, city.agency):
        assert city.post(token, "/v1/jobs", JOB).status_code == 403


def test_pool_crud_by_its_provider_only(city: City) -> None:
    path = f"/v1/pools/{city.pool_id}"
    changed = city.client.patch(
        path, json={"price_fen_per_card_hour": 4000}, headers=city.headers(city.provider)
    )
    assert changed.status_code == 200 and changed.json()["price_fen_per_card_hour"] == 4000
    other = city.client.patch(
        path, json={"price_fen_per_card_hour": 1}, headers=city.headers(city.other_provider)
    )
    assert other.status_code == 403 and other.json()["field"] == "pool_id"  # public: not hidden
    listed = city.get(city.enterprise, "/v1/pools", params={"limit": 1}).json()
    assert listed["total"] == 1 and listed["limit"] == 1
    assert city.client.delete(path, headers=city.headers(city.provider)).status_code == 204
    assert city.get(city.provider, path).status_code == 404


def test_only_the_operator_creates_local_pools(city: City) -> None:
    body = {
        "name": "mine",
        "accelerator_model": "L40S",
        "nodes": 1,
        "cards_per_node": 4,
        "region": "浙江/杭州",
        "price_fen_per_card_hour": 100,
    }
    assert city.post(city.provider, "/v1/pools", body).status_code == 403


BAD_POOLS = [
    ({"accelerator_model": "H999"}, "accelerator"),
    ({"price_fen_per_card_hour": -1}, "price_fen_per_card_hour"),
    ({"nodes": 0}, "nodes"),
    ({"cards_per_node": 0}, "cards_per_node"),
    ({"region": ""}, "region"),
    ({"name": ""}, "name"),
    ({"backend": "k8s"}, "backend"),
    ({"surprise": 1}, "surprise"),
]


@pytest.mark.parametrize(("change", "field"), BAD_POOLS)
def test_bad_pool_input_gets_4xx_naming_the_field(city: City, change: dict, field: str) -> None:
    body = {
        "name": "x",
        "accelerator_model": "L40S",
        "nodes": 1,
        "cards_per_node": 4,
        "region": "浙江/杭州",
        "price_fen_per_card_hour": 100,
        "provider_id": city.provider_id,
    }
    reply = city.post(city.operator, "/v1/pools", {**body, **change})
    assert 400 <= reply.status_code < 500
    assert reply.json()["field"] == field
    assert city.get(city.operator, "/v1/pools").json()["total"] == 1  # nothing written


BAD_JOBS = [
    ({"cards": 0}, "cards"),
    ({"cards": 6, "cards_per_node": 4}, "cards"),
    ({"precision": "fp4"}, "precision"),
    ({"max_run_time_s": 0}, "max_run_time_s"),
    ({"priority": 200}, "priority"),
    ({"command": ""}, "command"),
    ({"objective": "cheap"}, "objective"),
    ({"region": "a/b/c/d"}, "region"),
    ({"name": "x" * 500}, "name"),
    ({"unknown": True}, "unknown"),
]


@pytest.mark.parametrize(("change", "field"), BAD_JOBS)
def test_bad_job_input_gets_4xx_naming_the_field(city: City, change: dict, field: str) -> None:
    for path in ("/v1/jobs", "/v1/jobs/quote"):
        reply = city.post(city.enterprise, path, {**JOB, **change})
        assert reply.status_code == 422, reply.text
        assert reply.json()["field"] == field
    assert city.get(city.enterprise, "/v1/jobs").json()["total"] == 0


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/jobs", {"limit": 0}),
        ("/v1/jobs", {"limit": 100000}),
        ("/v1/jobs", {"offset": -1}),
        ("/v1/jobs", {"state": "dancing"}),
        ("/v1/pools", {"limit": 0}),
    ],
)
def test_bad_paging_gets_422_naming_the_field(city: City, path: str, params: dict) -> None:
    reply = city.get(city.enterprise, path, params=params)
    assert reply.status_code == 422
    assert reply.json()["field"] in params


def test_organisation_registration_is_operator_only_and_validated(city: City) -> None:
    body = {"name": "new", "kind": "enterprise"}
    assert city.post(city.enterprise, "/v1/organisations", body).status_code == 403
    bad = city.post(city.operator, "/v1/organisations", {"name": "n", "kind": "wizard"})
    assert bad.status_code == 422 and bad.json()["field"] == "kind"
    duplicate = city.post(
        city.operator, "/v1/organisations", {"name": "ent-a", "kind": "enterprise"}
    )
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "name"
    assert city.get(city.enterprise, f"/v1/organisations/{city.provider_id}").status_code == 404


def test_the_organisations_list_pages_on_the_server_and_filters_by_kind(city: City) -> None:
    first = city.get(city.operator, "/v1/organisations", params={"limit": 2}).json()
    assert (len(first["items"]), first["offset"], first["limit"]) == (2, 0, 2)
    assert first["total"] >= 5  # the operator, two providers, two enterprises, an agency
    rest = city.get(city.operator, "/v1/organisations", params={"offset": 2, "limit": 500})
    ids = [org["id"] for org in first["items"] + rest.json()["items"]]
    assert len(ids) == len(set(ids)) == first["total"]
    providers = city.get(city.operator, "/v1/organisations", params={"kind": "provider"}).json()
    assert providers["total"] >= 2 and {o["kind"] for o in providers["items"]} == {"provider"}
    own = city.get(city.enterprise, "/v1/organisations").json()
    assert [org["id"] for org in own["items"]] == [city.enterprise_id] and own["total"] == 1
    too_many = city.get(city.operator, "/v1/organisations", params={"limit": 501})
    assert too_many.status_code == 422 and too_many.json()["field"] == "limit"


def test_relationships_are_declared_and_validated(city: City) -> None:
    listed = city.get(city.operator, "/v1/organisations").json()["items"]
    orgs = {o["name"]: o["id"] for o in listed}
    body = {"from_org": orgs["ent-a"], "to_org": orgs["ent-b"], "kind": "parent_subsidiary"}
    assert city.post(city.enterprise, "/v1/organisations/relations", body).status_code == 201
    assert city.post(city.other_enterprise, "/v1/organisations/relations", body).status_code == 403
    bad = city.post(city.operator, "/v1/organisations/relations", {**body, "kind": "friends"})
    assert bad.status_code == 422 and bad.json()["field"] == "kind"
    missing = city.post(city.operator, "/v1/organisations/relations", {**body, "to_org": "org_x"})
    assert missing.status_code == 404


def test_an_idempotency_key_replays_the_first_result_and_refuses_a_different_body(
    city: City,
) -> None:
    headers = {"Idempotency-Key": "k-1"}
    first = city.post(city.enterprise, "/v1/jobs", JOB, headers=headers)
    again = city.post(city.enterprise, "/v1/jobs", JOB, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert city.get(city.enterprise, "/v1/jobs").json()["total"] == 1
    different = city.post(city.enterprise, "/v1/jobs", dict(JOB, name="other"), headers=headers)
    assert different.status_code == 409 and different.json()["error"] == "idempotency_conflict"


def test_a_result_whose_storing_meets_a_database_outage_is_answered_and_replayed_later(
    city: City,
) -> None:
    # The database goes away just after the submit committed, when the key's result is
    # stored (fault injected at the driver boundary, once). The job exists, so the answer is
    # its 201, and once the database is back the key replays it: never a second job, never a
    # key held until its lease runs out (before: 503, then 409 for five minutes).
    failed: list[str] = []

    def outage_once(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not failed and statement.lstrip().upper().startswith("UPDATE IDEMPOTENCY_KEYS"):
            failed.append(statement)
            raise OperationalError(statement, None, ConnectionError("server closed the connection"))

    engine = city.app.db.engine
    event.listen(engine, "before_cursor_execute", outage_once)
    headers = {"Idempotency-Key": "k-outage"}
    try:
        first = city.post(city.enterprise, "/v1/jobs", JOB, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", outage_once)
    assert failed, "the fault was never injected"
    assert first.status_code == 201, first.text
    deadline = time.monotonic() + 10
    again = city.post(city.enterprise, "/v1/jobs", JOB, headers=headers)
    while again.status_code == 409 and time.monotonic() < deadline:
        time.sleep(0.2)
        again = city.post(city.enterprise, "/v1/jobs", JOB, headers=headers)
    assert again.status_code == 201, again.text
    assert again.headers.get("Idempotent-Replay") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert city.get(city.enterprise, "/v1/jobs").json()["total"] == 1


def test_metrics_report_jobs_queue_and_allocated_cards(city: City) -> None:
    city.post(city.enterprise, "/v1/jobs", dict(JOB, command="sleep 5"))
    city.app.runtime.tick()
    assert city.get(city.enterprise, "/metrics").status_code == 403
    text = city.get(city.operator, "/metrics").text
    assert 'suanli_jobs{state="running"} 1.0' in text or 'suanli_jobs{state="placed"} 1.0' in text
    assert (
        f'suanli_pool_allocated_cards{{accelerator="H100-SXM",pool="{city.pool_id}"}} 2.0' in text
    )
    assert "suanli_queue_length 0.0" in text
