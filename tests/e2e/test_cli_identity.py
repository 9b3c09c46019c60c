"""Identity through the CLI against a real `suanli serve` (the README's "People" section runs
the whole path as written; this adds what it cannot show)."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from suanli.domain.identity import credit_code_check_character
from tests.e2e.test_cli_against_server import cli, server  # noqa: F401 - the fixture

PASSWORD = "tea-kettle-river-42"


def cli_in(env: dict[str, str], text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "suanli.cli.main", *args],
        env=env,
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_keeps_its_session_privately_and_verify_names_a_tampered_entry(
    server: dict[str, str],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    """What the README's own run does not show: the credential file's modes and its refusal
    when others can read it, logout removing it, exit codes for a wrong credit code and for a
    tampered log."""
    created = cli_in(
        server, PASSWORD + "\n", "users", "create", "--login", "ops.li", "--name", "李",
        "--role", "admin", "--password-stdin",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    keyfile = tmp_path / "conf" / "credentials.json"
    person = {**server, "SUANLI_TOKEN": "", "SUANLI_CREDENTIALS_FILE": str(keyfile)}
    signed = cli_in(person, PASSWORD + "\n", "login", "--login", "ops.li", "--password-stdin")
    assert signed.returncode == 0, signed.stderr
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    assert stat.S_IMODE(keyfile.parent.stat().st_mode) == 0o700
    me = json.loads(cli(person, "users", "me", "--json").stdout)
    assert me["login"] == "ops.li" and me["csrf_token"]  # signed in by the kept session
    keyfile.chmod(0o644)
    exposed = cli(person, "users", "me", check=False)
    assert exposed.returncode == 3 and "chmod 600" in exposed.stderr
    keyfile.chmod(0o600)
    assert cli(person, "logout").returncode == 0 and not keyfile.exists()
    body = "91330106MA2B22220"
    code = body + credit_code_check_character(body)
    bad = cli_in(
        {**server, "SUANLI_TOKEN": ""}, PASSWORD + "\n", "orgs", "register",
        "--name", "x", "--kind", "enterprise", "--credit-code", code[:-1] + "0",
        "--region", "浙江", "--contact-name", "x", "--admin-login", "xxx",
        "--admin-name", "x", "--password-stdin",
    )  # fmt: skip
    assert bad.returncode == 2 and "credit_code" in bad.stderr
    operators = cli(server, "orgs", "list", "--kind", "operator", "--limit", "1", "--json")
    page = json.loads(operators.stdout)
    assert page["total"] == 1 and [org["kind"] for org in page["items"]] == ["operator"]
    queue = json.loads(cli(server, "orgs", "review", "list", "--json").stdout)
    assert queue == {"items": [], "total": 0, "offset": 0, "limit": 50}
    _tamper(Path(server["SUANLI_DATA_DIR"]) / "suanli.db", seq=2)
    broken = cli(server, "audit", "verify", check=False)
    assert broken.returncode == 6
    assert "entry 2" in broken.stderr and "edited" in broken.stderr


def _tamper(database: Path, seq: int) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TRIGGER audit_log_no_update")
        connection.execute("UPDATE audit_log SET action = 'nothing.happened' WHERE seq = ?", (seq,))
