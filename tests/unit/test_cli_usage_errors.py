"""Click's own refusals reach the user in the CLI's language, as one error line and a pointer
to --help, with exit code 2; ids the user types stay one segment of the API path."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from suanli.cli.common import quoted_path
from tests.language import has_chinese, mixed_lines

REFUSED = (
    ("jobs", "list", "--limit", "0"),
    ("ledger", "topup", "--org", "x", "--amount-fen", "1.5", "--reference", "X"),
    ("jobs", "lst"),
    ("ledger", "refund", "--transfer", "T"),
    ("jobs", "list", "--bogus"),
)


def cli(language: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SUANLI_LANGUAGE": language, "SUANLI_TOKEN": "sl_unused"}
    env["SUANLI_API_URL"] = "http://127.0.0.1:9"  # never reached: each refusal is local
    return subprocess.run(
        [sys.executable, "-m", "suanli.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("args", REFUSED, ids=lambda args: " ".join(args[:3]))
def test_a_usage_error_is_one_line_in_the_asked_language(args: tuple[str, ...]) -> None:
    zh, en = cli("zh-CN", *args), cli("en", *args)
    for result in (zh, en):
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and "╭" not in result.stderr
    assert zh.stderr.startswith("错误:") and mixed_lines(zh.stderr) == [], zh.stderr
    assert "--help" in zh.stderr and not has_chinese(en.stderr), en.stderr
    assert en.stderr.startswith("error:")


def test_help_is_worded_in_the_asked_language() -> None:
    zh = cli("zh-CN", "jobs", "list", "--help")
    assert zh.returncode == 0 and "显示此帮助并退出" in zh.stdout
    assert "Show this message" not in zh.stdout
    root = cli("zh-CN", "--help").stdout
    assert "Install completion" not in root and "安装命令补全" in root
    assert "Show this message" in cli("en", "jobs", "list", "--help").stdout


def test_an_id_the_user_types_stays_one_path_segment() -> None:
    assert quoted_path("/v1/jobs/x?y#z") == "/v1/jobs/x%3Fy%23z"
    assert quoted_path("/v1/jobs/a%2Fb/logs") == "/v1/jobs/a%252Fb/logs"
    assert quoted_path("/v1/orgs/org_1:x") == "/v1/orgs/org_1:x"
    for escaping in ("../pools", "."):
        result = cli("en", "jobs", "show", escaping)
        assert result.returncode == 2 and "invalid identifier" in result.stderr, result.stderr
