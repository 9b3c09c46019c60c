"""`suanli bench web`: the web portal's goals, measured.

- The JavaScript the first page (`/`) loads, gzip-compressed (level 9) file by file, as
  Chromium's Performance API lists it (goal ≤ 350 KB; routes are split).
- On PostgreSQL with `--jobs` jobs and `--pools` pools (bulk-inserted into a schema of its own,
  dropped afterwards; the rows are `bench dashboard`'s): the API's p50/p95 for the catalogue
  (`GET /v1/public/pools`, a few filter shapes) and an enterprise's jobs list (`GET /v1/jobs`),
  beside `/healthz` as the same-run baseline (goal p95 ≤ 100 ms).
- Chromium: the time from navigation until the catalogue's and the jobs list's first rows are
  on screen (`performance.now()`, goal ≤ 1.5 s).
Bounded: `API_CALLS` requests per shape, `RENDER_RUNS` loads per page. Printed, not asserted.
"""

from __future__ import annotations

import gzip
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import sqlalchemy as sa
import typer

from suanli.cli.bench_dashboard import _browser, _schema, _seed, _serving
from suanli.cli.common import console, print_json

API_CALLS = 40
RENDER_RUNS = 3
BENCH_LOGIN = "bench.web"
BENCH_PASSWORD = "bench-kettle-river-42"
ENTERPRISE_ID = "org_be0"  # bench dashboard's first seeded enterprise
CATALOGUE_SHAPES = (
    "/v1/public/pools",
    "/v1/public/pools?domestic=true&sort=price",
    "/v1/public/pools?accelerator=H100-SXM&free_cards_min=8&offset=200",
    "/v1/public/pools?vendor=Huawei&price_max_fen=3000&sort=-cards",
)
JOBS_SHAPES = ("/v1/jobs", "/v1/jobs?state=succeeded&offset=1000", "/v1/jobs?state=running")


@dataclass
class WebBench:
    first_page_js_files: int
    first_page_js_gzip_kb: float
    jobs: int
    pools: int
    seed_s: float
    catalogue_p50_ms: float
    catalogue_p95_ms: float
    jobs_p50_ms: float
    jobs_p95_ms: float
    healthz_p50_ms: float
    catalogue_render_ms: list[float]
    jobs_render_ms: list[float]


def run_command(database_url: str, jobs: int, pools: int, json_output: bool) -> None:
    """`suanli bench web` (its options are in cli/bench.py): seeds, serves, measures; prints
    the figures."""
    _require_portal()
    with _schema(database_url) as url:
        started = time.monotonic()
        _seed(url, jobs, pools)
        token = _bench_user(url)
        seed_s = time.monotonic() - started
        with _serving(url) as base:
            js = _first_page_js(base)
            catalogue = _latency(base, CATALOGUE_SHAPES, {})
            listed = _latency(base, JOBS_SHAPES, {"Authorization": f"Bearer {token}"})
            health = _latency(base, ("/healthz",), {})
            renders = _renders(base)
    result = WebBench(
        first_page_js_files=js[0],
        first_page_js_gzip_kb=js[1],
        jobs=jobs,
        pools=pools,
        seed_s=round(seed_s, 1),
        catalogue_p50_ms=catalogue[0],
        catalogue_p95_ms=catalogue[1],
        jobs_p50_ms=listed[0],
        jobs_p95_ms=listed[1],
        healthz_p50_ms=health[0],
        catalogue_render_ms=renders[0],
        jobs_render_ms=renders[1],
    )
    if json_output:
        print_json(asdict(result))
        return
    _print(result)


def _require_portal() -> None:
    from suanli.api.web import STATIC_DIR

    if not (STATIC_DIR / "index.html").is_file():
        console.print("the portal is not built: run make web first")
        raise typer.Exit(2)


def _print(result: WebBench) -> None:
    console.print(
        f"first page: {result.first_page_js_files} JS files, "
        f"{result.first_page_js_gzip_kb} KB gzip (goal ≤ 350)"
    )
    console.print(f"seeded {result.jobs:,} jobs on {result.pools:,} pools in {result.seed_s} s")
    console.print(
        f"catalogue p50 {result.catalogue_p50_ms} ms, p95 {result.catalogue_p95_ms} ms; "
        f"jobs list p50 {result.jobs_p50_ms} ms, p95 {result.jobs_p95_ms} ms (goal p95 ≤ 100); "
        f"/healthz p50 {result.healthz_p50_ms} ms"
    )
    console.print(
        f"rendered (ms): catalogue {result.catalogue_render_ms}, jobs {result.jobs_render_ms} "
        "(goal ≤ 1500)"
    )


def _bench_user(url: str) -> str:
    """A user with a password and a token in the first seeded enterprise."""
    from suanli.adapters.db.database import Database
    from suanli.services.common import SystemClock
    from suanli.services.organisations import FirstAdmin, create_user, issue_token

    db = Database(url)
    try:
        with db.session() as session:
            admin = FirstAdmin(display_name="bench", login=BENCH_LOGIN, password=BENCH_PASSWORD)
            user = create_user(session, SystemClock(), org_id=ENTERPRISE_ID, first=admin)
            token = issue_token(session, SystemClock(), user.id, ENTERPRISE_ID).token
            session.commit()
    finally:
        db.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("ANALYZE"))
    engine.dispose()
    return token


def _latency(base: str, paths: tuple[str, ...], headers: dict[str, str]) -> tuple[float, float]:
    times = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for path in paths:
            client.get(path).raise_for_status()  # warm: plans cached, pool connected
            for _ in range(API_CALLS // len(paths) or 1):
                started = time.perf_counter()
                client.get(path).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p95 = times[max(0, int(len(times) * 0.95) - 1)]
    return round(statistics.median(times), 1), round(p95, 1)


def _first_page_js(base: str) -> tuple[int, float]:
    """Every script the landing page loaded, compressed as a server would send it."""
    with _browser() as browser:
        page = browser.new_context().new_page()
        page.goto(base + "/")
        page.wait_for_selector("h2", timeout=30_000)
        page.wait_for_load_state("networkidle")
        urls: list[str] = page.evaluate(
            "() => performance.getEntriesByType('resource')"
            ".filter(e => e.name.endsWith('.js')).map(e => e.name)"
        )
    total = sum(len(gzip.compress(httpx.get(url).content, 9)) for url in urls)
    return len(urls), round(total / 1024, 1)


def _renders(base: str) -> tuple[list[float], list[float]]:
    catalogue: list[float] = []
    listed: list[float] = []
    with _browser() as browser:
        for _ in range(RENDER_RUNS):
            catalogue.append(_rendered(browser, base, "/market", signed_in=False))
            listed.append(_rendered(browser, base, "/console/jobs", signed_in=True))
    return catalogue, listed


def _rendered(browser: Any, base: str, path: str, *, signed_in: bool) -> float:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    if signed_in:
        body = {"login": BENCH_LOGIN, "password": BENCH_PASSWORD}
        context.request.post(base + "/v1/auth/login", data=body).dispose()
    page = context.new_page()
    page.goto(base + path)
    page.wait_for_selector("tr[data-row-key]", timeout=30_000)
    elapsed = float(page.evaluate("() => performance.now()"))
    context.close()
    return round(elapsed, 0)
