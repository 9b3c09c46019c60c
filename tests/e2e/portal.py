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


def check_page(page: Any, name: str, language: str) -> None:
    """No raw i18n key on screen, the document in the chosen language (on English pages, no
    Chinese placeholder either), and no serious or critical axe-core violation."""
    text = page.inner_text("body")
    known = set().union(*locale_keys().values())
    raw = sorted({found for found in RAW_KEY.findall(text) if found in known})
    assert not raw, f"{name} ({language}) shows untranslated keys: {raw}"
    assert page.evaluate("document.documentElement.lang") == language
    if language == "en":  # a hint in an input is the page's text too: one language a page
        mixed = page.evaluate(HAN_PLACEHOLDERS)
        assert not mixed, f"{name} (en) shows Chinese placeholders: {mixed}"
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
