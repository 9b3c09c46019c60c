"""`suanli demo --no-serve --json`: the newcomer's first command, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_demo_city_runs_its_jobs_refuses_one_and_bills_them(tmp_path: Path) -> None:
    env = {**os.environ, "SUANLI_DATA_DIR": str(tmp_path), "SUANLI_LANGUAGE": "en"}
    result = subprocess.run(
        [sys.executable, "-m", "suanli.cli.main", "demo", "--no-serve", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["providers"] == 3 and summary["pools"] >= 6
    assert summary["jobs"] == {"succeeded": 10}
    assert summary["rejected"] == 1
    assert summary["card_seconds"] > 0 and summary["billed_fen"] > 0
    assert sum(summary["billed_fen_by_enterprise"].values()) == summary["billed_fen"]
    assert sum(summary["billed_fen_by_provider"].values()) == summary["billed_fen"]
    # every organisation's token is printed, so each README example can be tried on the demo
    tokens = summary["tokens"]
    assert len(tokens["providers"]) == 3 and tokens["agency"].startswith("sl_")
    human = result.stdout.rsplit("\n", 2)[0]
    assert tokens["agency"] in human and all(token in human for token in tokens["providers"])

    # The live table's last render: each job's pool and what it was billed, summing to the
    # total; the summary starts on a line of its own.
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "job" in line and "billed" in line)
    assert [cell.strip() for cell in header.strip("┃").split("┃")][-2:] == ["hold", "billed"]
    rows = [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in lines
        if line.startswith("│")
    ]
    assert len(rows) == 10 and all("(" in row[2] for row in rows)  # "name (model)"
    assert sum(yuan_to_fen(row[-1]) for row in rows) == summary["billed_fen"]
    assert "Summary" in lines


def yuan_to_fen(text: str) -> int:
    yuan, fen = text.removeprefix("¥").replace(",", "").split(".")
    return int(yuan) * 100 + int(fen)
