"""`suanli bench ...`: benchmarks print figures and a same-run baseline ratio; never assert.

Only the benchmarks' command lines live here. Each command imports its benchmark module
(SQLAlchemy, httpx, the services, NumPy...) when it runs, so `suanli bench <name> --help`
starts without them (`tests/e2e/test_first_hour_cli.py` checks every command's help).
"""

from __future__ import annotations

from typing import Annotated

import typer

from suanli.cli.common import JsonOption, handle_errors
from suanli.domain.scheduling import DEFAULT_PACKING_POLICY
from suanli.simulation import FRACTIONAL_DEFAULT

app = typer.Typer(help="Benchmarks", no_args_is_help=True)

TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
WORKERS_MAX = 64  # ledger and vouchers: worker processes
SECONDS_MAX = 600  # ledger and api: the length of a run
SETTLEMENTS_MAX = 100_000
SCENE_ITEMS_DEFAULT = 10_000
SCENE_ITEMS_QUICK = 1_000
SCENE_ITEMS_MAX = 100_000
SCENE_QUERIES_DEFAULT = 200
SCENE_QUERIES_MAX = 10_000
REPEAT_MAX = 50  # cli: runs per command
REPLICAS_MAX = 8
CLIENTS_MAX = 256
DASHBOARD_JOBS_DEFAULT = 100_000
DASHBOARD_POOLS_DEFAULT = 1_000
DASHBOARD_MINUTES_MAX = 30
REFRESH_MS_DEFAULT = 5_000  # web/src/features/dashboard/api.ts REFRESH_MS
REFRESH_MS_MIN = 200  # the page's own bounds on ?refresh_ms=
REFRESH_MS_MAX = 10_000
WARM_UP_MINUTES_DEFAULT = 2.0
WEB_JOBS_DEFAULT = 100_000
WEB_POOLS_DEFAULT = 10_000


@app.command("ledger")
@handle_errors
def ledger_command(
    database_url: str = typer.Option(..., "--database-url", help="PostgreSQL or SQLite URL"),
    workers: int = typer.Option(8, "--workers", min=1, max=WORKERS_MAX),
    seconds: float = typer.Option(5.0, "--seconds", min=0.5, max=SECONDS_MAX),
    json_output: bool = JsonOption,
) -> None:
    """Ledger transfers/s (uncontended and hot accounts) vs plain INSERT+COMMIT tx/s."""
    from suanli.cli import bench_ledger

    bench_ledger.run_command(database_url, workers, seconds, json_output)


@app.command("scheduler", help="Placement decisions/s and latency")
def scheduler_command(
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
    from suanli.cli import bench_scheduler

    bench_scheduler.run_command(
        pools, jobs, policy, seed, fractional, packing, packing_whole_cards, as_json
    )


@app.command("vouchers")
@handle_errors
def vouchers_command(
    database_url: str = typer.Option(
        TEST_DATABASE_URL, "--database-url", help="PostgreSQL (default: local test db)"
    ),
    settlements: int = typer.Option(400, "--settlements", min=1, max=SETTLEMENTS_MAX),
    workers: int = typer.Option(8, "--workers", min=1, max=WORKERS_MAX),
    json_output: bool = JsonOption,
) -> None:
    """Concurrent settlements against a program whose budget covers only some of them."""
    from suanli.cli import bench_vouchers

    bench_vouchers.run_command(database_url, settlements, workers, json_output)


@app.command("scenes")
@handle_errors
def scenes_command(
    items: int = typer.Option(
        SCENE_ITEMS_DEFAULT, "--items", min=100, max=SCENE_ITEMS_MAX, help="synthetic items"
    ),
    queries: int = typer.Option(SCENE_QUERIES_DEFAULT, "--queries", min=1, max=SCENE_QUERIES_MAX),
    quick: bool = typer.Option(False, "--quick", help=f"{SCENE_ITEMS_QUICK} items, about a minute"),
    no_cache: bool = typer.Option(False, "--no-cache", help="embed the demo set afresh"),
    reuse_vectors: bool = typer.Option(
        False,
        "--reuse-vectors",
        help="keep the synthetic items' vectors in <data_dir>/cache and reuse them",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Demo-set quality, indexing time and texts/s, query latency after indexing."""
    from suanli.cli import bench_scenes

    count = SCENE_ITEMS_QUICK if quick else items
    bench_scenes.run_command(count, queries, no_cache, reuse_vectors, json_output)


@app.command("cli", help="Start-up time of suanli --help and sub-commands vs python -c pass")
def cli_command(
    repeat: int = typer.Option(10, "--repeat", min=1, max=REPEAT_MAX, help="runs per command"),
    json_output: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    from suanli.cli import bench_cli

    bench_cli.run_command(repeat, json_output)


@app.command("api", help="API throughput and latency with several replicas on one database")
@handle_errors
def api_command(
    database_url: str = typer.Option(TEST_DATABASE_URL, "--database-url"),
    replicas: int = typer.Option(2, "--replicas", min=1, max=REPLICAS_MAX),
    clients: int = typer.Option(32, "--clients", min=1, max=CLIENTS_MAX),
    seconds: float = typer.Option(20.0, "--seconds", min=1.0, max=SECONDS_MAX),
    json_output: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Prints per-operation rate, p50/p99 and errors, and their ratio to GET /healthz."""
    from suanli.cli import bench_api

    bench_api.run_command(database_url, replicas, clients, seconds, json_output)


@app.command("dashboard", help="City dashboard: API latency, first paint, heap over time")
def dashboard_command(
    database_url: str = typer.Option(..., "--database-url", help="PostgreSQL URL"),
    jobs: int = typer.Option(DASHBOARD_JOBS_DEFAULT, "--jobs", min=1, max=1_000_000),
    pools: int = typer.Option(DASHBOARD_POOLS_DEFAULT, "--pools", min=1, max=100_000),
    minutes: float = typer.Option(10.0, "--minutes", min=0.0, max=DASHBOARD_MINUTES_MAX),
    refresh_ms: int = typer.Option(
        REFRESH_MS_DEFAULT,
        "--refresh-ms",
        min=REFRESH_MS_MIN,
        max=REFRESH_MS_MAX,
        help="the page's refresh interval during the heap run (?refresh_ms=)",
    ),
    warm_up_minutes: float = typer.Option(
        WARM_UP_MINUTES_DEFAULT,
        "--warm-up-minutes",
        min=0.0,
        max=DASHBOARD_MINUTES_MAX,
        help="heap samples this early are shown but left out of the verdict",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Seeds, serves, measures; prints the figures."""
    from suanli.cli import bench_dashboard

    bench_dashboard.run_command(
        database_url, jobs, pools, minutes, refresh_ms, warm_up_minutes, json_output
    )


@app.command("web", help="Web portal: first-page JS size, API p95, render time")
def web_command(
    database_url: str = typer.Option(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", "--database-url"
    ),
    jobs: int = typer.Option(WEB_JOBS_DEFAULT, "--jobs", min=1, max=1_000_000),
    pools: int = typer.Option(WEB_POOLS_DEFAULT, "--pools", min=1, max=100_000),
    json_output: bool = JsonOption,
) -> None:
    """Seeds, serves, measures; prints the figures."""
    from suanli.cli import bench_web

    bench_web.run_command(database_url, jobs, pools, json_output)
