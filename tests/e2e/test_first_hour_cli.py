"""The CLI a newcomer meets in the first hour (issue 14, items 7-11): fast help in the chosen
language, full ids at 80 columns, readable summaries with --json for machines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_api_scenes import HEADER, city, import_csv  # noqa: F401 (fixture)
from tests.e2e.test_cli_against_server import cli, server  # noqa: F401 (fixture)
from tests.helpers import City

CJK = re.compile(r"[\u4e00-\u9fff]")
HEAVY_MODULES = (
    "fastapi",
    "sqlalchemy",
    "numpy",
    "httpx",
    "pydantic_settings",
    "suanli.cli.bench",
    "suanli.cli.bench_ledger",
    "suanli.cli.bench_scenes",
    "suanli.services",
    "suanli.adapters",
)


def run_python(code: str, language: str = "zh-CN") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SUANLI_LANGUAGE": language, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def suanli(*args: str, language: str = "zh-CN") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SUANLI_LANGUAGE": language, "COLUMNS": "80"}
    return subprocess.run(
        [sys.executable, "-m", "suanli.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- 9. start-up ------------------------------------------------------------------------------
HELP_THEN_LIST_MODULES = f"""
import contextlib, io, json, sys
from suanli.cli.main import app
with contextlib.redirect_stdout(io.StringIO()):
    try:
        app(["--help"])
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in sys.modules if m in {HEAVY_MODULES!r})))
"""


def test_suanli_help_imports_no_server_database_or_benchmark_module() -> None:
    done = run_python(HELP_THEN_LIST_MODULES)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [], done.stdout


# Every command's and sub-command's help, walked from the app itself, so a new command is
# covered as soon as it is registered. One process per area: an area's help may import the
# area's own module (suanli.cli.bench for `bench`), and a heavy module one area loaded would
# hide another area's. The command bodies import the database, services, httpx... when they run.
HELP_TREE_THEN_LIST_MODULES = f"""
import contextlib, io, json, sys
from typer.core import TyperGroup
from suanli.cli.main import AREAS_BY_NAME, app, load_area
area = AREAS_BY_NAME[sys.argv[1]]
heavy = [m for m in {HEAVY_MODULES!r} if m != area.target.partition(":")[0]]
found = {{}}
def walk(command, path):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            app([*path, "--help"])
        except SystemExit:
            pass
    found[" ".join(path)] = sorted(m for m in heavy if m in sys.modules)
    if isinstance(command, TyperGroup):
        for name, child in command.commands.items():
            walk(child, [*path, name])
walk(load_area(area), [area.name])
print(json.dumps(found))
"""


def heavy_modules_per_help(area: str) -> dict[str, list[str]]:
    env = {**os.environ, "SUANLI_LANGUAGE": "en", "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-c", HELP_TREE_THEN_LIST_MODULES, area],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_the_help_of_every_command_and_sub_command_imports_no_heavy_module() -> None:
    from suanli.cli.main import AREAS

    found: dict[str, list[str]] = {}
    for area in AREAS:
        found.update(heavy_modules_per_help(area.name))
    assert {"demo", "ledger topup", "scenes pairs stage", "simulate packing", "bench api"} <= set(
        found
    ), sorted(found)  # the walk reached the groups' sub-commands
    assert {path: heavy for path, heavy in found.items() if heavy} == {}


def test_a_command_imports_its_area_when_it_runs() -> None:
    done = run_python(
        HELP_THEN_LIST_MODULES.replace('["--help"]', '["bench", "--help"]'), language="en"
    )
    assert done.returncode == 0, done.stderr
    assert "suanli.cli.bench" in json.loads(done.stdout)


def test_bench_cli_prints_startup_figures_and_the_same_run_baseline() -> None:
    done = suanli("bench", "cli", "--repeat", "1", "--json")
    assert done.returncode == 0, done.stderr
    figures = {f["command"]: f for f in json.loads(done.stdout)["commands"]}
    assert set(figures) == {
        "python -c pass",
        "suanli --help",
        "suanli jobs --help",
        "suanli scenes --help",
    }
    assert figures["python -c pass"]["ratio_to_baseline"] == 1.0
    assert all(f["median_s"] > 0 and f["p95_s"] >= f["median_s"] for f in figures.values())


# -- 7. help in both languages ----------------------------------------------------------------
EVERY_HELP = """
import json
from typer.core import TyperGroup
from suanli.cli.main import AREAS, load_area

