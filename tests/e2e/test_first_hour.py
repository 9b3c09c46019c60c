"""What a newcomer meets in the first hour (issue 14): Beijing dates, the error shape and
language everywhere, and exit codes that follow the README."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from suanli.domain.calendar import BEIJING
from tests.e2e.test_api_vouchers import hangzhou
from tests.e2e.test_cli_against_server import cli, server  # noqa: F401 (fixture)
from tests.helpers import City, build_city, make_app


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    app = make_app(tmp_path)
    yield build_city(app)
    app.close()


def beijing_today() -> str:
    return datetime.now(BEIJING).date().isoformat()


# -- 3. Beijing time ---------------------------------------------------------------------------
def test_a_program_valid_from_a_beijing_date_is_listed_from_that_date(city: City) -> None:
    today = beijing_today()
    until = (datetime.now(BEIJING).date() + timedelta(days=200)).isoformat()
    created = city.post(
        city.agency, "/v1/vouchers/programs", hangzhou(valid_from=today, valid_until=until)
    ).json()
    listed = city.get(city.agency, f"/v1/vouchers/programs/{created['id']}").json()
    for answer in (created, listed):
        assert answer["valid_from"] == f"{today}T00:00:00+08:00", answer["valid_from"]
        assert answer["created_at"].endswith("+08:00"), answer["created_at"]


def test_instants_in_every_answer_carry_the_beijing_offset(city: City) -> None:
    from tests.helpers import fund

    fund(city.app, city.enterprise_id)
    spec = {"name": "j", "command": "true", "cards": 1, "max_run_time_s": 60}
    job = city.post(city.enterprise, "/v1/jobs", spec).json()
    shown = city.get(city.enterprise, f"/v1/jobs/{job['id']}").json()
    assert job["submitted_at"].endswith("+08:00") and shown["submitted_at"].endswith("+08:00")
    statement = city.get(city.enterprise, f"/v1/wallets/{city.enterprise_id}/statement").json()
    assert all(line["timestamp"].endswith("+08:00") for line in statement["items"])


def test_an_ended_program_is_refused_with_its_end_in_beijing_time(city: City) -> None:
    start = (datetime.now(BEIJING).date() - timedelta(days=30)).isoformat()
    end = (datetime.now(BEIJING).date() - timedelta(days=1)).isoformat()
    program = city.post(
        city.agency, "/v1/vouchers/programs", hangzhou(valid_from=start, valid_until=end)
    ).json()
    body = {"is_sme": True, "region": "浙江/杭州", "founded_on": "2020-01-01", "requested_fen": 1}
    refused = city.client.post(
        f"/v1/vouchers/programs/{program['id']}/applications",
        json=body,
        headers={**city.headers(city.enterprise), "Accept-Language": "en"},
    )
    assert refused.status_code in (409, 422), refused.text
    assert f"{end} 00:00:00+08:00" in refused.json()["message"], refused.json()["message"]
    assert "+00:00" not in refused.json()["message"]


# -- 5. errors keep their promise -------------------------------------------------------------
def test_a_kubernetes_connection_is_refused_without_talking_about_how_we_test(city: City) -> None:
    body = {"name": "k", "kind": "kubernetes", "address": "https://k8s.invalid:6443"}
    for language in ("en", "zh-CN"):
        reply = city.client.post(
            "/v1/connections",
            json=body,
            headers={**city.headers(city.provider), "Accept-Language": language},
        )
        assert (reply.status_code, reply.json()["field"]) == (422, "kind")
        message = reply.json()["message"]
        assert "test" not in message.lower() and "machine" not in message.lower(), message
        assert ("Ray" in message) and ("Slurm" in message)


def test_validation_messages_follow_the_callers_language(city: City) -> None:
    spec = {"name": "j", "command": "true", "cards": 0}
    zh = city.client.post("/v1/jobs", json=spec, headers=city.headers(city.enterprise)).json()
    en = city.client.post(
        "/v1/jobs", json=spec, headers={**city.headers(city.enterprise), "Accept-Language": "en"}
    ).json()
    assert zh["field"] == en["field"] == "cards"
    assert "大于或等于" in zh["message"] and "greater than or equal" in en["message"]


def test_a_settings_error_names_the_setting_not_a_pydantic_dump(tmp_path: Path) -> None:
    env = {"SUANLI_LANGUAGE": "fr", "SUANLI_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "suanli.cli.main", "jobs", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "SUANLI_LANGUAGE=fr" in done.stderr and "zh-CN" in done.stderr
    assert "validation error" not in done.stderr and "Traceback" not in done.stderr


# -- 6. exit codes as the README says -----------------------------------------------------------
def _org(env: dict[str, str], kind: str) -> dict[str, Any]:
    return dict(
        json.loads(cli(env, "orgs", "create", "--name", kind, "--kind", kind, "--json").stdout)
    )


def test_cli_exit_codes_follow_the_readme(server: dict[str, str]) -> None:  # noqa: F811
    provider, enterprise = _org(server, "provider"), _org(server, "enterprise")
    cli(
        server, "pools", "create", "--name", "l40s", "--accelerator", "L40S", "--nodes", "1",
        "--cards-per-node", "4", "--region", "浙江/杭州/滨江", "--price-fen", "720",
        "--provider-id", provider["organisation"]["id"],
    )  # fmt: skip
    as_enterprise = {**server, "SUANLI_TOKEN": enterprise["token"]}
    broke = cli(
        as_enterprise, "jobs", "submit", "--name", "j", "--command", "true", "--cards", "2",
        check=False,
    )  # fmt: skip
    assert broke.returncode == 6, broke.stderr  # money rule: insufficient funds
    assert cli(as_enterprise, "jobs", "show", "job_missing", check=False).returncode == 4
    bad = cli(as_enterprise, "jobs", "submit", "--name", "j", "--command", "true", "--cards", "0",
              check=False)  # fmt: skip
    assert bad.returncode == 2, bad.stderr
    wrong = {**server, "SUANLI_TOKEN": "sl_wrong"}
    assert cli(wrong, "jobs", "list", check=False).returncode == 3
    again = cli(server, "orgs", "create", "--name", "provider", "--kind", "provider", check=False)
    assert again.returncode == 5, again.stderr  # the name is taken


# -- 11. a region a filter can find ------------------------------------------------------------
def test_a_pool_region_must_be_a_real_division_and_is_stored_in_short_names(city: City) -> None:
    from tests.helpers import fund

    body = {
        "name": "l40s", "accelerator_model": "L40S", "nodes": 1, "cards_per_node": 4,
        "price_fen_per_card_hour": 700, "provider_id": city.provider_id,
    }  # fmt: skip
    refused = city.post(city.operator, "/v1/pools", {**body, "region": "hangzhou"})
    assert (refused.status_code, refused.json()["field"]) == (422, "region")
    created = city.post(city.operator, "/v1/pools", {**body, "region": "浙江省/杭州市/滨江区"})
    assert created.json()["region"] == "浙江/杭州/滨江", created.text
    fund(city.app, city.enterprise_id)
    spec = {"name": "j", "command": "true", "accelerators": ["L40S"], "region": "浙江省/杭州市"}
    quote = city.post(city.enterprise, "/v1/jobs/quote", spec).json()
    assert [line["pool_id"] for line in quote["feasible_pools"]] == [created.json()["id"]]
    typo = city.post(city.enterprise, "/v1/jobs", {**spec, "region": "zhejiang"})
    assert (typo.status_code, typo.json()["field"]) == (422, "region")
