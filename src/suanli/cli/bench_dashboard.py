"""`suanli bench dashboard`: the city dashboard (城市大屏) with many jobs in PostgreSQL.

Seeds a schema of its own (pools of several vendors, `--jobs` jobs with their usage lines, a
few hundred running), serves the API and the built portal from this process (no scheduling
loop: the seeded jobs must stay as seeded), and measures, bounded in count and time:
- the API: `GET /v1/public/dashboard` latency with its cache off, beside `/healthz` (the
  same-run baseline);
- Chromium: the dashboard's first paint and the time until every tile and chart is drawn;
- Chromium: the tab's JS heap while the page refreshes every `--refresh-ms` (5 s, the page's
  own interval, unless asked) for `--minutes`, in two tabs side by side: Chromium as shipped,
  and Chromium with V8's compilers off (`--js-flags=--jitless`), whose heap holds the page's
  own objects and no compiled code. Each sample follows a forced garbage collection (CDP
  `HeapProfiler.collectGarbage`; the least of three readings, so that a refresh in flight
  does not count), `HEAP_SAMPLES_PER_MINUTE` a minute. The samples of the
  first `--warm-up-minutes` are shown but left out of the verdict; over the rest, a tab's
  heap is flat when the least-squares slope is at most `FLAT_SLOPE_MB_PER_MIN` and max - min
  at most `FLAT_SPREAD_MB` (see `flatness`).
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

from suanli.cli.common import console, print_json
from suanli.i18n import t

API_CALLS = 20
PAINT_RUNS = 3
HEAP_SAMPLES_PER_MINUTE = 4
HEAP_READINGS = 3  # a sample is the least of these post-GC readings
HEAP_READING_GAP_MS = 400
FLAT_SLOPE_MB_PER_MIN = 0.05  # 0.5 MB over 10 minutes, 3 MB over an hour
FLAT_SPREAD_MB = 1.0  # max - min after the warm-up: the collector's noise is about ±0.3 MB
JITLESS = "--js-flags=--jitless"
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
class Flatness:
    """A tab's post-GC heap after the warm-up: slope (MB a minute) and max - min (MB)."""

    samples: int
    slope_mb_per_min: float
    spread_mb: float
    flat: bool


def flatness(
    minutes: list[float],
    heap_mb: list[float],
    slope_max: float = FLAT_SLOPE_MB_PER_MIN,
    spread_max: float = FLAT_SPREAD_MB,
) -> Flatness:
    """Least-squares slope and max - min of (minute, MB) samples; flat when both are within
    their thresholds. Fewer than three samples are never called flat."""
    count = len(heap_mb)
    if count < 3:
        return Flatness(count, 0.0, 0.0, False)
    mean_t, mean_h = statistics.fmean(minutes), statistics.fmean(heap_mb)
    spread_t = sum((m - mean_t) ** 2 for m in minutes)
    slope = (
        sum((m - mean_t) * (h - mean_h) for m, h in zip(minutes, heap_mb, strict=True)) / spread_t
        if spread_t
        else 0.0
    )
    spread = max(heap_mb) - min(heap_mb)
    return Flatness(
        count, round(slope, 4), round(spread, 2), slope <= slope_max and spread <= spread_max
    )


@dataclass
class HeapRun:
    """One tab's heap over the run: the minute and MB of each sample (after a forced GC)."""

    tab: str  # "jit": Chromium as shipped; "jitless": V8's compilers off, the page's objects
    minutes: list[float] = field(default_factory=list)
    heap_mb: list[float] = field(default_factory=list)
    refreshes: int = 0
    verdict: Flatness | None = None


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
    refresh_ms: int
    warm_up_minutes: float
    samples_per_minute: int
    flat_slope_mb_per_min: float
    flat_spread_mb: float
    heap: list[HeapRun] = field(default_factory=list)


