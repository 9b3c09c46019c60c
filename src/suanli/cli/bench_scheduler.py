"""`suanli bench scheduler`."""

from __future__ import annotations

import typer
from rich.console import Console

from suanli.cli.common import fail
from suanli.domain.scheduling.policies import get_policy
from suanli.errors import SuanliError
from suanli.i18n import t
from suanli.simulation.bench import BenchFigures, run_bench
from suanli.simulation.metrics import json_text


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
        typer.echo(json_text(figures.as_dict()))
        return
    out.print(_report(figures), highlight=False)


def _report(f: BenchFigures) -> str:
    """The figures as lines, in the reader's language (SUANLI_LANGUAGE)."""
    whole = t("，整卡作业也装箱", ", whole cards too") if f.packing_whole_cards else ""
    return "\n".join(
        (
            t(
                f"{f.policy}（装箱 {f.packing}{whole}），{f.pools:,} 个资源池，{f.jobs:,} 个作业：",
                f"{f.policy} (packing {f.packing}{whole}) on {f.pools:,} pools, {f.jobs:,} jobs:",
            ),
            t(
                f"  单作业决策            {f.decisions_per_s:>12,.0f} 次/秒"
                f"   p50 {f.p50_decision_ms:.3f} ms   p99 {f.p99_decision_ms:.3f} ms",
                f"  single-job decisions  {f.decisions_per_s:>12,.0f} /s"
                f"   p50 {f.p50_decision_ms:.3f} ms   p99 {f.p99_decision_ms:.3f} ms",
            ),
            t(
                f"  按 CPU 时间           {f.cpu_decisions_per_s:>12,.0f} 次/秒"
                f"   p99 {f.p99_cpu_decision_ms:.3f} ms",
                f"  by CPU time           {f.cpu_decisions_per_s:>12,.0f} /s"
                f"   p99 {f.p99_cpu_decision_ms:.3f} ms",
            ),
            t(
                f"  队列轮次              {f.queue_decisions_per_s:>12,.0f} 次决策/秒"
                f"   每轮 p99 {f.p99_round_ms:.2f} ms",
                f"  queue rounds          {f.queue_decisions_per_s:>12,.0f} decisions/s"
                f"   p99 round {f.p99_round_ms:.2f} ms",
            ),
            t(
                f"  峰值内存（RSS）       {f.peak_rss_mib:>12,.1f} MiB",
                f"  peak RSS              {f.peak_rss_mib:>12,.1f} MiB",
            ),
            t(
                f"  系统负载（1 分钟）    {f.load_average_1m:>12.2f}，共 {f.cpu_count} 个 CPU",
                f"  load average (1 min)  {f.load_average_1m:>12.2f} on {f.cpu_count} CPUs",
            ),
            t(
                f"  基线：{f.baseline_policy}（逐个筛选）{f.baseline_decisions_per_s:,.1f} 次/秒，"
                f"向量化 `cheapest` {f.vectorised_cheapest_decisions_per_s:,.0f} 次/秒 = "
                f"{f.speedup_vs_scalar:,.0f} 倍",
                f"  baseline: {f.baseline_policy} (scalar filter) "
                f"{f.baseline_decisions_per_s:,.1f} /s vs vectorised cheapest "
                f"{f.vectorised_cheapest_decisions_per_s:,.0f} /s = {f.speedup_vs_scalar:,.0f}×",
            ),
            t(
                f"  共享一张卡：{f.jobs:,} 个作业中 {f.fractional_jobs:,} 个；同样的作业全为整卡时"
                f"按 CPU 时间 {f.whole_card_cpu_decisions_per_s:,.0f} 次/秒"
                f"（有共享时 × {f.sharing_speed_ratio:.2f}）",
                f"  shares of a card: {f.fractional_jobs:,} of {f.jobs:,} jobs; the same jobs"
                f" all whole: {f.whole_card_cpu_decisions_per_s:,.0f} /s by CPU time"
                f" (with shares × {f.sharing_speed_ratio:.2f})",
            ),
        )
    )
