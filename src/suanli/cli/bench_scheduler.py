"""`suanli bench scheduler`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from suanli.domain.scheduling.card_choice import DEFAULT_PACKING_POLICY
from suanli.domain.scheduling.policies import get_policy
from suanli.errors import SuanliError
from suanli.i18n import t
from suanli.simulation.bench import FRACTIONAL_DEFAULT, run_bench


def register(app: typer.Typer) -> None:
    """Adds the scheduler benchmark command to the bench group."""
    app.command("scheduler", help="Placement decisions/s and latency")(scheduler)


def scheduler(
    pools: Annotated[int, typer.Option(help="synthetic pools in the fleet")] = 5_000,
    jobs: Annotated[int, typer.Option(help="queued jobs to decide")] = 20_000,
    policy: Annotated[str, typer.Option(help="policy to measure")] = "fastest",
    seed: Annotated[int, typer.Option(help="seed of the synthetic fleet and jobs")] = 0,
    fractional: Annotated[
        float, typer.Option(help="share of jobs asking for part of one card (card_milli)")
    ] = FRACTIONAL_DEFAULT,
    packing: Annotated[
        str, typer.Option(help="packing policy: the node and card within the chosen pool")
    ] = DEFAULT_PACKING_POLICY,
    packing_whole_cards: Annotated[
        bool, typer.Option(help="pack one-node whole-card jobs too (else best fit)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON only")] = False,
) -> None:
    out, err = Console(), Console(stderr=True)
    try:
        get_policy(policy)
        figures = run_bench(pools, jobs, policy, seed, fractional, packing, packing_whole_cards)
    except SuanliError as error:
        label = t("错误", "error")
        err.print(f"[red]{label}:[/red] {escape(error.message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=error.exit_code) from None
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
