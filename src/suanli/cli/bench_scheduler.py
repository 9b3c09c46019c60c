"""`suanli bench scheduler`."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from suanli.cli.common import fail
from suanli.domain.scheduling.policies import get_policy
from suanli.errors import SuanliError
from suanli.simulation.bench import run_bench


def run_command(
    pools: int,
    jobs: int,
    policy: str,
    seed: int,
    fractional: float,
    packing: str,
    packing_whole_cards: bool,
    as_json: bool,
) -> None:
    """`suanli bench scheduler` (its options are in cli/bench.py)."""
    out = Console()
    try:
        get_policy(policy)
        figures = run_bench(pools, jobs, policy, seed, fractional, packing, packing_whole_cards)
    except SuanliError as error:
        fail(error.message, error.exit_code)
    if as_json:
        typer.echo(json.dumps(figures.as_dict(), indent=2))
        return
    out.print(
        f"{figures.policy} (packing {figures.packing}"
        f"{', whole cards too' if figures.packing_whole_cards else ''}) on {figures.pools:,} pools,"
        f" {figures.jobs:,} jobs:\n"
        f"  single-job decisions  {figures.decisions_per_s:>12,.0f} /s"
        f"   p50 {figures.p50_decision_ms:.3f} ms   p99 {figures.p99_decision_ms:.3f} ms\n"
        f"  by CPU time           {figures.cpu_decisions_per_s:>12,.0f} /s"
        f"   p99 {figures.p99_cpu_decision_ms:.3f} ms\n"
        f"  queue rounds          {figures.queue_decisions_per_s:>12,.0f} decisions/s"
        f"   p99 round {figures.p99_round_ms:.2f} ms\n"
        f"  peak RSS              {figures.peak_rss_mib:>12,.1f} MiB\n"
        f"  load average (1 min)  {figures.load_average_1m:>12.2f} on {figures.cpu_count} CPUs\n"
        f"  baseline: {figures.baseline_policy} (scalar filter) "
        f"{figures.baseline_decisions_per_s:,.1f} /s vs vectorised cheapest "
        f"{figures.vectorised_cheapest_decisions_per_s:,.0f} /s = "
        f"{figures.speedup_vs_scalar:,.0f}×\n"
        f"  shares of a card: {figures.fractional_jobs:,} of {figures.jobs:,} jobs; the same jobs"
        f" all whole: {figures.whole_card_cpu_decisions_per_s:,.0f} /s by CPU time"
        f" (with shares × {figures.sharing_speed_ratio:.2f})",
        highlight=False,
    )
