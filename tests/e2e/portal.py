"""The web portal's test rig: a real `suanli serve` on PostgreSQL serving the built portal,
a small city seeded through the API, and Debian's Chromium driven by Playwright, with
axe-core injected into each page. A missing piece skips loudly (fails under CI=true)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from suanli.api.web import STATIC_DIR
from tests.conftest import require_component

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
LOCALES = REPO / "web" / "src" / "locales"
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
STARTUP_TIMEOUT_S = 30
PASSWORD = "tea-kettle-river-42"
LANGUAGES = ("zh-CN", "en")
SCREENSHOTS = REPO / "docs" / "screenshots"


def require_browser() -> None:
    """Chromium, Playwright, axe-core and the built portal (make web) must all be present."""
    require_component(
        Path(CHROMIUM).is_file(), f"Chromium at {CHROMIUM} (apt-get install chromium)"
    )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require_component(False, "the playwright Python package (pip install playwright)")
    require_component(AXE.is_file(), f"axe-core at {AXE} (make web)")
    require_component((STATIC_DIR / "index.html").is_file(), "the built portal (make web)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(
    data_dir: Path, database_url: str, settings: dict[str, str] | None = None
) -> Iterator[str]:
    """`suanli serve` as a user runs it, on the given database (and any `SUANLI_*` settings
    given); yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "SUANLI_DATA_DIR": str(data_dir),
        "SUANLI_DATABASE_URL": database_url,
        "SUANLI_API_PORT": str(port),
        "SUANLI_SCHEDULER_INTERVAL_S": "0.2",
        **(settings or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "suanli.cli.main", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("suanli serve did not start")


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, language: str) -> Any:
    """A fresh context with the portal's language chosen as a visitor would (localStorage)."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale=language)
    context.add_init_script(
        f"window.localStorage.setItem('suanli.language', {json.dumps(language)})"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def locale_keys() -> dict[str, set[str]]:
    return {
        lang: set(_flatten(json.loads((LOCALES / f"{lang}.json").read_text())))
        for lang in LANGUAGES
    }


def _flatten(tree: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{name}.")
        else:
            yield name


RAW_KEY = re.compile(r"\b[a-z][A-Za-z]+\.[a-z][A-Za-z-]*(?:\.[A-Za-z-]+)*\b")


HAN_PLACEHOLDERS = """() => Array.from(document.querySelectorAll("[placeholder]"), (e) =>
    e.getAttribute("placeholder")).filter((hint) => /[\\u4e00-\\u9fff]/.test(hint))"""


# The menus' labels that their item cuts off (antd ends them with a CSS ellipsis: the text is
# whole in the DOM, so only its width gives it away). Hidden items (offsetParent null) aside.
CUT_MENU_LABELS = """() => Array.from(document.querySelectorAll(".ant-menu-title-content"))
    .filter((e) => e.offsetParent !== null && e.scrollWidth > e.clientWidth)
    .map((e) => e.textContent)"""


def check_page(page: Any, name: str, language: str) -> None:
    """No raw i18n key on screen, the document in the chosen language (on English pages, no
    Chinese placeholder either), no menu label cut off, and no serious or critical axe-core
    violation."""
    text = page.inner_text("body")
    known = set().union(*locale_keys().values())
    raw = sorted({found for found in RAW_KEY.findall(text) if found in known})
    assert not raw, f"{name} ({language}) shows untranslated keys: {raw}"
    assert page.evaluate("document.documentElement.lang") == language
    if language == "en":  # a hint in an input is the page's text too: one language a page
        mixed = page.evaluate(HAN_PLACEHOLDERS)
        assert not mixed, f"{name} (en) shows Chinese placeholders: {mixed}"
    cut = page.evaluate(CUT_MENU_LABELS)
    assert not cut, f"{name} ({language}) cuts off menu labels: {cut}"
    page.mouse.move(0, 899)  # no hover state under the last click while axe measures colours
    page.wait_for_timeout(400)
    # Through the debugging protocol: the page's CSP (rightly) refuses an injected script tag.
    page.evaluate(_axe_source())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        f"{[(n['target'], n['failureSummary'][:200]) for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name} ({language}) has accessibility violations: {bad}"


# Records what each canvas 2D context draws, as ECharts draws it (the recorder only watches:
# every call goes on to the browser's own): each text with its inked box, and each filled
# path's box, in the canvas's CSS pixels. A full redraw starts with clearRect, which empties
# the record, so it holds the last frame. Read with drawn_on().
CANVAS_RECORDER = """(() => {
  const proto = CanvasRenderingContext2D.prototype;
  const log = (ctx) => (ctx.canvas.__drawn ??= { texts: [], shapes: [], path: [] });
  const at = (ctx, x, y) => {
    const point = ctx.getTransform().transformPoint(new DOMPoint(x, y));
    const scale = ctx.canvas.width / (ctx.canvas.clientWidth || ctx.canvas.width);
    return [point.x / scale, point.y / scale];
  };
  const box = (points) => {
    const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
    return { left: Math.min(...xs), right: Math.max(...xs), top: Math.min(...ys),
      bottom: Math.max(...ys) };
  };
  const watch = (name, record) => {
    const own = proto[name];
    proto[name] = function (...args) { record(this, ...args); return own.apply(this, args); };
  };
  watch("clearRect", (ctx) => { const drawn = log(ctx); drawn.texts = []; drawn.shapes = []; });
  watch("fillText", (ctx, text, x, y) => {
    const m = ctx.measureText(text);
    const [l, r] = [x - m.actualBoundingBoxLeft, x + m.actualBoundingBoxRight];
    const [t, b] = [y - m.actualBoundingBoxAscent, y + m.actualBoundingBoxDescent];
    const corners = [[l, t], [r, t], [l, b], [r, b]].map(([cx, cy]) => at(ctx, cx, cy));
    log(ctx).texts.push({ text: String(text), ...box(corners) });
  });
  watch("beginPath", (ctx) => { log(ctx).path = []; });
  watch("moveTo", (ctx, x, y) => { log(ctx).path.push(at(ctx, x, y)); });
  watch("lineTo", (ctx, x, y) => { log(ctx).path.push(at(ctx, x, y)); });
  watch("fill", (ctx) => {
    const drawn = log(ctx);
    if (drawn.path.length) drawn.shapes.push(box(drawn.path));
  });
})()"""

_DRAWN_ON = """(chart) => new Promise((done) => requestAnimationFrame(() =>
  requestAnimationFrame(() => {
  const canvas = chart.querySelector("canvas");
  const drawn = canvas.__drawn ?? { texts: [], shapes: [] };
  done({ width: canvas.clientWidth, height: canvas.clientHeight, texts: drawn.texts,
    shapes: drawn.shapes });
})))"""


def drawn_on(chart: Any) -> dict[str, Any]:
    """What CANVAS_RECORDER saw drawn on the chart's (a locator's) canvas in its last frame,
    read two animation frames on (after a pending redraw): its size, its texts and its
    filled shapes, each with left, right, top and bottom."""
    return dict(chart.evaluate(_DRAWN_ON))


def texts_cut_or_outside(drawn: dict[str, Any]) -> list[str]:
    """The texts drawn cut off with an ellipsis (ECharts' is "...", the typographic one "…"),
    or reaching past the canvas's edges (half a pixel of antialiasing allowed)."""
    width, height = drawn["width"], drawn["height"]
    return [
        f"{text['text']!r} at {[round(text[k]) for k in ('left', 'top', 'right', 'bottom')]}"
        for text in drawn["texts"]
        if text["text"].endswith(("…", "..."))
        or min(text["left"], text["top"]) < -0.5
        or text["right"] > width + 0.5
        or text["bottom"] > height + 0.5
    ]


@cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8") + "\n;undefined"


def screenshot(page: Any, name: str, language: str) -> None:
    """Keeps the README's screenshots current when SUANLI_SCREENSHOTS=1."""
    if os.environ.get("SUANLI_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.{language}.png"), full_page=False)


@dataclass
class Seeded:
    url: str
    operator: str
    enterprise: str
    enterprise_id: str
    agency: str
    ascend_pool_id: str
    h100_pool_id: str
    program_id: str

    def api(self, token: str, method: str, path: str, body: Any = None) -> Any:
        reply = httpx.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert reply.status_code < 300, reply.text
        return reply.json()


def sign_in(page: Any, url: str, login: str) -> None:
    page.goto(url + "/sign-in")
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/**")
