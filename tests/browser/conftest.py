"""Browser tests: the system's Chromium, driven by Playwright, against a real `pixelmill serve`.

Nothing is downloaded: Playwright's Python wheel carries its driver, and the browser is
Debian's (`apt-get install chromium`); `playwright install` is never run. Without Chromium the
tests skip, or fail when CI=true.

    browser     one headless Chromium per module
    open_page   factory: a page in a fresh context (viewport, JavaScript on or off, ...); every
                page is watched, and a test fails if a script threw or a request left the machine
    page        open_page() with the defaults: a desktop-sized window
    server      the URL of a `pixelmill serve` of the module's own (data and results in tmp)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.server import running_server

CHROMIUM = Path(os.environ.get("PIXELMILL_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP = {"width": 1280, "height": 900}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def chromium_path() -> str:
    """The Chromium to drive; skips the test without one (fails on CI)."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return str(CHROMIUM)
    message = (
        f"Chromium is not installed at {CHROMIUM}: apt-get install chromium "
        "(or point PIXELMILL_TEST_CHROMIUM at a Chromium binary)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope, not session: Playwright's sync API keeps its event loop on this thread
    # while it is open, which later tests that run asyncio themselves must not meet.
    path = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `pixelmill serve` of this module's own, embedded default (SQLite, in-process queues)."""
    tmp = tmp_path_factory.mktemp("ui-server")
    env = {"PIXELMILL_PROCESS_WORKERS": "1", "PIXELMILL_THREAD_WORKERS": "2"}
    with running_server(tmp, env=env) as url:
        yield url


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Factory: open_page(**context_options) -> a page in a new browser context."""
    contexts: list[BrowserContext] = []
    script_errors: list[str] = []
    outside: list[str] = []

    def open_(**options: Any) -> Page:
        context = browser.new_context(**{"viewport": DESKTOP, **options})
        context.on("weberror", lambda error: script_errors.append(str(error.error)))
        context.on(
            "request", lambda request: None if _local(request.url) else outside.append(request.url)
        )
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()
    assert not script_errors, f"scripts threw: {script_errors}"
    assert not outside, f"requests left the machine: {outside}"


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    return open_page()


def _local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("blob", "data", "about") or parts.hostname in LOCAL_HOSTS
