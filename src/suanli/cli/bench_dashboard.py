"""`suanli bench dashboard`: the city dashboard (城市大屏) with many jobs in PostgreSQL.

Seeds a schema of its own (pools of several vendors, `--jobs` jobs with their usage lines, a
few hundred running), serves the API and the built portal from this process (no scheduling
loop: the seeded jobs must stay as seeded), and measures, bounded in count and time:
- the API: `GET /v1/public/dashboard` latency with its cache off, beside `/healthz` (the
  same-run baseline);
- Chromium: the dashboard's first paint and the time until every tile and chart is drawn;
- Chromium: the tab's JS heap (after a forced garbage collection) sampled while the page
  refreshes every 5 s for `--minutes`; flat means the last samples are no higher than the
  first ones by more than the noise.
The schema is dropped afterwards. Figures are printed, never asserted.
"""

from __future__ import annotations

import random
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import typer

from suanli.cli.common import JsonOption, console, print_json
from suanli.i18n import t

JOBS_DEFAULT = 100_000
POOLS_DEFAULT = 1_000
API_CALLS = 20
PAINT_RUNS = 3
HEAP_SAMPLE_S = 30
MINUTES_MAX = 30
INSERT_BATCH = 5_000
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
MODELS = ("H100-SXM", "A100-80GB", "Ascend-910B", "Ascend-910", "MLU370-X8", "Kunlunxin-R200")


@dataclass
class DashboardBench:
    jobs: int
    pools: int
    seed_s: float
    api_p50_ms: float
    api_p95_ms: float
    healthz_p50_ms: float
    api_ratio: float
    first_paint_ms: list[float]
    drawn_ms: list[float]
    heap_minutes: float
    heap_samples_mb: list[float] = field(default_factory=list)
    heap_growth_mb: float = 0.0


def register(app: typer.Typer) -> None:
    app.command("dashboard", help="City dashboard: API latency, first paint, heap over time")(
        dashboard
    )


def dashboard(
    database_url: str = typer.Option(..., "--database-url", help="PostgreSQL URL"),
    jobs: int = typer.Option(JOBS_DEFAULT, "--jobs", min=1, max=1_000_000),
    pools: int = typer.Option(POOLS_DEFAULT, "--pools", min=1, max=100_000),
    minutes: float = typer.Option(10.0, "--minutes", min=0.0, max=MINUTES_MAX),
    json_output: bool = JsonOption,
) -> None:
    """Seeds, serves, measures; prints the figures."""
    with _schema(database_url) as url:
        started = time.monotonic()
        _seed(url, jobs, pools)
        seed_s = time.monotonic() - started
        with _serving(url) as base:
            api = _api_latency(base)
            paint = _paint(base)
            heap = _heap(base, minutes)
    result = DashboardBench(
        jobs=jobs,
        pools=pools,
        seed_s=round(seed_s, 1),
        api_p50_ms=api[0],
        api_p95_ms=api[1],
        healthz_p50_ms=api[2],
        api_ratio=round(api[0] / api[2], 1) if api[2] else 0.0,
        first_paint_ms=paint[0],
        drawn_ms=paint[1],
        heap_minutes=minutes,
        heap_samples_mb=heap,
        heap_growth_mb=round(max(heap[-2:]) - min(heap[:2]), 2) if len(heap) >= 2 else 0.0,
    )
    if json_output:
        print_json(asdict(result))
        return
    _print(result)


def _print(result: DashboardBench) -> None:
    console.print(f"seeded {result.jobs:,} jobs on {result.pools:,} pools in {result.seed_s} s")
    console.print(
        f"API /v1/public/dashboard (cache off): p50 {result.api_p50_ms} ms, p95 "
        f"{result.api_p95_ms} ms; /healthz p50 {result.healthz_p50_ms} ms (ratio "
        f"{result.api_ratio}x)"
    )
    console.print(f"first paint (ms): {result.first_paint_ms}")
    console.print(f"every tile and chart drawn (ms): {result.drawn_ms} (goal ≤ 2000)")
    console.print(
        f"JS heap over {result.heap_minutes} min (MB, after GC): {result.heap_samples_mb}; "
        f"growth {result.heap_growth_mb} MB"
    )


