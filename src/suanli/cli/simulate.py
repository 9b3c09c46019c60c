"""`suanli simulate`: trace-driven replay through the live policy code.

The simulator (NumPy) is imported when a replay runs, so `--help` starts without it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from suanli.cli import simulate_packing
from suanli.cli.common import fail
from suanli.domain.money import format_yuan
from suanli.domain.scheduling import DEFAULT_PACKING_POLICY
from suanli.errors import SuanliError
from suanli.i18n import render, t

if TYPE_CHECKING:
    from suanli.simulation.bound import JctBound
    from suanli.simulation.engine import Progress as ProgressCallback
    from suanli.simulation.runner import Comparison, ProgressFactory, SimulationRequest

TRACES_DIR_ENV = "SUANLI_TRACES_DIR"
WIDE_COLUMNS = 200  # piped output: wide enough for the whole table
BASELINE = "fifo-first-fit"
ZH, EN = "zh-CN", "en"
BOUND_HELP = "compute the avg-JCT lower bound (on large workloads it takes longer than the replay)"
WORKLOAD_HELP = (
    "alibaba-2023[:variant], philly-sia, gavel-msr[:DIR], synthetic:N, or a pod-list CSV"
)


def register(app: typer.Typer) -> None:
    """Adds `simulate` (a replay when called alone) and `simulate packing` to the root app."""
    app.add_typer(build_app(), name="simulate")


def build_app() -> typer.Typer:
    """`simulate` as a group: the replay runs when no subcommand is named."""
    group = typer.Typer(
        invoke_without_command=True, help="Replay a workload on a fleet under each policy"
    )
    group.callback()(simulate)
    simulate_packing.register(group)
    return group


FleetOption = Annotated[
    str | None,
    typer.Option(
        help="alibaba-2023, philly-sia, gavel:N, gavel:auto[@LOAD], synthetic:N, or a node-list CSV"
    ),
]
WorkloadOption = Annotated[str | None, typer.Option(help=WORKLOAD_HELP)]
TargetLoadOption = Annotated[
    float | None, typer.Option(help="compress arrivals to this offered load (0-100]")
]
TimeScaleOption = Annotated[
    float | None, typer.Option(help="multiply arrival times by K (K < 1 compresses)")
]
PolicyOption = Annotated[str | None, typer.Option(help="one policy")]
CompareOption = Annotated[str | None, typer.Option(help="policies to compare, p1,p2,...")]
JsonOnlyOption = Annotated[bool, typer.Option("--json", help="print JSON only")]
PlotOption = Annotated[Path | None, typer.Option(help="write PNG plots into this folder")]
SeedOption = Annotated[int, typer.Option(help="seed for synthetic fleets and workloads")]
LimitJobsOption = Annotated[int | None, typer.Option(help="replay only the first N jobs")]
ThroughputsOption = Annotated[
    Path | None, typer.Option(help="Gavel simulation_throughputs.json: measured speeds")
]
PackingOption = Annotated[
    str, typer.Option(help="packing policy: the node and card of a share within its pool")
]
PackingWholeCardsOption = Annotated[
    bool, typer.Option(help="pack one-node whole-card jobs too (else best fit)")
]
BoundOption = Annotated[bool, typer.Option(help=BOUND_HELP)]


def simulate(
    ctx: typer.Context,
    fleet: FleetOption = None,
    workload: WorkloadOption = None,
    target_load: TargetLoadOption = None,
    time_scale: TimeScaleOption = None,
    policy: PolicyOption = None,
    compare: CompareOption = None,
    as_json: JsonOnlyOption = False,
    plot: PlotOption = None,
    seed: SeedOption = 0,
    limit_jobs: LimitJobsOption = None,
    throughputs: ThroughputsOption = None,
    packing: PackingOption = DEFAULT_PACKING_POLICY,
    packing_whole_cards: PackingWholeCardsOption = False,
    bound: BoundOption = True,
) -> None:
    if ctx.invoked_subcommand is not None:
        return  # this callback runs before `simulate packing` too, even for its --help
    from suanli.simulation.metrics import json_text
    from suanli.simulation.plots import check_plot_folder
    from suanli.simulation.runner import SimulationRequest, parse_policies

    out, err = Console(width=None if sys.stdout.isatty() else WIDE_COLUMNS), Console(stderr=True)
    if fleet is None or workload is None:
        _fail_without_fleet_and_workload(err)
    with _suanli_error_exits():
        request = SimulationRequest(
            fleet=fleet,
            workload=workload,
            policies=parse_policies(policy, compare),
            target_load=target_load,
            time_scale=time_scale,
            seed=seed,
            limit_jobs=limit_jobs,
            throughputs=throughputs,
            packing=packing,
            packing_whole_cards=packing_whole_cards,
            bound=bound,
            traces_dir=_traces_dir(),
        )
        if plot is not None:
            check_plot_folder(plot)  # before the run, which may take hours
        comparison, written = _replay(request, plot, err)
    if as_json:
        typer.echo(json_text(_json_body(comparison)))
        return
    _render(out, comparison)
    for path in written:
        out.print(t(f"图表：{path}", f"plot: {path}"))


def _fail_without_fleet_and_workload(err: Console) -> NoReturn:
    err.print(
        t(
            "错误：需要 --fleet 和 --workload（或子命令 `packing`）",
            "error: --fleet and --workload are required (or the packing subcommand)",
        ),
        highlight=False,
    )
    raise typer.Exit(code=2)


@contextmanager
def _suanli_error_exits() -> Iterator[None]:
    """A typed error becomes its message on stderr and its exit code, never a traceback."""
    try:
        yield
    except SuanliError as error:
        fail(error.message, error.exit_code)


def _traces_dir() -> Path | None:
    from suanli.simulation.traces import default_starts, find_traces_dir

    return find_traces_dir(os.environ.get(TRACES_DIR_ENV), default_starts())


def _replay(
    request: SimulationRequest, plot: Path | None, err: Console
) -> tuple[Comparison, list[Path]]:
    """Runs every policy with a progress bar on stderr; writes the plots when asked."""
    from suanli.simulation.plots import write_plots
    from suanli.simulation.runner import run_simulation

    with _progress(err) as bar:
        comparison = run_simulation(request, _progress_factory(bar))
    written = write_plots(comparison.results, plot) if plot is not None else []
    return comparison, written


def _json_body(comparison: Comparison) -> dict[str, object]:
    policies = {
        name: {**metrics.as_dict(), **_ratios(comparison, name)}
        for name, metrics in comparison.metrics.items()
    }
    floor = comparison.floor.as_dict()
    shared = comparison.bound.as_dict() if comparison.bound else None
    return {"policies": policies, "floor": floor, "bound": shared, **_load_dict(comparison)}


def _load_dict(comparison: Comparison) -> dict[str, object]:
    # infinite loads (arrivals at one instant) print as null: see metrics.json_text
    return {
        "fleet": render(comparison.fleet.source, "en"),  # JSON: the same in either language
        "cards": comparison.fleet.cards,
        "offered_load": round(comparison.offered_load, 4),
        "equivalent_load": round(comparison.equivalent_load, 4) or None,
        "load_by_tenth": [round(load, 4) for load in comparison.load_by_tenth],
    }


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _progress_factory(bar: Progress) -> ProgressFactory:
    def factory(name: str, jobs: int) -> ProgressCallback:
        task = bar.add_task(f"{name:<15}", total=jobs)
        return lambda settled: bar.update(task, completed=settled)

    return factory


def _render(console: Console, comparison: Comparison) -> None:
    fleet, workload = comparison.fleet, comparison.workload
    pools, cards, jobs = len(fleet.pools), fleet.cards, len(workload.jobs)
    skipped, adjusted = (
        _counts(fleet.skipped),
        _counts(workload.skipped) + _counts(workload.adjusted),
    )
    console.print(
        t(
            f"集群 {render(fleet.source, ZH)}：{pools} 个资源池，{cards} 张卡{skipped}",
            f"fleet {render(fleet.source, EN)}: {pools} pools, {cards} cards{skipped}",
        ),
        highlight=False,
    )
    load, factor = f"{comparison.offered_load:.2f}", f"{comparison.arrival_factor:.6g}"
    console.print(
        t(
            f"负载 {render(workload.source, ZH)}：{jobs} 个作业{adjusted}；"
            f"提供负载 {load}（到达 × {factor}）",
            f"workload {render(workload.source, EN)}: {jobs} jobs{adjusted}; offered load {load} "
            f"(arrivals × {factor})",
        ),
        highlight=False,
    )
    if comparison.equivalent_load > 0:
        equivalent = f"{comparison.equivalent_load:.2f}"
        console.print(
            t(
                f"折合为参考卡型的集群算力，提供负载为 {equivalent}（按各卡型对该负载的实测速度）",
                f"offered load {equivalent} against the fleet counted in reference-chip "
                "equivalents (each chip at its measured speed on this work)",
            ),
            highlight=False,
        )
    console.print(_table(comparison))
    console.print(_tenths_table(comparison))
    console.print(_floor_line(comparison), highlight=False)
    if comparison.bound is not None:
        console.print(_bound_line(comparison.bound, comparison.floor.avg_jct_s), highlight=False)


def _floor_line(comparison: Comparison) -> str:
    """The avg JCT no policy can beat, and as a share of the baseline's where it ran."""
    floor = comparison.floor
    least, jobs = _duration(floor.avg_jct_s), floor.jobs
    line = t(
        f"下限：任何策略的平均 JCT ≥ {least}（{jobs} 个作业各自独占最快的合适资源池）",
        f"floor: avg JCT ≥ {least} under any policy "
        f"(each of {jobs} jobs alone on its fastest fitting pool)",
    )
    baseline = comparison.metrics.get(BASELINE)
    if baseline is not None and baseline.avg_jct_s > 0:
        line += t("；", "; ") + f"{floor.avg_jct_s / baseline.avg_jct_s:.2f} × fifo-first-fit"
    return line


