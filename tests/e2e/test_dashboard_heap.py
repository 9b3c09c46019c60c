"""The city dashboard does not grow the tab's memory as it refreshes (issue 17): a real
`suanli serve` on PostgreSQL with its answer cache off, so each refresh brings new figures
(the seeded running jobs move the utilisation every second), and the page in Debian's
Chromium refreshing every 200 ms (`?refresh_ms=200`) instead of every 5 s, so this test runs
as many refreshes as several minutes on a wall screen. After a warm-up, between two
heap snapshots taken right after forced garbage collections:
- the JS objects and arrays, and the DOM's nodes and event listeners, must not grow by one
  per two refreshes: a page keeping each answer, or a chart option, or a listener per
  refresh adds several per refresh (a node or a listener may come and go: an overlay);
- the used heap must not rise by more than the collector's noise;
- a refresh runs no more code than its new figures need: each chart is redrawn (an ECharts
  chart gets a new option, the utilisation line's SVG new points) only when what it draws
  changed in the answers (the seeded figures do not change, but for the utilisation line's
  last point), and the ECharts charts do not animate (one canvas clear per option given, not
  a second of animation frames each).

Chromium runs with V8's compilers off (`--js-flags=--jitless`): its heap then holds the
page's objects and their bytecode only. With the compilers on, the heap also grows by the
machine code of functions as they get hot, which stops once they all are (about 2 MB);
`suanli bench dashboard` measures both tabs side by side; running less code per refresh is
what keeps that growth small."""

from __future__ import annotations

import contextlib
import json
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
import sqlalchemy as sa

from suanli.adapters.db.migrate import upgrade
from suanli.cli.bench_dashboard import DRAWN, JITLESS, _seed, post_gc_heap_mb
from tests.e2e.portal import CHROMIUM, CHROMIUM_ARGS, require_browser, serving

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REFRESH_MS = 200
WARM_UP_S = 6  # the first refreshes load code and fill caches (fonts, ECharts' themes)
# and until a chart got this many options (ECharts' code warms up), or at most WARM_UP_MAX_S
# (a chart's figures may move slowly: the utilisation line changes when a tenth of a point
# does); the server's first scheduling tick comes after 60 s
WARM_UP_OPTIONS = 8
WARM_UP_MAX_S = 20
MEASURE_S = 16
SAMPLE_EVERY_S = 2
REFRESHES_MIN = 30  # while measured: far fewer means the page stopped refreshing
REFRESHES_PER_OBJECT = 2  # objects, nodes, listeners may not grow by one per this many
JS_OBJECTS = ("object", "array")  # heap snapshot node types (closures: ±40 of noise)
HEAP_GROWTH_MAX_MB = 0.4  # median of the last samples over the first; the noise is ±0.2 MB
EDGE = 3  # samples in each median
CLEARS_PER_OPTION_MAX = 3  # canvas clears per option given; an animated option gives dozens
# Counts the charts' canvas clears (a zrender frame that draws clears its canvas first).
COUNT_CLEARS = """
window.__canvasClears = 0;
const clearRect = CanvasRenderingContext2D.prototype.clearRect;
CanvasRenderingContext2D.prototype.clearRect = function (...args) {
  window.__canvasClears += 1;
  return clearRect.apply(this, args);
};
"""
# per chart in page order, how many times it was drawn: options given to an ECharts chart
# (web/src/components/Chart.tsx), sets of points drawn by the utilisation line's SVG
# (web/src/features/dashboard/UtilisationLine.tsx)
OPTIONS_GIVEN = (
    "() => Array.from(document.querySelectorAll('div[role=img]'), (e) => Number(e.dataset.updates))"
)
ON_CANVAS = (  # which of those charts are ECharts' (draw on a canvas)
    "() => Array.from(document.querySelectorAll('div[role=img]'),"
    " (e) => Boolean(e.querySelector('canvas')))"
)


@pytest.fixture(scope="module")
def board_url(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[str]:
    require_browser()
    schema = f"t_heap_{secrets.token_hex(4)}"
    engine = sa.create_engine(postgres_admin_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_admin_url else "?"
    url = f"{postgres_admin_url}{separator}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        _seed(url, jobs=1_000, pools=10)  # 10 running jobs, settled usage over the week
        # no answer cache: every refresh is new; no scheduling tick during the test (the
        # first comes after 60 s), so the seeded running jobs stay running
        settings = {
            "SUANLI_DASHBOARD_CACHE_S": "0",
            # the utilisation read to the second (not the minute), so its line is redrawn
            "SUANLI_DASHBOARD_UTILISATION_STEP_S": "1",
            "SUANLI_SCHEDULER_INTERVAL_S": "60",
        }
        with serving(tmp_path_factory.mktemp("heap"), url, settings) as served:
            yield served
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def tab(board_url: str) -> Iterator[tuple[Any, Any, list[Any]]]:
    from playwright.sync_api import sync_playwright

    answers: list[Any] = []  # the answers' responses, read after the measurement
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, JITLESS]
        )
        try:
            page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            page.add_init_script(COUNT_CLEARS)

            def answered(response: Any) -> None:
                if "/v1/public/dashboard" in response.url and response.status == 200:
                    answers.append(response)

            page.on("response", answered)
            page.goto(f"{board_url}/dashboard?refresh_ms={REFRESH_MS}")
            page.wait_for_function(DRAWN, timeout=30_000)
            yield page, page.context.new_cdp_session(page), answers
        finally:
            browser.close()