helps = {}
def walk(command, path):
    helps[path] = [command.help or ""] + [
        getattr(p, "help", None) or "" for p in command.params
    ]
    if isinstance(command, TyperGroup):
        for name, child in command.commands.items():
            walk(child, f"{path} {name}")
for area in AREAS:
    walk(load_area(area), area.name)
print(json.dumps(helps, ensure_ascii=False))
"""


def every_help(language: str) -> dict[str, Any]:
    done = run_python(EVERY_HELP, language)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_every_command_has_chinese_help_by_default() -> None:
    helps = every_help("zh-CN")
    untranslated = [path for path, texts in helps.items() if not CJK.search(texts[0])]
    assert untranslated == [], "add the Chinese help to src/suanli/cli/help_text.py"
    options = [text for texts in helps.values() for text in texts[1:] if text]
    english_only = [
        text for text in options if not CJK.search(text) and re.search("[a-z]{3,} [a-z]{3,}", text)
    ]
    assert english_only == [], "add the Chinese help to src/suanli/cli/help_text.py"


def test_english_help_has_no_chinese_in_command_descriptions() -> None:
    helps = every_help("en")
    mixed = [path for path, texts in helps.items() if CJK.search(texts[0])]
    assert mixed == []
    assert len(helps) > 90


def test_the_root_help_follows_suanli_language() -> None:
    zh, en = suanli("--help"), suanli("--help", language="en")
    assert "作业" in zh.stdout and "Jobs" not in zh.stdout
    assert "Jobs" in en.stdout and not CJK.search(en.stdout)


# -- 8. tables and output ---------------------------------------------------------------------
LONG_POOL_NAME = "一个很长的资源池名称用来挤占表格宽度"


def _narrow(env: dict[str, str], language: str = "en") -> dict[str, str]:
    return {**env, "COLUMNS": "80", "SUANLI_LANGUAGE": language}


def _org(env: dict[str, str], kind: str, name: str) -> dict[str, Any]:
    created = cli(env, "orgs", "create", "--name", name, "--kind", kind, "--json")
    return dict(json.loads(created.stdout))


def _no_raw_data(text: str) -> None:
    assert "{'" not in text and '{"' not in text and "': " not in text, text


def test_ids_are_whole_at_80_columns_and_summaries_are_words(server: dict[str, str]) -> None:  # noqa: F811
    provider = _org(server, "provider", "钱塘智算科技有限公司算力运营中心（杭州城西科创大走廊）")
    enterprise = _org(server, "enterprise", "良渚医疗器械股份有限公司人工智能研究院")
    pool_ids = []
    for index in range(3):
        created = cli(
            _narrow(server), "pools", "create", "--name", f"{LONG_POOL_NAME}-{index}",
            "--accelerator", "H100-SXM", "--nodes", "2", "--cards-per-node", "8",
            "--region", "浙江/杭州/余杭", "--price-fen", "3600",
            "--provider-id", provider["organisation"]["id"],
        )  # fmt: skip
        _no_raw_data(created.stdout)
        pool_id = created.stdout.split()[1]  # "id  pool_..."
        assert pool_id.startswith("pool_"), created.stdout
        pool_ids.append(pool_id)
    for language in ("en", "zh-CN"):
        listed = cli(_narrow(server, language), "pools", "list").stdout
        assert all(pool_id in listed for pool_id in pool_ids), listed
        assert "…" not in listed
    as_enterprise = {**_narrow(server), "SUANLI_TOKEN": enterprise["token"]}
    org_id = enterprise["organisation"]["id"]
    cli(server, "ledger", "topup", "--org", org_id, "--amount-fen", "100000", "--reference", "r1")
    balances = cli(as_enterprise, "ledger", "balance", "--org", org_id).stdout
    wallets = json.loads(cli(as_enterprise, "ledger", "balance", "--org", org_id, "--json").stdout)
    assert all(account["account_id"] in balances for account in wallets), balances
    job = json.loads(
        cli(as_enterprise, "jobs", "submit", "--name", "j", "--command", "true", "--json").stdout
    )
    listed_jobs = cli(as_enterprise, "jobs", "list").stdout
    assert job["id"] in listed_jobs and "…" not in listed_jobs, listed_jobs
    shown = cli(as_enterprise, "jobs", "show", job["id"]).stdout
    _no_raw_data(shown)
    assert job["id"] in shown and "state" in shown
    assert (
        json.loads(cli(as_enterprise, "jobs", "show", job["id"], "--json").stdout)["id"]
        == job["id"]
    )


def test_the_catalog_is_readable_at_80_columns() -> None:
    shown = suanli("catalog", "accelerators", language="en")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in shown.stdout
    for model in ("H100-SXM", "Ascend-910B", "MLU370-X8", "Kunlunxin-K200"):
        assert any(line.startswith(model + " ") for line in lines), model
    assert "too narrow for:" in shown.stdout  # what was dropped is said, not silently lost


def test_a_demo_summary_has_no_python_reprs() -> None:
    from suanli.cli.render import job_counts, words

    assert job_counts({"succeeded": 10, "failed": 1}) in (
        "成功 10, 失败 1",
        "succeeded 10, failed 1",
    )
    assert words(None) == "—" and words([]) == "—"


def test_codes_in_summaries_and_tables_are_worded_in_the_readers_language() -> None:
    from suanli.cli.render import code_word, words
    from suanli.i18n import using_language
    from tests.language import mixed_lines

    with using_language("zh-CN"):
        by_backend = words({"local": 3, "ray": 2})
        assert by_backend == "本地 3, Ray 2"
        assert not mixed_lines(f"按后端运行的作业: {by_backend}")
        assert [code_word(c) for c in ("enterprise", "admin", "suspended")] == [
            "企业",
            "管理员",
            "已暂停",
        ]
    with using_language("en"):
        assert words({"local": 3, "ray": 2}) == "local 3, Ray 2"
        assert code_word("voucher_grant") == "voucher grant"
    assert code_word("a-code-nobody-knows") == "a-code-nobody-knows"  # shown as the API wrote it


# -- 10. the scenario exchange from the CLI ---------------------------------------------------
OPPORTUNITY_CSV = (
    "id,title,description,industry,tags,region,org,contact\n"
    "OPP-T1,焊缝底片评级,射线底片自动评级,智能制造,质检；视觉,浙江/杭州,"
    "示例单位（虚构）,王工 0571-1234\n"
)
CAPABILITY_CSV = (
    "id,title,description,industry,tags,region,org,contact\n"
    "CAP-T1,底片缺陷识别,深度学习识别焊缝缺陷,智能制造,视觉,浙江/杭州,"
    "示例企业（虚构）,李经理 138-0000\n"
)


def test_pairs_and_challenges_run_from_the_cli(server: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    agency, enterprise = _org(server, "agency", "a"), _org(server, "enterprise", "e")
    as_agency = {**_narrow(server), "SUANLI_TOKEN": agency["token"]}
    as_enterprise = {**_narrow(server), "SUANLI_TOKEN": enterprise["token"]}
    (tmp_path / "o.csv").write_text(OPPORTUNITY_CSV, encoding="utf-8")
    (tmp_path / "c.csv").write_text(CAPABILITY_CSV, encoding="utf-8")
    cli(as_agency, "scenes", "import", "opportunities", str(tmp_path / "o.csv"))
    cli(as_enterprise, "scenes", "import", "capabilities", str(tmp_path / "c.csv"))

    recommend = (
        "scenes",
        "pairs",
        "recommend",
        "--opportunity",
        "OPP-T1",
        "--capability",
        "CAP-T1",
    )
    pair = json.loads(cli(as_agency, *recommend, "--json").stdout)
    cli(as_enterprise, "scenes", "pairs", "stage", pair["id"], "interested")
    cli(as_agency, "scenes", "pairs", "consent", pair["id"])
    shown = cli(as_enterprise, "scenes", "pairs", "consent", pair["id"]).stdout
    assert pair["id"] in shown and "王工 0571-1234" in shown and "李经理 138-0000" in shown
    assert pair["id"] in cli(as_agency, "scenes", "pairs", "list").stdout
    assert "total  1" in cli(server, "scenes", "pairs", "stats").stdout

    agency_id = agency["organisation"]["id"]
    fund = ("--agency", agency_id, "--amount-fen", "500000", "--reference", "拨付-T1")
    cli(server, "scenes", "challenges", "fund", *fund)
    post = (
        "scenes", "challenges", "post", "--opportunity", "OPP-T1", "--goal", "准确率≥95%",
        "--reward-fen", "300000", "--deadline", "2099-01-01",
        "--criterion", "技术方案=60", "--criterion", "落地能力=40",
    )  # fmt: skip
    challenge = json.loads(cli(as_agency, *post, "--json").stdout)
    proposal = json.loads(
        cli(as_enterprise, "scenes", "challenges", "propose", challenge["id"],
            "--summary", "深度学习评级", "--json").stdout
    )  # fmt: skip
    listed = cli(as_agency, "scenes", "challenges", "proposals", challenge["id"], "--limit", "1")
    assert proposal["id"] in listed.stdout and "1-1" in listed.stdout  # which rows of the total
    page = json.loads(
        cli(as_agency, "scenes", "challenges", "list", "--limit", "1", "--json").stdout
    )
    assert [c["id"] for c in page["items"]] == [challenge["id"]] and page["limit"] == 1  # newest
    cli(server, "scenes", "challenges", "review", challenge["id"], "--proposal", proposal["id"],
        "--score", "技术方案=90", "--score", "落地能力=80")  # fmt: skip
    awarded = cli(as_agency, "scenes", "challenges", "award", challenge["id"],
                  "--proposal", proposal["id"]).stdout  # fmt: skip
    assert "awarded" in awarded and proposal["id"] in awarded

    bad = cli(as_agency, *post[:-4], "--criterion", "技术方案", check=False)
    assert bad.returncode == 2 and "--criterion" in bad.stderr


# -- 11. smaller things seen ------------------------------------------------------------------
def test_a_batch_given_with_the_import_and_a_different_batch_column_are_refused(
    city: City,  # noqa: F811
) -> None:
    rows = (
        HEADER.rstrip("\n") + ",batch\n" + "OPP-B1,质检,缺陷检测,智能制造,质检,浙江/杭州,某单位,2\n"
    )
    refused = import_csv(city, city.agency, "opportunities", rows, batch=1)
    assert (refused.status_code, refused.json()["field"]) == (422, "batch"), refused.text
    assert "OPP-B1" in refused.json()["message"] and "2" in refused.json()["message"]
    assert city.get(city.agency, "/v1/scenes/opportunities").json()["total"] == 0  # nothing
    plain = HEADER + "OPP-B2,质检,缺陷检测,智能制造,质检,浙江/杭州,某单位\n"
    assert import_csv(city, city.agency, "opportunities", plain, batch=3).status_code == 201
    stored = city.get(city.agency, "/v1/scenes/opportunities/OPP-B2").json()
    assert stored["batch"] == 3


def test_a_missing_opportunity_is_named_in_the_singular(city: City) -> None:  # noqa: F811
    missing = city.client.get(
        "/v1/scenes/opportunities/OPP-NONE",
        headers={**city.headers(city.agency), "Accept-Language": "en"},
    )
    assert missing.status_code == 404
    assert "no opportunity 'OPP-NONE'" in missing.json()["message"], missing.json()


def test_the_chinese_budget_header_is_read_as_yuan(city: City) -> None:  # noqa: F811
    rows = (
        "编号,名称,描述,行业,标签,地区,单位,预算\n"
        "OPP-Y1,质检,缺陷检测,智能制造,质检,浙江,某单位,1200\n"
    )
    imported = import_csv(city, city.agency, "opportunities", rows)
    assert imported.status_code == 201, imported.text
    assert imported.json()["report"]["problems"] == []  # no "unknown column" warning
    stored = city.get(city.agency, "/v1/scenes/opportunities/OPP-Y1").json()
    assert stored["extra"]["budget_fen"] == 120_000


def _market(server: dict[str, str]) -> tuple[dict[str, str], str]:  # noqa: F811
    """A provider with a 1-card pool and a funded enterprise; its environment and org id."""
    provider, enterprise = _org(server, "provider", "p"), _org(server, "enterprise", "e")
    cli(
        server, "pools", "create", "--name", "one", "--accelerator", "L40S", "--nodes", "1",
        "--cards-per-node", "1", "--region", "浙江/杭州", "--price-fen", "720",
        "--provider-id", provider["organisation"]["id"],
    )  # fmt: skip
    org_id = enterprise["organisation"]["id"]
    cli(server, "ledger", "topup", "--org", org_id, "--amount-fen", "100000", "--reference", "T-1")
    return {**server, "SUANLI_TOKEN": enterprise["token"]}, org_id


def test_following_a_failed_job_prints_its_end_and_exits_8(server: dict[str, str]) -> None:  # noqa: F811
    as_enterprise, _ = _market(server)
    submit = ("jobs", "submit", "--name", "bad", "--max-run-time-s", "60", "--json")
    failing = json.loads(cli(as_enterprise, *submit, "--command", "echo trying; exit 3").stdout)
    followed = cli(as_enterprise, "jobs", "logs", failing["id"], "--follow", check=False)
    assert followed.returncode == 8, followed.stderr
    assert "trying" in followed.stdout
    assert (
        f"job {failing['id']} ended: failed" in followed.stderr and "exit code 3" in followed.stderr
    )

    blocker = json.loads(cli(as_enterprise, *submit, "--command", "sleep 20").stdout)
    queued = json.loads(cli(as_enterprise, *submit, "--command", "true").stdout)
    cli(as_enterprise, "jobs", "cancel", queued["id"])
    cancelled = cli(as_enterprise, "jobs", "logs", queued["id"], "--follow", check=False)
    assert cancelled.returncode == 8 and "cancelled" in cancelled.stderr
    usage = cli(as_enterprise, "jobs", "usage", queued["id"], check=False)
    assert usage.returncode == 4 and "no usage" in usage.stderr and "yet" not in usage.stderr
    running = cli(as_enterprise, "jobs", "usage", blocker["id"], check=False)
    assert running.returncode == 4 and "no usage yet" in running.stderr
    cli(as_enterprise, "jobs", "cancel", blocker["id"])


def test_a_reused_top_up_reference_is_said_to_be_recorded_already(
    server: dict[str, str],  # noqa: F811
) -> None:
    _, org_id = _market(server)
    again = ("ledger", "topup", "--org", org_id, "--amount-fen", "100000", "--reference", "T-1")
    replayed = cli(server, *again)
    assert "already recorded" in replayed.stdout
    answer = httpx.post(
        f"{server['SUANLI_API_URL']}/v1/wallets/{org_id}/top-ups",
        json={"amount_fen": 100000, "external_reference": "T-1"},
        headers={"Authorization": f"Bearer {server['SUANLI_TOKEN']}"},
    )
    assert (answer.status_code, answer.json()["already_recorded"]) == (200, True)
    balances = json.loads(cli(server, "ledger", "balance", "--org", org_id, "--json").stdout)
    assert sum(a["posted_fen"] for a in balances if a["kind"] == "enterprise_wallet") == 100000
    fresh = cli(
        server, "ledger", "topup", "--org", org_id, "--amount-fen", "1", "--reference", "T-2"
    )
    assert "already" not in fresh.stdout


def test_ledger_check_takes_a_token_like_its_siblings(server: dict[str, str]) -> None:  # noqa: F811
    through_api = {**server, "SUANLI_DATA_DIR": "/nonexistent-so-only-the-api-can-answer"}
    checked = cli(through_api, "ledger", "check", "--token", server["SUANLI_TOKEN"], "--json")
    assert json.loads(checked.stdout)["ok"] is True
    enterprise = _org(server, "enterprise", "x")
    refused = cli(server, "ledger", "check", "--token", enterprise["token"], check=False)
    assert refused.returncode == 3, refused.stderr


def test_voucher_application_dates_and_amounts_name_their_field(city: City) -> None:  # noqa: F811
    from tests.e2e.test_api_vouchers import hangzhou

    program = city.post(city.agency, "/v1/vouchers/programs", hangzhou()).json()
    path = f"/v1/vouchers/programs/{program['id']}/applications"
    facts = {"is_sme": True, "region": "浙江/杭州/余杭", "founded_on": "2021-03-01"}
    negative = city.post(city.enterprise, path, {**facts, "requested_fen": -5})
    assert (negative.status_code, negative.json()["field"]) == (422, "requested_fen")
    future = city.post(
        city.enterprise, path, {**facts, "founded_on": "2099-03-01", "requested_fen": 5}
    )
    assert (future.status_code, future.json()["field"]) == (422, "founded_on"), future.text


def test_an_import_error_names_the_upload_not_a_server_path(city: City) -> None:  # noqa: F811
    bad = HEADER + "OPP-X,,描述,智能制造,质检,浙江,某单位\n"
    refused = import_csv(city, city.agency, "opportunities", bad)
    assert refused.status_code == 422
    message = refused.json()["message"]
    assert (
        "opportunities.csv" in message and "/tmp" not in message and "suanli-import" not in message
    )


def test_a_stored_match_says_whether_it_built_the_index_and_how_long_it_took(
    city: City,  # noqa: F811
) -> None:
    from tests.e2e.test_api_scenes import first_rows

    import_csv(city, city.agency, "opportunities", first_rows("opportunities", 3))
    import_csv(city, city.enterprise, "capabilities", first_rows("capabilities", 12))
    first = city.get(city.agency, "/v1/scenes/opportunities/OPP-001/matches").json()
    again = city.get(city.agency, "/v1/scenes/opportunities/OPP-001/matches").json()
    assert first["index_status"]["built"] is True and first["index_status"]["items"] == 12
    assert first["index_status"]["seconds"] >= 0
    assert again["index_status"]["built"] is False


def test_the_agencys_application_list_names_each_enterprise(server: dict[str, str]) -> None:  # noqa: F811
    """Before: each line showed the applicant as an org_ id only; a reviewer could not tell
    who applied without looking the id up."""
    as_agency, enterprise, _, _ = _applied(server)
    listed = cli(as_agency, "vouchers", "applications", "--state", "pending")
    assert "云栖智造科技" in listed.stdout, listed.stdout
    assert enterprise["organisation"]["id"] in listed.stdout


def test_the_agencys_grant_list_names_each_enterprise(server: dict[str, str]) -> None:  # noqa: F811
    """Grants, like applications, name whose each one is: they showed an org_ id only."""
    as_agency, enterprise, program_id, application_id = _applied(server)
    funding = ("--amount-fen", "10000", "--reference", "拨付-G1")
    cli(as_agency, "vouchers", "programs", "fund", program_id, *funding)
    approved = cli(as_agency, "vouchers", "approve", application_id, "--quota-fen", "5000")
    assert "云栖智造科技" in approved.stdout, approved.stdout
    listed = cli({**as_agency, "COLUMNS": "200"}, "vouchers", "grants")
    assert "云栖智造科技" in listed.stdout, listed.stdout
    assert enterprise["organisation"]["id"] in listed.stdout


def _applied(env: dict[str, str]) -> tuple[dict[str, str], dict[str, Any], str, str]:
    """An agency's open program and a named enterprise's pending application to it: the
    agency's CLI environment, the enterprise, the program's id and the application's id."""
    from tests.e2e.test_api_vouchers import hangzhou

    agency = _org(env, "agency", "余杭区经信局")
    enterprise = _org(env, "enterprise", "云栖智造科技")
    api = env["SUANLI_API_URL"]
    program = httpx.post(
        f"{api}/v1/vouchers/programs",
        json=hangzhou(),
        headers={"Authorization": f"Bearer {agency['token']}"},
    ).json()
    facts = {"is_sme": True, "region": "浙江/杭州/余杭", "founded_on": "2021-03-01"}
    applied = httpx.post(
        f"{api}/v1/vouchers/programs/{program['id']}/applications",
        json={**facts, "requested_fen": 5000},
        headers={"Authorization": f"Bearer {enterprise['token']}"},
    )
    assert applied.status_code == 201, applied.text
    return (
        {**env, "SUANLI_TOKEN": agency["token"]},
        enterprise,
        program["id"],
        applied.json()["id"],
    )