def run_command(
    database_url: str,
    jobs: int,
    pools: int,
    minutes: float,
    refresh_ms: int,
    warm_up_minutes: float,
    json_output: bool,
) -> None:
    """`suanli bench dashboard` (its options are in cli/bench.py): seeds, serves, measures;
    prints the figures."""
    with _schema(database_url) as url:
        started = time.monotonic()
        _seed(url, jobs, pools)
        seed_s = time.monotonic() - started
        with _serving(url) as base:
            api = _api_latency(base)
            paint = _paint(base)
            heap = _heap(base, minutes, refresh_ms, warm_up_minutes)
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
        refresh_ms=refresh_ms,
        warm_up_minutes=warm_up_minutes,
        samples_per_minute=HEAP_SAMPLES_PER_MINUTE,
        flat_slope_mb_per_min=FLAT_SLOPE_MB_PER_MIN,
        flat_spread_mb=FLAT_SPREAD_MB,
        heap=heap,
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
        f"JS heap over {result.heap_minutes} min of {result.refresh_ms} ms refreshes, "
        f"{result.samples_per_minute} samples a minute after a forced GC; flat means a slope "
        f"≤ {result.flat_slope_mb_per_min} MB/min and max - min ≤ {result.flat_spread_mb} MB "
        f"after the first {result.warm_up_minutes} min"
    )
    for run in result.heap:
        verdict = run.verdict
        console.print(f"  {run.tab}: {run.refreshes} refreshes; MB {run.heap_mb}")
        if verdict is not None:
            console.print(
                f"  {run.tab}: {verdict.samples} samples after the warm-up, slope "
                f"{verdict.slope_mb_per_min} MB/min, max - min {verdict.spread_mb} MB: "
                f"{'flat' if verdict.flat else 'NOT flat'}"
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


# the wall's five charts drawn: four ECharts canvases and the utilisation line's SVG
DRAWN = (
    "() => { const charts = document.querySelectorAll('div[role=img]');"
    " return charts.length >= 5 && [...charts].every((c) => c.querySelector('canvas, svg')); }"
)
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


def _heap(base: str, minutes: float, refresh_ms: int, warm_up_minutes: float) -> list[HeapRun]:
    """Two tabs refreshing side by side (as shipped; jitless), sampled after forced GCs."""
    if minutes <= 0:
        return []
    from playwright.sync_api import sync_playwright

    runs = [HeapRun("jit"), HeapRun("jitless")]
    with sync_playwright() as playwright:
        browsers = [
            playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS),
            playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, JITLESS]),
        ]
        try:
            tabs = [
                _refreshing_tab(browser, base, refresh_ms, run)
                for browser, run in zip(browsers, runs, strict=True)
            ]
            started = time.monotonic()
            deadline = started + minutes * 60
            step_s = 60 / HEAP_SAMPLES_PER_MINUTE
            while True:
                at = (time.monotonic() - started) / 60
                for (page, cdp), run in zip(tabs, runs, strict=True):
                    run.minutes.append(round(at, 2))
                    run.heap_mb.append(settled_heap_mb(page, cdp))
                now = time.monotonic()
                if now >= deadline:
                    break
                tabs[0][0].wait_for_timeout(min(step_s, max(1.0, deadline - now)) * 1000)
        finally:
            for browser in browsers:
                browser.close()
    for run in runs:
        kept = [i for i, at in enumerate(run.minutes) if at >= warm_up_minutes]
        run.verdict = flatness([run.minutes[i] for i in kept], [run.heap_mb[i] for i in kept])
    return runs


def _refreshing_tab(browser: Any, base: str, refresh_ms: int, run: HeapRun) -> tuple[Any, Any]:
    page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()

    def answered(response: Any) -> None:
        if "/v1/public/dashboard" in response.url:
            run.refreshes += 1

    page.on("response", answered)
    page.goto(f"{base}/dashboard?refresh_ms={refresh_ms}")
    page.wait_for_function(DRAWN, timeout=60_000)
    return page, page.context.new_cdp_session(page)


def post_gc_heap_mb(cdp: Any) -> float:
    """The tab's used JS heap in MB (10^6 bytes) right after a forced full collection."""
    cdp.send("HeapProfiler.collectGarbage")
    return round(float(cdp.send("Runtime.getHeapUsage")["usedSize"]) / 1_000_000, 3)


def settled_heap_mb(page: Any, cdp: Any) -> float:
    """The least of `HEAP_READINGS` post-GC readings `HEAP_READING_GAP_MS` apart: a refresh in
    flight holds its answer and React's work for a moment (up to about 0.8 MB), a leak holds
    its objects for good."""
    readings = []
    for reading in range(HEAP_READINGS):
        if reading:
            page.wait_for_timeout(HEAP_READING_GAP_MS)
        readings.append(post_gc_heap_mb(cdp))
    return min(readings)