def test_the_dashboard_keeps_nothing_from_one_refresh_to_the_next(
    tab: tuple[Any, Any, list[Any]],
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page, cdp, answers = tab
    page.wait_for_timeout(WARM_UP_S * 1000)
    with contextlib.suppress(PlaywrightTimeout):  # the figures move slowly: so they will after
        page.wait_for_function(
            f"() => Math.max(...({OPTIONS_GIVEN})()) >= {WARM_UP_OPTIONS}",
            timeout=(WARM_UP_MAX_S - WARM_UP_S) * 1000,
        )
    refreshed_before = len(answers)
    options_before = page.evaluate(OPTIONS_GIVEN)
    first_at = page.get_attribute('[data-testid="dashboard-at"]', "data-at")
    before_dom, before_objects = dom_counters(cdp), js_objects(cdp)
    samples: list[float] = []
    deadline = time.monotonic() + MEASURE_S
    while time.monotonic() < deadline:
        samples.append(post_gc_heap_mb(cdp))
        page.wait_for_timeout(SAMPLE_EVERY_S * 1000)
    samples.append(post_gc_heap_mb(cdp))
    options_after, clears = page.evaluate(OPTIONS_GIVEN), page.evaluate("window.__canvasClears")
    on_canvas = page.evaluate(ON_CANVAS)
    after_dom, after_objects = dom_counters(cdp), js_objects(cdp)
    refreshes = len(answers) - refreshed_before
    # the answer drawn when the window opened may be the one before the last received
    changed = drawn_changes([reply.json() for reply in answers[max(0, refreshed_before - 2) :]])

    assert refreshes >= REFRESHES_MIN, f"only {refreshes} refreshes in {MEASURE_S} s"
    assert page.get_attribute('[data-testid="dashboard-at"]', "data-at") != first_at
    grown = {kind: after_objects[kind] - before_objects[kind] for kind in JS_OBJECTS}
    assert sum(grown.values()) * REFRESHES_PER_OBJECT < refreshes, (
        f"{refreshes} refreshes left {grown} more JS objects"
    )
    for counter in ("nodes", "jsEventListeners"):  # a node or a listener comes and goes
        grown_dom = after_dom[counter] - before_dom[counter]
        assert grown_dom * REFRESHES_PER_OBJECT < refreshes, (counter, before_dom, after_dom)
    growth = statistics.median(samples[-EDGE:]) - statistics.median(samples[:EDGE])
    assert growth <= HEAP_GROWTH_MAX_MB, (
        f"the heap grew {growth:.2f} MB over {refreshes} refreshes: {samples}"
    )
    given = [after - before for before, after in zip(options_before, options_after, strict=True)]
    assert all(new <= change for new, change in zip(given, changed, strict=True)), (
        f"over {refreshes} refreshes the charts got {given} new options; what they draw "
        f"changed {changed} times"
    )
    echarts_options = sum(n for n, canvas in zip(options_after, on_canvas, strict=True) if canvas)
    assert on_canvas.count(True) == 4 and not on_canvas[2]  # the utilisation line is SVG
    assert clears <= CLEARS_PER_OPTION_MAX * echarts_options, (
        f"{clears} canvas clears for {echarts_options} options: the charts animate"
    )


def drawn_changes(answers: list[dict[str, Any]]) -> list[int]:
    """How many times what each chart draws changed from one answer to the next, in the
    page's order (web/src/features/dashboard/charts.ts): cards by vendor, the domestic share,
    utilisation (each bucket's start and tenths of a percentage point, rounded half up as
    Math.round does), jobs by state, the scenes pipeline."""

    def drawn(board: dict[str, Any]) -> list[Any]:
        points = [(b["start"], (b["utilisation_bp"] + 5) // 10) for b in board["utilisation"]]
        funnel = (board["opportunities"], board["capabilities"], board["pipeline"])
        domestic = (board["cards"], board["domestic_cards"])
        return [board["vendors"], domestic, points, board["jobs_by_state"], funnel]

    parts = [drawn(board) for board in answers]
    return [sum(before[i] != after[i] for before, after in pairwise(parts)) for i in range(5)]


def dom_counters(cdp: Any) -> dict[str, int]:
    cdp.send("HeapProfiler.collectGarbage")
    return dict(cdp.send("Memory.getDOMCounters"))


def js_objects(cdp: Any) -> Counter[str]:
    """Nodes per type in a heap snapshot (taking one collects the garbage first), less V8's
    literal boilerplates: the objects an allocation site keeps for an object or array literal
    once it has run a few times. Those come as code warms up, like compiled code, and stop."""
    chunks: list[str] = []

    def chunk(event: dict[str, str]) -> None:
        chunks.append(event["chunk"])

    cdp.on("HeapProfiler.addHeapSnapshotChunk", chunk)
    try:
        cdp.send("HeapProfiler.takeHeapSnapshot", {"reportProgress": False})
    finally:
        cdp.remove_listener("HeapProfiler.addHeapSnapshotChunk", chunk)
    snapshot = json.loads("".join(chunks))
    meta = snapshot["snapshot"]["meta"]
    fields, edge_fields = meta["node_fields"], meta["edge_fields"]
    width, kind, name = len(fields), fields.index("type"), fields.index("name")
    edge_count, edge_width = fields.index("edge_count"), len(edge_fields)
    edge_name, edge_to = edge_fields.index("name_or_index"), edge_fields.index("to_node")
    names, nodes, edges = meta["node_types"][0], snapshot["nodes"], snapshot["edges"]
    strings = snapshot["strings"]
    boilerplates: set[int] = set()
    edge = 0
    for i in range(0, len(nodes), width):
        count = nodes[i + edge_count] * edge_width
        if strings[nodes[i + name]] == "system / AllocationSite":
            boilerplates.update(
                edges[e + edge_to]
                for e in range(edge, edge + count, edge_width)
                if strings[edges[e + edge_name]] == "transition_info"
            )
        edge += count
    return Counter(
        names[nodes[i + kind]] for i in range(0, len(nodes), width) if i not in boilerplates
    )
