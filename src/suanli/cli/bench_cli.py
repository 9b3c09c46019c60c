"""`suanli bench cli`: start-up time of `suanli --help` and a few sub-commands' --help.

Each case runs in a fresh subprocess (what a user waits for), interleaved with the same-run
baseline `python -c pass`, so a busy machine slows both and the ratio stays meaningful.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from suanli.i18n import t

CASE_TIMEOUT_S = 30.0
BASELINE = ("python -c pass", [sys.executable, "-c", "pass"])
CASES = (
    ("suanli --help", ["--help"]),
    ("suanli jobs --help", ["jobs", "--help"]),
    ("suanli scenes --help", ["scenes", "--help"]),
)


@dataclass(frozen=True)
class StartupFigures:
    command: str
    median_s: float
    p95_s: float
    ratio_to_baseline: float


def run_command(repeat: int, json_output: bool) -> None:
    """`suanli bench cli` (its options are in cli/bench.py)."""
    commands = [BASELINE] + [(name, _suanli(args)) for name, args in CASES]
    samples: dict[str, list[float]] = {name: [] for name, _ in commands}
    for _ in range(repeat):
        for name, argv in commands:  # interleaved: load changes hit every command alike
            samples[name].append(_time_once(argv))
    baseline_s = statistics.median(samples[BASELINE[0]])
    figures = [_figures(name, values, baseline_s) for name, values in samples.items()]
    if json_output:
        print(json.dumps({"repeat": repeat, "commands": [asdict(f) for f in figures]}))
        return
    print(t(f"每条命令运行 {repeat} 次(子进程):", f"{repeat} runs per command (subprocesses):"))
    for figure in figures:
        print(
            f"  {figure.command:<22} {t('中位数', 'median')} {figure.median_s:.3f} s   "
            f"p95 {figure.p95_s:.3f} s   ×{figure.ratio_to_baseline:.1f} python -c pass"
        )


def _suanli(args: list[str]) -> list[str]:
    # `python -m suanli.cli.main` imports exactly what the `suanli` console script imports.
    return [sys.executable, "-m", "suanli.cli.main", *args]


def _time_once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, timeout=CASE_TIMEOUT_S)
    return time.perf_counter() - started


def _figures(command: str, values: list[float], baseline_s: float) -> StartupFigures:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    return StartupFigures(command, round(median, 4), round(p95, 4), round(median / baseline_s, 2))
