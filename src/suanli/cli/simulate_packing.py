"""`suanli simulate packing`: the FGD packing protocol, every policy, one pod list."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from suanli.cli.common import fail
from suanli.errors import SuanliError
from suanli.i18n import t

if TYPE_CHECKING:
    from suanli.simulation import packing

TRACES_DIR_ENV = "SUANLI_TRACES_DIR"
DEFAULT_POD_LIST = "default"  # openb_pod_list_default.csv
WIDE_COLUMNS = 160
FORM_ZH = {"node-cpu": "看节点 CPU", "card-level": "只看卡的余量"}  # packing.NODE_CPU, CARD_LEVEL


def register(group: typer.Typer) -> None:
    group.command("packing", help="FGD packing protocol on the Alibaba 2023 lists")(
        simulate_packing
    )


def simulate_packing(
    pod_list: Annotated[
        str, typer.Option(help="one of the 17 lists (default, gpushare40, ...) or a CSV path")
    ] = DEFAULT_POD_LIST,
    policies: Annotated[str | None, typer.Option(help="p1,p2,... (default: all)")] = None,
    seeds: Annotated[str, typer.Option(help="A..B or A,B,C")] = "42..51",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON only")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="write the allocation curve to this PNG")
    ] = None,
) -> None:
    from suanli.simulation import packing
    from suanli.simulation.metrics import json_text
    from suanli.simulation.plots import check_plot_file, write_packing_plot
    from suanli.simulation.traces import default_starts, find_traces_dir

    out, err = Console(width=None if sys.stdout.isatty() else WIDE_COLUMNS), Console(stderr=True)
    try:
        names = packing.parse_policies(policies)
        seed_list = packing.parse_seeds(seeds)
        plot = check_plot_file(plot) if plot is not None else None  # before the run
        traces = find_traces_dir(os.environ.get(TRACES_DIR_ENV), default_starts())
        nodes = packing.load_nodes(packing.node_list_path(traces))
        pods = packing.load_pods(packing.pod_list_path(pod_list, traces), nodes)
        curves = _run(nodes, pods, names, seed_list, err)
        written = write_packing_plot(curves, pods.name, plot) if plot is not None else None
    except SuanliError as error:
        fail(error.message, error.exit_code)
    if as_json:
        body = {"pod_list": pods.name, "policies": {c.policy: c.as_dict() for c in curves}}
        typer.echo(json_text(body))
        return
    pod_count, node_count, gpus = len(pods.pods), len(nodes.cards), int(nodes.cards.sum())
    seeds = f"{seed_list[0]}..{seed_list[-1]} ({len(seed_list)})"
    out.print(
        t(
            f"作业列表 {pods.name}：{pod_count} 个作业；{node_count} 个节点，{gpus} 张 GPU；"
            f"种子 {seeds}",
            f"pod list {pods.name}: {pod_count} pods; {node_count} nodes, {gpus} GPUs; "
            f"seeds {seeds}",
        ),
        highlight=False,
    )
    out.print(_table(curves))
    for curve in curves:
        if curve.look_ahead is not None:
            out.print(_look_ahead_line(curve.policy, curve.look_ahead), highlight=False)
    if written is not None:
        out.print(t(f"图表：{written}", f"plot: {written}"))


def _run(
    nodes: packing.PackingNodes,
    pods: packing.PodList,
    names: tuple[str, ...],
    seeds: tuple[int, ...],
    console: Console,
) -> list[packing.PolicyCurve]:
    from suanli.simulation import packing

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    curves = []
    with bar:
        for name in names:
            task = bar.add_task(f"{name:<15}", total=None)
            curves.append(packing.run_policy(nodes, pods.pods, name, seeds, _advance(bar, task)))
            bar.update(task, total=1, completed=1)
    return curves


def _look_ahead_line(policy: str, look_ahead: packing.LookAhead) -> str:
    from suanli.simulation.packing import SELECTION_SEEDS

    seeds = ",".join(str(seed) for seed in SELECTION_SEEDS)
    scores = ", ".join(f"{form} {100 * a:.2f}%" for form, a in look_ahead.alloc_at_100.items())
    zh_scores = "，".join(
        f"{FORM_ZH[form]} {100 * a:.2f}%" for form, a in look_ahead.alloc_at_100.items()
    )
    return t(
        f"{policy} 的前瞻：{FORM_ZH[look_ahead.form]}（按种子 {seeds} 选出，"
        f"100% 时分配率：{zh_scores}）",
        f"{policy} look-ahead: {look_ahead.form} (chosen on seeds {seeds}, "
        f"allocation at 100%: {scores})",
    )


def _advance(bar: Progress, task: TaskID) -> packing.Progress:
    return lambda done: bar.update(task, completed=done)


def _table(curves: list[packing.PolicyCurve]) -> Table:
    from suanli.simulation.packing import REPORT_POINTS

    table = Table(title=t("GPU 分配率 (%), 种子均值", "GPU allocation ratio (%), mean over seeds"))
    table.add_column(t("策略", "policy"))
    for point in REPORT_POINTS:
        table.add_column(f"{point}%", justify="right")
    table.add_column("sd@100", justify="right")
    table.add_column(t("100% 时未分配 GPU", "idle GPUs @100"), justify="right")
    for curve in curves:
        table.add_row(
            curve.policy,
            *(f"{100 * curve.mean(point):.2f}" for point in REPORT_POINTS),
            f"{100 * curve.sd(100):.2f}",
            f"{curve.unallocated_cards_at_100:.0f}",
        )
    return table