def _bound_line(bound: JctBound, floor: float) -> str:
    """The avg JCT no schedule can beat once the jobs share the fleet, and × the floor."""
    least, capacity = _duration(bound.avg_jct_s), f"{bound.capacity_cards:,.0f}"
    times = f"{bound.avg_jct_s / floor:.2f}" if floor > 0 else "—"
    return t(
        f"共享下界：即便可抢占、可迁移，任何调度的平均 JCT ≥ {least}（{times} × 下限；"
        f"集群至多相当于 {capacity} 张各作业最快的卡）",
        f"bound: avg JCT ≥ {least} under any schedule, even preemptive and migrating "
        f"({times} × floor; the fleet does at most the work of {capacity} cards of each job's "
        "fastest chip)",
    )


def _counts(counts: dict[str, int]) -> str:
    shown = t("，", ", ").join(
        f"{t(COUNT_NAMES_ZH.get(key, key), key.replace('_', ' '))} {value}"
        for key, value in counts.items()
        if value
    )
    return t(f"（{shown}）", f" ({shown})") if shown else ""


TABLE_HEADERS = (
    ("策略", "policy"),
    ("平均 JCT", "avg JCT"),
    ("× FIFO", "× FIFO"),
    ("× 下限", "× floor"),
    ("p95 JCT", "p95 JCT"),
    ("p99 JCT", "p99 JCT"),
    ("平均等待", "avg wait"),
    ("p95 等待", "p95 wait"),
    ("总时长", "makespan"),
    ("利用率", "util"),
    ("排队时闲置", "idle while queued"),
    ("完成", "done"),
    ("无法放置", "unplaceable"),
    ("费用", "cost"),
    ("Jain 指数", "Jain"),
    ("决策/秒", "decisions/s"),
)
COUNT_NAMES_ZH = {
    "cpu_only_nodes": "仅 CPU 节点",
    "cpu_only_pods": "仅 CPU 作业",
    "never_ran_pods": "未运行过的作业",
    "shared_gpu_rounded_up": "共享 GPU 向上取整",
    "runtime_capped_30_days": "运行时长截为 30 天",
}