# ---------------------------------------------------------------- the database


@contextmanager
def _schema(admin_url: str) -> Iterator[str]:
    from suanli.adapters.db.migrate import upgrade

    if not admin_url.startswith("postgresql"):
        raise typer.BadParameter(
            t("仪表盘目标只适用于 PostgreSQL", "the dashboard goal is for PostgreSQL"),
            param_hint="--database-url",
        )
    schema = f"bench_dashboard_{secrets.token_hex(4)}"
    engine = sa.create_engine(admin_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in admin_url else "?"
    url = f"{admin_url}{separator}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _seed(url: str, jobs: int, pools: int) -> None:
    """Rows straight into the tables (the services' rules are not what is measured here)."""
    from suanli.adapters.db.tables import JobRow, OrganisationRow, PoolRow, UsageRow
    from suanli.adapters.db.tables_ledger import LedgerAccountRow
    from suanli.services import ledger

    rng = random.Random(17)
    now = datetime.now(UTC)
    engine = sa.create_engine(url)
    providers = [f"org_bp{n}" for n in range(10)]
    enterprises = [f"org_be{n}" for n in range(50)]
    orgs = [
        {
            "id": org,
            "name": org,
            "kind": kind,
            "region": "浙江/杭州",
            "created_at": now,
            "state": "active",
        }
        for kind, ids in (("provider", providers), ("enterprise", enterprises))
        for org in ids
    ]
    pool_rows = [
        {
            "id": f"pool_b{n}", "provider_id": providers[n % len(providers)], "name": f"p{n}",
            "accelerator_model": MODELS[n % len(MODELS)], "nodes": 2, "cards_per_node": 8,
            "region": "浙江/杭州", "price_fen_per_card_hour": 1_000 + n % 50 * 100,
            "software": {}, "labels": {}, "backend": "local", "available": True,
            "deleted": False, "created_at": now,
        }
        for n in range(pools)
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(sa.insert(OrganisationRow), orgs)
        connection.execute(sa.insert(PoolRow), pool_rows)
    running_max = min(jobs // 100, pools * 8)
    gmv = 0
    for start in range(0, jobs, INSERT_BATCH):
        batch, usage = [], []
        for n in range(start, min(jobs, start + INSERT_BATCH)):
            job, line = _job(rng, n, now, pools, enterprises, providers, n < running_max)
            batch.append(job)
            if line is not None:
                usage.append(line)
                gmv += line["amount_fen"]
        with engine.begin() as connection:
            connection.execute(sa.insert(JobRow), batch)
            if usage:
                connection.execute(sa.insert(UsageRow), usage)
    settled = (
        sa.update(LedgerAccountRow)
        .where(LedgerAccountRow.id == ledger.CLEARING_ACCOUNT_ID)
        .values(debits_posted=gmv, credits_posted=gmv)  # what settlement moves through it
    )
    with engine.begin() as connection:
        connection.execute(settled)
        connection.execute(sa.text("ANALYZE"))
    engine.dispose()


def _job(
    rng: random.Random,
    n: int,
    now: datetime,
    pools: int,
    enterprises: list[str],
    providers: list[str],
    running: bool,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    pool = n % pools
    cards = rng.choice((1, 1, 2, 4, 8))
    started = now - timedelta(seconds=rng.randint(60, 7 * 24 * 3600))
    seconds = rng.randint(30, 4 * 3600)
    state = (
        "running"
        if running
        else rng.choice(("succeeded",) * 17 + ("failed", "cancelled", "timed_out"))
    )
    ended = started + timedelta(seconds=seconds)
    if ended > now and not running:
        ended = now
    job = {
        "id": f"job_b{n}", "owner_id": enterprises[n % len(enterprises)], "submitted_by": "bench",
        "name": f"j{n}", "spec": {"cards": cards, "max_run_time_s": 14_400}, "state": state,
        "reason": "", "pool_id": f"pool_b{pool}", "node_cards": [[0, cards]], "hold_fen": 0,
        "attempts": 1, "submitted_at": started, "placed_at": started, "started_at": started,
        "finished_at": None if running else ended,
    }  # fmt: skip
    if running or state == "cancelled":
        return job, None
    card_seconds = cards * int((ended - started).total_seconds())
    price = 1_000 + pool % 50 * 100
    line = {
        "job_id": job["id"], "owner_id": job["owner_id"],
        "provider_id": providers[pool % len(providers)], "pool_id": job["pool_id"],
        "accelerator_model": MODELS[pool % len(MODELS)], "cards": cards,
        "started_at": started, "ended_at": ended, "card_seconds": card_seconds,
        "price_fen_per_card_hour": price, "amount_fen": card_seconds * price // 3600,
        "source": "bench", "created_at": ended,
    }  # fmt: skip
    return job, line


# ---------------------------------------------------------------- the server


@contextmanager
def _serving(url: str) -> Iterator[str]:
    """The API and the built portal, without the scheduling loop, on a free local port."""
    import socket

    import uvicorn

    from suanli.api.app import create_api
    from suanli.bootstrap import bootstrap
    from suanli.config import load_settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with tempfile.TemporaryDirectory(prefix="suanli-bench-") as folder:
        settings = load_settings(data_dir=Path(folder), database_url=url, dashboard_cache_s=0)
        app = bootstrap(settings)
        config = uvicorn.Config(create_api(app), host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(base)
            yield base
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            app.close()


def _wait(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the bench server did not start")


# ---------------------------------------------------------------- the measurements


def _api_latency(base: str) -> tuple[float, float, float]:
    def timed(path: str) -> list[float]:
        times = []
        for _ in range(API_CALLS):
            started = time.perf_counter()
            reply = httpx.get(base + path, timeout=30)
            reply.raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        return sorted(times)

    board, health = timed("/v1/public/dashboard"), timed("/healthz")
    p95 = board[int(len(board) * 0.95) - 1]
    return round(statistics.median(board), 1), round(p95, 1), round(statistics.median(health), 2)


@contextmanager
def _browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


DRAWN = "() => document.querySelectorAll('div[role=img] canvas').length >= 5"
PAINT = "() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1"


def _paint(base: str) -> tuple[list[float], list[float]]:
    firsts, drawn = [], []
    with _browser() as browser:
        for _ in range(PAINT_RUNS):
            context = browser.new_context(viewport={"width": 1920, "height": 1080})
            page = context.new_page()
            page.goto(base + "/dashboard")
            page.wait_for_selector('[data-testid="tile-cards"]', timeout=30_000)
            page.wait_for_function(DRAWN, timeout=30_000)
            drawn.append(round(page.evaluate("() => performance.now()"), 0))
            firsts.append(round(page.evaluate(PAINT), 0))
            context.close()
    return firsts, drawn


def _heap(base: str, minutes: float) -> list[float]:
    samples: list[float] = []
    if minutes <= 0:
        return samples
    with _browser() as browser:
        page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
        page.goto(base + "/dashboard")
        page.wait_for_function(DRAWN, timeout=30_000)
        cdp = page.context.new_cdp_session(page)
        deadline = time.monotonic() + minutes * 60
        while True:
            cdp.send("HeapProfiler.collectGarbage")
            used = cdp.send("Runtime.getHeapUsage")["usedSize"]
            samples.append(round(used / 1_000_000, 2))
            if time.monotonic() >= deadline:
                return samples
            page.wait_for_timeout(min(HEAP_SAMPLE_S, max(1, deadline - time.monotonic())) * 1000)
