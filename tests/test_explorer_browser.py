"""A real browser: `auditkit explore` serves the explorer with Voilà; Chromium drives it.

The test starts the command on 127.0.0.1 (a free port, a token) over a small generated
store, opens the printed URL in Debian's Chromium through Playwright, types a search,
changes a filter, opens an event and the charts, and checks what the page shows against
the read path. Every request to anything but the local server is blocked and recorded:
the page must work without them, and there must be none. A screenshot goes to the test's
folder; with ``AUDITKIT_UPDATE_SCREENSHOT=1`` it is also copied to ``docs/explorer.png``.
"""

from __future__ import annotations

import html
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl
import pytest

from auditkit import Context, Session, Store, charts
from auditkit.generate import generate
from auditkit.widgets import free_port

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NOW = datetime(2026, 11, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]
SERVER_START = 120.0  # seconds for Voilà to print its URL
PAGE_LOAD = 120_000  # ms for the kernel to start and run the notebook
STEP = 30_000  # ms for one interaction to show

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"Debian's Chromium is not installed at {CHROMIUM}; run `make system-deps` "
    "(apt-get install chromium)",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("browser") / "store", create=True)
    store.append(generate(6_000, seed=21, end=NOW, days=20))
    return store


def _read_lines(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)


@pytest.fixture
def server(store: Store, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`auditkit explore STORE` on a free port; yields (URL, the analyst's actor id)."""
    users = store.scan().filter(pl.col("actor_type") == "user")
    me = str(charts.top_data(users, "actor", 1).item(0, "actor"))
    port = free_port()
    log = open(tmp_path / "voila.log", "w")  # noqa: SIM115 - closed in finally
    command = [sys.executable, "-m", "auditkit.cli", "explore", str(store.root)]
    command += ["--port", str(port), "--no-browser", "--me", me, "--now", NOW.isoformat()]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
    reader.start()
    try:
        prefix = f"http://127.0.0.1:{port}/?token="
        url = ""
        while not url:
            try:
                line = lines.get(timeout=SERVER_START)
            except queue.Empty:
                pytest.fail(
                    f"no URL from `auditkit explore` in {SERVER_START:.0f} s; see {log.name}"
                )
            if prefix in line:
                url = line.strip()
        yield url, me
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # stops Voilà and its kernels
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


def _summary_has(page: object, text: str) -> None:
    page.wait_for_function(  # type: ignore[attr-defined]
        "(t) => (document.querySelector('.ak-summary')?.innerText || '').includes(t)",
        arg=text,
        timeout=STEP,
    )


def test_explorer_in_a_real_browser(server: tuple[str, str], store: Store, tmp_path: Path) -> None:
    from playwright.sync_api import Route, sync_playwright

    url, me = server
    ref = Session(store, ctx=Context(now=NOW, me=me))
    outside: list[str] = []

    def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1500})
            page.set_default_timeout(STEP)
            page.route("**/*", local_only)
            page.goto(url, timeout=PAGE_LOAD)
            page.wait_for_selector(".auditkit-explorer .ak-count", timeout=PAGE_LOAD)
            assert page.inner_text(".ak-count") == f"{ref.count():,} events"
            rows = page.locator(".ak-row:visible")
            assert rows.count() == 25

            # type a search and press Enter
            page.fill(".ak-search input", "has:changes")
            page.press(".ak-search input", "Enter")
            _summary_has(page, "has recorded changes")
            assert page.inner_text(".ak-count") == f"{ref.count('has:changes'):,} events"

            # a bad query: the positioned error under the box, the rows stay
            before = page.inner_text(".ak-row:visible >> nth=0")
            page.fill(".ak-search input", "has:changes usr:bob")
            page.press(".ak-search input", "Enter")
            page.wait_for_selector(".ak-error pre", timeout=STEP)
            error = page.inner_text(".ak-error pre")
            assert "unknown key 'usr'" in error and "at position 12" in error
            assert "\n" + " " * 14 + "^" in error  # caret under the 'u' (2-space indent)
            assert page.inner_text(".ak-row:visible >> nth=0") == before
            page.fill(".ak-search input", "has:changes")
            page.press(".ak-search input", "Enter")
            page.wait_for_selector(".ak-error pre", state="detached", timeout=STEP)

            # change a filter
            page.select_option(".ak-date select", label="last 7 days")
            _summary_has(page, "in the last 7 days")
            query = "has:changes date:7d"
            expected = ref.page(query, limit=25).rows
            assert page.inner_text(".ak-count") == f"{ref.count(query):,} events"
            assert page.inner_text(".ak-desc") == f"· {ref.describe(query)}"
            assert rows.count() == min(25, ref.count(query)) > 0
            tips = [
                rows.nth(i).locator(".ak-open").get_attribute("title") for i in range(rows.count())
            ]
            assert tips == [f"open event {e}" for e in expected.get_column("event_id")]
            first = rows.nth(0).inner_text()
            assert expected.item(0, "actor") in first and expected.item(0, "action") in first

            # open an event: its metadata and diff in the detail panel
            rows.nth(0).locator(".ak-open").click()
            page.wait_for_selector(".ak-detail .auditkit-event", timeout=STEP)
            event = ref.get(expected.item(0, "event_id"))
            detail = page.inner_text(".ak-detail")
            for key in ("event_id", "ip_address", "request_id", "user_agent"):
                if event[key]:
                    assert str(event[key]) in detail, key
            assert "Changes" in detail
            assert page.locator(".ak-detail table.auditkit-diff").count() == 1

            screenshot = tmp_path / "explorer.png"
            page.screenshot(path=str(screenshot), full_page=True)
            if os.environ.get("AUDITKIT_UPDATE_SCREENSHOT") == "1":
                shutil.copyfile(screenshot, ROOT / "docs" / "explorer.png")

            # an investigation, one click away
            page.click(".ak-investigate-changes")
            page.wait_for_selector(".ak-investigation h3", timeout=STEP)
            assert page.inner_text(".ak-investigation h3").startswith("Who changed")

            # the charts render as inline SVG without a network
            page.get_by_role("tab", name="Charts").click()
            page.wait_for_selector(".ak-charts svg", timeout=STEP)
            assert page.locator(".ak-charts svg").count() == 4
            assert html.escape(ref.describe(query)) in page.inner_html(".ak-charts-panel")
            page.screenshot(path=str(tmp_path / "explorer-charts.png"), full_page=True)
        finally:
            browser.close()
    assert outside == [], f"the page asked the internet for: {outside}"
