"""The README path: a real `suanli serve` process, driven by the `suanli` CLI and plain HTTP."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.helpers import seed_migrated_sqlite

STARTUP_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "suanli.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"suanli {' '.join(args)} failed: {result.stderr}")
    return result


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`suanli serve` on a data folder whose database is already migrated (a copy, see
    tests/helpers.seed_migrated_sqlite): `admin bootstrap` then only checks the revision."""
    seed_migrated_sqlite(tmp_path / "data" / "suanli.db")
    yield from _serve(tmp_path)


@pytest.fixture
def newcomer_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    """`suanli serve` as a newcomer starts it: `admin bootstrap` migrates an empty folder."""
    yield from _serve(tmp_path)


def _serve(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = free_port()
    env = {
        **os.environ,
        "SUANLI_DATA_DIR": str(tmp_path / "data"),
        "SUANLI_API_PORT": str(port),
        "SUANLI_SCHEDULER_INTERVAL_S": "0.2",
        "SUANLI_LANGUAGE": "en",
    }
    env["SUANLI_TOKEN"] = json.loads(cli(env, "admin", "bootstrap", "--json").stdout)["token"]
    process = subprocess.Popen(
        [sys.executable, "-m", "suanli.cli.main", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("suanli serve did not start")
    yield {**env, "SUANLI_API_URL": url}
    process.terminate()
    process.wait(timeout=15)


def test_a_newcomer_lists_a_pool_submits_follows_and_reads_usage(
    newcomer_server: dict[str, str],
) -> None:
    server = newcomer_server
    provider = json.loads(
        cli(server, "orgs", "create", "--name", "p", "--kind", "provider", "--json").stdout
    )
    enterprise = json.loads(
        cli(server, "orgs", "create", "--name", "e", "--kind", "enterprise", "--json").stdout
    )
    cli(
        server,
        "pools",
        "create",
        "--name",
        "l40s",
        "--accelerator",
        "L40S",
        "--nodes",
        "1",
        "--cards-per-node",
        "4",
        "--region",
        "浙江/杭州",
        "--price-fen",
        "720",
        "--provider-id",
        provider["organisation"]["id"],
    )
    _fund(server, enterprise["organisation"]["id"])
    as_enterprise = {**server, "SUANLI_TOKEN": enterprise["token"]}
    quote = json.loads(cli(as_enterprise, "jobs", "quote", "--cards", "2", "--json").stdout)
    assert quote["min_fen"] == 720 * 2
    job = json.loads(
        cli(
            as_enterprise,
            "jobs",
            "submit",
            "--name",
            "mine",
            "--command",
            "echo hello; sleep 1; echo bye",
            "--cards",
            "2",
            "--json",
        ).stdout
    )
    logs = cli(as_enterprise, "jobs", "logs", job["id"], "--follow").stdout
    assert "hello" in logs and "bye" in logs
    usage = _wait_for_usage(as_enterprise, job["id"])
    assert usage["cards"] == 2 and usage["price_fen_per_card_hour"] == 720
    readable = cli(as_enterprise, "jobs", "usage", job["id"]).stdout
    assert "share of a card (milli)" in readable and "milli-card-seconds" in readable, readable
    odd = cli(as_enterprise, "jobs", "show", "x?y", check=False)  # the id, not a query
    assert odd.returncode == 4 and "x?y" in odd.stderr, odd.stderr
    curl = httpx.get(
        f"{server['SUANLI_API_URL']}/v1/jobs/{job['id']}",
        headers={"Authorization": f"Bearer {enterprise['token']}"},
    )
    assert curl.json()["state"] == "succeeded"


def test_cli_errors_name_the_field_and_exit_non_zero(server: dict[str, str]) -> None:
    result = cli(
        server,
        "pools",
        "create",
        "--name",
        "x",
        "--accelerator",
        "H999",
        "--region",
        "浙江",
        "--price-fen",
        "1",
        check=False,
    )
    assert result.returncode == 2
    assert "accelerator" in result.stderr and "Traceback" not in result.stderr
    no_token = cli({**server, "SUANLI_TOKEN": ""}, "jobs", "list", check=False)
    assert no_token.returncode == 3 and "token" in no_token.stderr


def _fund(env: dict[str, str], org_id: str) -> None:
    result = cli(env, "ledger", "--help", check=False)
    if "topup" in result.stdout:
        cli(
            env, "ledger", "topup", "--org", org_id, "--amount-fen", "1000000", "--reference", "e2e"
        )


def _wait_for_usage(env: dict[str, str], job_id: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = cli(env, "jobs", "usage", job_id, "--json", check=False)
        if result.returncode == 0:
            return dict(json.loads(result.stdout))
        time.sleep(0.3)
    raise AssertionError("no usage line appeared")


def test_scenes_import_and_export_through_the_cli(server: dict[str, str], tmp_path: Path) -> None:
    agency = json.loads(
        cli(server, "orgs", "create", "--name", "a", "--kind", "agency", "--json").stdout
    )
    as_agency = {**server, "SUANLI_TOKEN": agency["token"]}
    good = tmp_path / "needs.csv"
    good.write_text(
        "编号,名称,描述,行业,标签,地区,单位\n"
        "N-1,焊缝缺陷识别,射线底片自动评级,智能制造,质检；视觉,浙江/杭州,示例单位（虚构）\n"
        "N-2,客服质检,通话录音合规检查,金融,语音、合规,浙江/杭州,示例单位（虚构）\n",
        encoding="utf-8",
    )
    cli(as_agency, "scenes", "import", "opportunities", str(good), "--batch", "1")
    exported = tmp_path / "out.xlsx"
    cli(as_agency, "scenes", "export", "opportunities", str(exported), "--batch", "1")
    from openpyxl import load_workbook

    rows = list(load_workbook(exported).active.iter_rows(values_only=True))
    assert {row[0] for row in rows[1:]} == {"N-1", "N-2"}
    bad = tmp_path / "bad.csv"
    bad.write_text("id,title,description,industry,tags,region,org\nX-1,,d,金融,a,浙江,o\n", "utf-8")
    refused = cli(as_agency, "scenes", "import", "opportunities", str(bad), check=False)
    assert refused.returncode != 0 and "title" in refused.stderr + refused.stdout


def test_cli_export_filters_by_any_name_of_the_industry(
    server: dict[str, str], tmp_path: Path
) -> None:
    """--industry takes a GB/T code or English name as the API does; too long exits non-zero."""
    agency = json.loads(
        cli(server, "orgs", "create", "--name", "a", "--kind", "agency", "--json").stdout
    )
    as_agency = {**server, "SUANLI_TOKEN": agency["token"]}
    needs = tmp_path / "needs.csv"
    needs.write_text(
        "id,title,description,industry,tags,region,org\nN-1,t,d,智能制造,,,o\nN-2,t,d,汽车,,,o\n",
        encoding="utf-8",
    )
    cli(as_agency, "scenes", "import", "opportunities", str(needs))
    out = tmp_path / "out.csv"
    for name, wanted in (("C", ["N-1"]), ("Automobiles", ["N-2"]), ("c 36", ["N-2"])):
        cli(as_agency, "scenes", "export", "opportunities", str(out), "--industry", name)
        rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
        assert [row["id"] for row in rows] == wanted, name
    args = ("scenes", "export", "opportunities", str(out), "--industry", "x" * 101)
    refused = cli(as_agency, *args, check=False)
    assert refused.returncode != 0 and "industry" in refused.stderr + refused.stdout


def test_cli_shares_of_a_card_and_pools_that_refuse_them(server: dict[str, str]) -> None:
    provider = json.loads(
        cli(server, "orgs", "create", "--name", "p", "--kind", "provider", "--json").stdout
    )
    enterprise = json.loads(
        cli(server, "orgs", "create", "--name", "e", "--kind", "enterprise", "--json").stdout
    )
    created = cli(
        server,
        *("pools", "create", "--name", "train", "--accelerator", "L40S", "--nodes", "1"),
        *("--cards-per-node", "4", "--region", "浙江/杭州", "--price-fen", "720"),
        *("--provider-id", provider["organisation"]["id"], "--no-shareable"),
        *("--cpus-per-node", "32", "--host-memory-gib-per-node", "256", "--json"),
    )
    assert created.stdout.startswith("{"), created.stdout[:300]
    pool = json.loads(created.stdout)
    assert (pool["shareable"], pool["cpus_per_node"]) == (False, 32)
    _fund(server, enterprise["organisation"]["id"])
    as_enterprise = {**server, "SUANLI_TOKEN": enterprise["token"]}
    share = ("jobs", "submit", "--name", "s", "--command", "true", "--card-milli")
    bad = cli(as_enterprise, *share, "0", check=False)
    assert bad.returncode == 2 and "card_milli" in bad.stderr and "Traceback" not in bad.stderr
    refused = cli(as_enterprise, *share, "250", check=False)
    assert refused.returncode == 2 and "shareable: false" in refused.stderr
    cli(server, "pools", "update", pool["id"], "--shareable")
    quote = json.loads(cli(as_enterprise, "jobs", "quote", "--card-milli", "250", "--json").stdout)
    assert quote["min_fen"] == 180  # a quarter of ¥7.20 per card-hour for the default hour


def test_a_connections_health_error_reads_in_each_cli_users_language(
    server: dict[str, str],
) -> None:
    """The server checks a cluster at a closed port in English (its SUANLI_LANGUAGE); a
    Chinese CLI user reads that error in Chinese, an English one in English."""
    from suanli.adapters.db.database import Database
    from suanli.adapters.db.tables_connections import ClusterConnectionRow

    me = httpx.get(
        f"{server['SUANLI_API_URL']}/v1/me",
        headers={"Authorization": f"Bearer {server['SUANLI_TOKEN']}"},
    ).json()
    address = f"http://127.0.0.1:{free_port()}"
    database = Database(f"sqlite:///{server['SUANLI_DATA_DIR']}/suanli.db")
    with database.session() as session:  # as if added and approved through the API
        session.add(
            ClusterConnectionRow(
                id="conn_closed", provider_id=str(me.get("org_id") or me["organisation"]["id"]),
                name="closed", kind="ray", address=address, options={}, healthy=True,
                last_error="", capacity={}, created_at=datetime.now(UTC),
                review_state="approved", cluster_key=f"ray:{address}",
            )
        )  # fmt: skip
    database.dispose()
    assert cli(server, "connections", "check", "conn_closed", check=False).returncode == 7
    wide = {**server, "COLUMNS": "300"}  # one line per field, whatever the address's length
    shown = {
        language: cli({**wide, "SUANLI_LANGUAGE": language}, "connections", "show", "conn_closed")
        for language in ("zh-CN", "en")
    }
    assert f"无法连接 {address} 的 Ray 集群" in shown["zh-CN"].stdout, shown["zh-CN"].stdout
    assert "unreachable" not in shown["zh-CN"].stdout
    assert f"Ray cluster at {address} is unreachable" in shown["en"].stdout, shown["en"].stdout