def _ratios(comparison: Comparison, name: str) -> dict[str, float | None]:
    """avg JCT ÷ fifo-first-fit's (None when it did not run) and ÷ the floor."""
    avg = comparison.metrics[name].avg_jct_s
    fifo = comparison.metrics.get(BASELINE)
    floor = comparison.floor.avg_jct_s
    return {
        "x_fifo": round(avg / fifo.avg_jct_s, 4) if fifo and fifo.avg_jct_s > 0 else None,
        "x_floor": round(avg / floor, 4) if floor > 0 else None,
    }


def _ratio_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _table(comparison: Comparison) -> Table:
    table = Table(title=t("调度策略对比", "Scheduling policies"))
    for zh, en in TABLE_HEADERS:
        table.add_column(t(zh, en), justify="right")
    for name, m in comparison.metrics.items():
        ratios = _ratios(comparison, name)
        table.add_row(
            name,
            _duration(m.avg_jct_s),
            _ratio_text(ratios["x_fifo"]),
            _ratio_text(ratios["x_floor"]),
            _duration(m.p95_jct_s),
            _duration(m.p99_jct_s),
            _duration(m.avg_wait_s),
            _duration(m.p95_wait_s),
            _duration(m.makespan_s),
            f"{m.utilization:.1%}",
            f"{m.lost_capacity:.1%}",
            str(m.completed),
            str(m.unplaceable),
            format_yuan(m.cost_fen),
            f"{m.jain:.3f}",
            f"{m.decisions_per_s:,.0f}",
        )
    return table


def _tenths_table(comparison: Comparison) -> Table:
    """Mean wait of the jobs submitted in each tenth of the arrival span: a queue that grows
    without bound shows as a rising row."""
    table = Table(title=t("按到达时间十分位的平均等待", "Mean wait per tenth of the run"))
    table.add_column(t("策略", "policy"), justify="right")
    for tenth in range(1, 11):
        table.add_column(f"{tenth}/10", justify="right")
    if comparison.load_by_tenth:
        label = t("该十分位到达的提供负载", "offered load arriving")
        table.add_row(label, *(f"{load:.2f}" for load in comparison.load_by_tenth))
    for name, m in comparison.metrics.items():
        table.add_row(name, *(_duration(wait) for wait in m.wait_by_tenth_s))
    return table


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
