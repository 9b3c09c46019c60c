"""`suanli demo`: a fresh fictional city whose market runs live, then (optionally) serves it.

The bootstrap and the demo service (the database, the scheduler, NumPy) are imported where they
run, so `suanli demo --help` starts without them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.live import Live
from rich.table import Table

from suanli.cli.common import (
    console,
    err_console,
    handle_errors,
    print_json,
    settings_from_env,
)
from suanli.cli.render import job_counts, job_state, words
from suanli.domain.jobs import TERMINAL_STATES, JobState
from suanli.domain.money import format_yuan
from suanli.i18n import t

if TYPE_CHECKING:
    from suanli.bootstrap import App
    from suanli.services import demo

DEMO_TIMEOUT_S = 180.0
TICK_S = 0.25


@handle_errors
def demo_command(
    serve: bool = typer.Option(True, "--serve/--no-serve", help="serve the API afterwards"),
    json_output: bool = typer.Option(False, "--json", help="print the summary as JSON (last line)"),
    data_dir: Path | None = typer.Option(None, "--data-dir", envvar="SUANLI_DATA_DIR"),
    with_ray: bool = typer.Option(
        False, "--with-ray", help="also start a local Ray head and run some jobs on it"
    ),
) -> None:
    """Creates a fresh demo city, runs its jobs live, prints a summary, then serves the API."""
    from suanli.bootstrap import bootstrap
    from suanli.services import demo

    settings = settings_from_env(data_dir=data_dir)
    demo_dir = settings.data_dir / "demo"
    demo.reset_data_dir(demo_dir)
    settings = settings.model_copy(update={"data_dir": demo_dir, "database_url": None})
    # The head outlives the API server and is stopped on the way out, Ctrl-C included.
    with _ray_head(with_ray) as ray_address:
        _run_demo(bootstrap(settings), ray_address, serve=serve, json_output=json_output)


@contextmanager
def _ray_head(wanted: bool) -> Iterator[str | None]:
    if not wanted:
        yield None
        return
    from suanli.adapters.backends.ray_local import ray_head
    from suanli.services import demo

    console.print(t("启动本地 Ray 集群 (127.0.0.1)...", "starting a local Ray head (127.0.0.1)..."))
    with ray_head(resources=demo.RAY_RESOURCES) as head:
        console.print(
            t(
                f"  Ray 仪表盘 / 作业 API：{head.address}",
                f"  Ray dashboard / Jobs API: {head.address}",
            )
        )
        try:
            yield head.address
        finally:
            # stderr: with --json the summary must stay the last line of stdout
            err_console.print(t("停止本地 Ray 集群...", "stopping the local Ray head..."))


def _run_demo(app: App, ray_address: str | None, *, serve: bool, json_output: bool) -> None:
    from suanli.services import demo

    try:
        city = demo.build_city(app)
        jobs = demo.JOBS
        if ray_address is not None:
            demo.attach_ray(app, city, ray_address)
            jobs = demo.JOBS + demo.RAY_JOBS
        demo.submit_jobs(app, city, jobs)
        _show_refusals(city)
        _run_live(app, city)
        result = demo.summary(app, city)
        _print_summary(result)
        _print_tokens(city, app.settings.resolved_api_url, app.settings.data_dir)
        if json_output:
            print_json({**result, "tokens": city.tokens()})
        if serve:
            _serve(app, city)
    finally:
        app.close()  # stops local jobs even on Ctrl-C or an error (closing twice is harmless)


def _show_refusals(city: demo.DemoCity) -> None:
    for refused in city.rejected:
        console.print(
            t(
                f"[yellow]拒绝[/yellow] {refused['name']}:",
                f"[yellow]refused[/yellow] {refused['name']}:",
            )
        )
        for reason in refused["reasons"]:
            console.print(f"   - {reason}")


TABLE_COLUMNS = (
    ("作业", "job"),
    ("状态", "state"),
    ("资源池", "pool"),
    ("卡数", "cards"),
    ("冻结", "hold"),
    ("计费", "billed"),
)
STATE_COLOURS = {"succeeded": "green", "running": "cyan", "queued": "yellow", "failed": "red"}


def _run_live(app: App, city: demo.DemoCity) -> None:
    from suanli.services import demo

    deadline = time.monotonic() + DEMO_TIMEOUT_S
    finished = False
    initial = _table(demo.job_rows(app, city.job_ids))
    with Live(initial, console=console, refresh_per_second=4, transient=False) as live:
        while not finished and time.monotonic() < deadline:
            app.runtime.tick()
            rows = demo.job_rows(app, city.job_ids)
            live.update(_table(rows))
            finished = all(JobState(row.state) in TERMINAL_STATES for row in rows)
            if not finished:
                time.sleep(TICK_S)
    if not console.is_terminal:
        console.line()  # Rich ends a non-terminal Live's last render without a line break
    if not finished:
        console.print(
            t(
                "[red]演示超时, 仍有作业未结束[/red]",
                "[red]demo timed out with jobs still running[/red]",
            )
        )


def _table(rows: list[demo.DemoJobLine]) -> Table:
    table = Table(title=t("演示城市算力市场 (虚构数据)", "Demo city compute market (fictional)"))
    for zh, en in TABLE_COLUMNS:
        table.add_column(t(zh, en))
    for row in rows:
        state = f"[{STATE_COLOURS.get(row.state, 'white')}]{job_state(row.state)}[/]"
        billed = "" if row.billed_fen is None else format_yuan(row.billed_fen)
        table.add_row(row.name, state, row.pool, str(row.cards), format_yuan(row.hold_fen), billed)
    return table


def _print_summary(result: dict[str, Any]) -> None:
    console.print(t("[bold]汇总[/bold]", "[bold]Summary[/bold]"))
    jobs, refused = job_counts(result["jobs"]), result["rejected"]
    console.print(
        t(f"作业状态: {jobs}; 拒绝: {refused}", f"jobs by state: {jobs}; refused: {refused}"),
        highlight=False,
    )
    backends = words(result["jobs_by_backend"])
    console.print(t(f"按后端运行的作业: {backends}", f"jobs by backend: {backends}"))
    card_hours = result["card_seconds"] / 3600
    billed = format_yuan(result["billed_fen"])
    console.print(
        t(
            f"卡时: {card_hours:.4f}; 计费合计: {billed}",
            f"card-hours: {card_hours:.4f}; billed: {billed}",
        )
    )
    for label, key in (
        (t("按企业", "by enterprise"), "billed_fen_by_enterprise"),
        (t("按服务商", "by provider"), "billed_fen_by_provider"),
    ):
        for name, fen in result[key].items():
            console.print(f"  {label}: {name} {format_yuan(fen)}")


def _serve(app: App, city: demo.DemoCity) -> None:
    from suanli.services.server import serve_forever

    console.print(t("API 服务于", "API at") + f" {app.settings.resolved_api_url}/docs  (Ctrl-C)")
    serve_forever(app)


def _print_tokens(city: demo.DemoCity, api_url: str, data_dir: Path) -> None:
    """The demo's admin tokens and how to use them: every README example can run on the demo."""
    tokens = city.tokens()
    console.print(t("[bold]令牌[/bold] (虚构演示数据)", "[bold]Tokens[/bold] (fictional demo)"))
    lines = [
        (t("运营方", "operator"), tokens["operator"]),
        (t("主管机构(发布场景机会)", "agency (publishes the opportunities)"), tokens["agency"]),
        *[
            (t(f"服务商 {i + 1}", f"provider {i + 1}"), tok)
            for i, tok in enumerate(tokens["providers"])
        ],
        *[
            (t(f"企业 {i + 1}", f"enterprise {i + 1}"), tok)
            for i, tok in enumerate(tokens["enterprises"])
        ],
    ]
    for label, token in lines:
        console.print(f"  {label}: {token}", highlight=False, soft_wrap=True)
    console.print(
        t(
            f"用法：`export SUANLI_API_URL={api_url} SUANLI_DATA_DIR={data_dir} "
            "SUANLI_TOKEN=<上面的令牌>`，然后如 `suanli scenes pairs list`",
            f"use: export SUANLI_API_URL={api_url} SUANLI_DATA_DIR={data_dir} "
            "SUANLI_TOKEN=<a token above>, then e.g. suanli scenes pairs list",
        ),
        highlight=False,
        soft_wrap=True,
    )
