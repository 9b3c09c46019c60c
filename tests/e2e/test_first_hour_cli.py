"""The CLI a newcomer meets in the first hour (issue 14, items 7-11): fast help in the chosen
language, full ids at 80 columns, readable summaries with --json for machines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

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


def test_a_command_imports_its_area_when_it_runs() -> None:
    done = run_python(
        HELP_THEN_LIST_MODULES.replace('["--help"]', '["ledger", "--help"]'), language="en"
    )
    assert done.returncode == 0, done.stderr
    assert "sqlalchemy" in json.loads(done.stdout)


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
    assert untranslated == []
    options = [text for texts in helps.values() for text in texts[1:] if text]
    english_only = [
        text for text in options if not CJK.search(text) and re.search("[a-z]{3,} [a-z]{3,}", text)
    ]
    assert english_only == []


def test_english_help_has_no_chinese_in_command_descriptions() -> None:
    helps = every_help("en")
    mixed = [path for path, texts in helps.items() if CJK.search(texts[0])]
    assert mixed == []
    assert len(helps) > 90


def test_the_root_help_follows_suanli_language() -> None:
    zh, en = suanli("--help"), suanli("--help", language="en")
    assert "作业" in zh.stdout and "Jobs" not in zh.stdout
    assert "Jobs" in en.stdout and not CJK.search(en.stdout)
