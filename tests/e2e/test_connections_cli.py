"""`suanli connections add` with bad input: a message naming what to fix and exit 2, never a
traceback, and never an HTTP 500 from the server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.e2e.test_cli_against_server import cli, server  # noqa: F401 (the fixture)

ADD = ("connections", "add", "--name", "x", "--kind", "ray", "--address", "http://127.0.0.1:18714")


def _no_server_env(tmp_path: Path) -> dict[str, str]:
    # the file is read before any request: no server, and a port where nothing listens
    return {
        **os.environ,
        "SUANLI_LANGUAGE": "en",
        "SUANLI_DATA_DIR": str(tmp_path / "data"),
        "SUANLI_API_URL": "http://127.0.0.1:9",
        "SUANLI_TOKEN": "unused",
    }


@pytest.mark.parametrize("case", ["missing", "folder", "not utf-8", "too big"])
def test_a_credentials_file_that_cannot_be_used_is_named_and_exits_2(
    tmp_path: Path, case: str
) -> None:
    path = tmp_path / "creds.json"
    if case == "folder":
        path.mkdir()
    elif case == "not utf-8":
        path.write_bytes(b'{"token": "\xff\xfe"}')
    elif case == "too big":
        path.write_text(json.dumps({"token": "t" * 20_000}))
    result = cli(_no_server_env(tmp_path), *ADD, "--credentials-file", str(path), check=False)
    assert result.returncode == 2, result.stderr
    assert "--credentials-file" in result.stderr and "Traceback" not in result.stderr


def test_an_address_with_a_port_out_of_range_is_bad_input_not_a_server_error(
    server: dict[str, str],  # noqa: F811
) -> None:
    """Before: the server answered 500 and the CLI printed `HTTP 500` and exited 1."""
    created = cli(server, "orgs", "create", "--name", "P", "--kind", "provider", "--json")
    provider = {**server, "SUANLI_TOKEN": json.loads(created.stdout)["token"]}
    add = ("connections", "add", "--name", "x", "--kind", "ray")
    result = cli(provider, *add, "--address", "http://127.0.0.1:99999", check=False)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "port" in result.stderr and "500" not in result.stderr, result.stderr
