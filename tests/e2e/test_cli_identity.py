"""Identity through the CLI against a real `suanli serve`: users, `suanli login` and its
private credential file, tokens, registration and review, `suanli audit` (and `audit verify`
naming an entry changed behind the platform's back), `suanli logout`."""

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


def test_people_sign_in_register_and_verify_the_log_with_the_cli(
    server: dict[str, str],  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
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
    assert me["login"] == "ops.li" and me["org_kind"] == "operator"
    token = json.loads(
        cli(person, "tokens", "create", "--name", "ci", "--scope", "read", "--json").stdout
    )  # a write through the session cookie: the CLI sends its CSRF token
    assert token["scopes"] == ["read"] and token["token"].startswith("sl_")
    keyfile.chmod(0o644)
    exposed = cli(person, "users", "me", check=False)
    assert exposed.returncode == 3 and "chmod 600" in exposed.stderr
    keyfile.chmod(0o600)
    audit = json.loads(cli(person, "audit", "list", "--json").stdout)
    actions = [entry["action"] for entry in audit["items"]]
    assert actions[:3] == ["token.create", "auth.login", "user.create"]
    assert cli(person, "logout").returncode == 0
    assert not keyfile.exists()
    assert cli(person, "users", "me", check=False).returncode == 3
    _register_review_and_verify(server, tmp_path)


def _register_review_and_verify(env: dict[str, str], tmp_path: Path) -> None:
    body = "91330106MA2B22220"
    code = body + credit_code_check_character(body)
    registered = cli_in(
        {**env, "SUANLI_TOKEN": ""}, PASSWORD + "\n", "orgs", "register",
        "--name", "杭州示例科技有限公司", "--kind", "enterprise", "--credit-code", code,
        "--region", "浙江/杭州", "--contact-name", "赵", "--admin-login", "zhao",
        "--admin-name", "赵六", "--password-stdin",
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    bad = cli_in(
        {**env, "SUANLI_TOKEN": ""}, PASSWORD + "\n", "orgs", "register",
        "--name", "x", "--kind", "enterprise", "--credit-code", code[:-1] + "0",
        "--region", "浙江", "--contact-name", "x", "--admin-login", "xxx",
        "--admin-name", "x", "--password-stdin",
    )  # fmt: skip
    assert bad.returncode == 2 and "credit_code" in bad.stderr
    pending = json.loads(cli(env, "orgs", "review", "list", "--json").stdout)
    assert [org["credit_code"] for org in pending] == [code]
    cli(env, "orgs", "review", "approve", pending[0]["id"])
    head = cli(env, "audit", "head").stdout.strip()
    assert cli(env, "audit", "verify", "--expect", head).returncode == 0
    _tamper(Path(env["SUANLI_DATA_DIR"]) / "suanli.db", seq=2)
    broken = cli(env, "audit", "verify", check=False)
    assert broken.returncode == 6
    assert "entry 2" in broken.stderr and "edited" in broken.stderr
    export = tmp_path / "audit.xlsx"
    cli(env, "audit", "export", "-o", str(export), "--format", "xlsx")
    assert export.read_bytes()[:2] == b"PK"


def _tamper(database: Path, seq: int) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute("DROP TRIGGER audit_log_no_update")
        connection.execute("UPDATE audit_log SET action = 'nothing.happened' WHERE seq = ?", (seq,))
