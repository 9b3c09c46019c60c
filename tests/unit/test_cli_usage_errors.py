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


@pytest.mark.parametrize(
    ("language", "line"),
    [
        ("en", "error: HTTP 422: cards: bad [cards]"),
        ("zh-CN", "错误: 接口返回 HTTP 422：cards: bad [cards]"),
    ],
)
def test_an_api_refusal_is_one_line_in_the_cli_language(
    language: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import httpx
    import typer

    from suanli.cli.common import _fail_from_response
    from suanli.i18n import using_language

    body = {"error": "invalid_amount", "message": "cards: bad", "field": "cards"}
    with using_language(language), pytest.raises(typer.Exit) as ended:
        _fail_from_response(httpx.Response(422, json=body))
    assert ended.value.exit_code == 2  # an invalid amount is bad input, not a money rule
    assert capsys.readouterr().err.strip() == line


def test_every_state_the_cli_prints_has_a_chinese_word() -> None:
    """States printed in tables and records read in the CLI's language (`awarded`, `active`
    and `pending` were printed as the API's English codes in zh-CN output)."""
    from suanli.cli.render import CODE_WORDS
    from suanli.domain.jobs import JobState
    from suanli.domain.scenes import ChallengeState

    shown = {state.value for state in (*JobState, *ChallengeState)}
    shown |= {"pending", "approved", "rejected", "active", "expired", "suspended"}  # grants, orgs
    shown |= {"opportunity", "capability"}  # the sides of a pair's contacts
    missing = sorted(code for code in shown if code not in CODE_WORDS)
    assert missing == []
    assert all(has_chinese(CODE_WORDS[code][0]) for code in shown)
