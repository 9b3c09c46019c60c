"""Every error body carries `error`, `message` and `field`, refusals of permission included:
a client reads the field to know what to change (its token, the backend, the organisation)."""

from __future__ import annotations

from suanli.errors import Conflict, NotFound, PermissionDenied, SuanliError
from tests.e2e.test_api_compute import JOB
from tests.e2e.test_api_compute import city as city  # the same funded city (fixture)
from tests.helpers import City

LOCAL_POOL = {
    "name": "p", "accelerator_model": "L40S", "nodes": 1, "cards_per_node": 4,
    "region": "浙江/杭州/滨江", "price_fen_per_card_hour": 100,
}  # fmt: skip


def test_a_raised_error_without_a_field_still_has_the_key() -> None:
    assert SuanliError("x").to_dict()["field"] is None
    assert NotFound("x").to_dict()["field"] is None
    assert PermissionDenied("x").to_dict()["field"] == "Authorization"
    assert Conflict("x", field="name").to_dict()["field"] == "name"


def test_refusals_of_permission_name_what_to_change(city: City) -> None:
    job_id = city.post(city.enterprise, "/v1/jobs", dict(JOB, command="sleep 30")).json()["id"]
    refusals = {
        "no token": (city.client.get("/v1/jobs"), 401, "Authorization"),
        "provider lists a local pool": (
            city.post(city.provider, "/v1/pools", LOCAL_POOL), 403, "backend",
        ),
        "enterprise lists a pool": (
            city.post(city.enterprise, "/v1/pools", LOCAL_POOL), 403, "organisation",
        ),
        "provider lists for another": (
            city.post(city.provider, "/v1/pools", dict(LOCAL_POOL, provider_id="org_x")),
            403, "provider_id",
        ),
        "provider submits a job": (city.post(city.provider, "/v1/jobs", JOB), 403, "organisation"),
        "provider cancels a job": (
            city.post(city.provider, f"/v1/jobs/{job_id}/cancel", None), 403, "organisation",
        ),
    }  # fmt: skip
    for case, (reply, status, field) in refusals.items():
        body = reply.json()
        assert (reply.status_code, body.get("field")) == (status, field), (case, body)
        assert body["message"] and body["error"], case
    city.post(city.enterprise, f"/v1/jobs/{job_id}/cancel", None)


def test_a_replayed_answer_is_labelled_with_the_language_it_was_worded_in(city: City) -> None:
    bad = dict(JOB, cards=0)
    first = city.post(
        city.enterprise, "/v1/jobs", bad, {"Idempotency-Key": "k-lang", "Accept-Language": "en"}
    )
    assert (first.status_code, first.headers["content-language"]) == (422, "en")
    again = city.post(
        city.enterprise, "/v1/jobs", bad, {"Idempotency-Key": "k-lang", "Accept-Language": "zh-CN"}
    )
    assert again.headers["idempotent-replay"] == "true"
    assert again.json() == first.json()  # the first answer, as promised
    assert again.headers.get_list("content-language") == ["en"]  # and labelled as what it is
