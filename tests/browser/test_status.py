"""`/ui/status` in Chromium, on a desktop and a phone: the charts move when jobs run, and a
dead letter requeued from the page ends up stored (row and file); no console errors, no
sideways scrolling on the phone.

The server runs with API keys (the page sends the one kept in the browser) and a caption
font file that is not a font, so caption jobs die for a real reason until the test copies a
real font over it.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from pixelmill.imaging.fonts import default_font_file
from tests.browser.samples import photo_png
from tests.browser.screens import screenshot
from tests.browser.sizes import BY_NAME
from tests.jobs.waiting import wait_until
from tests.server import running_server

pytestmark = pytest.mark.browser

KEY = "status-key"
AUTH = {"X-API-Key": KEY}
VIEWPORTS = BY_NAME


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A `pixelmill serve` of this test's own (embedded), with keys and a broken font."""
    (tmp_path / "font.ttf").write_bytes(b"not a font at all")
    env = {
        "PIXELMILL_API_KEYS": KEY,
        "PIXELMILL_CAPTION_FONT": str(tmp_path / "font.ttf"),
        "PIXELMILL_MAX_DELIVERIES": "2",
        "PIXELMILL_PROCESS_WORKERS": "1",
        "PIXELMILL_THREAD_WORKERS": "2",
    }
    with running_server(tmp_path, env=env) as url:
        yield url, tmp_path


def post_caption(url: str, description: str) -> str:
    answer = httpx.post(
        url + "/api/images",
        headers=AUTH,
        files={"image": ("p.png", photo_png(64, 48, seed=len(description)), "image/png")},
        data={"description": description},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def caption(url: str, id: str) -> dict[str, Any]:
    items = httpx.get(url + "/api/images?limit=1000", headers=AUTH, timeout=30).json()
    [found] = [item for item in items if item["id"] == id]
    return dict(found)


def chart(page: Page, id: str) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(
        """(id) => {
            const svg = document.querySelector(`#${id} svg`);
            return {peak: Number(svg.dataset.peak), html: svg.innerHTML,
                    lines: svg.querySelectorAll('polyline').length};
        }""",
        id,
    )
    return found


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_the_dashboard_moves_with_jobs_and_requeues_a_dead_letter_to_stored(
    open_page: Callable[..., Page], server: tuple[str, Path], size: str
) -> None:
    url, tmp = server
    page = open_page(**VIEWPORTS[size])
    console_errors: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page.on("console", note)
    page.context.add_init_script(f"localStorage.setItem('pixelmill.apiKey', '{KEY}')")
    page.goto(url + "/ui/status")
    expect(page.locator("#queues .tile")).to_have_count(3)
    expect(page.locator("#dead-empty")).to_be_visible()
    before = chart(page, "chart-jobs")
    assert before["peak"] == 0 and before["lines"] == 3  # one line per service, all flat

    ids = [post_caption(url, f"job {i}") for i in range(3)]
    after = wait_until(
        lambda: (drawn := chart(page, "chart-jobs"))["peak"] > 0 and drawn, "the chart to move", 30
    )
    assert after["html"] != before["html"]
    expect(page.locator("#dead tbody tr")).to_have_count(3, timeout=30_000)
    expect(page.locator("#queues .tile.has-dead")).to_have_count(1)
    row = page.locator(f'#dead tr[data-job="{ids[0]}"]')
    expect(row).to_contain_text("not a TrueType or OpenType font")
    if size == "phone":
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"

    row.get_by_role("button", name="Inspect").click()
    expect(page.locator("#letter-json")).to_contain_text('"kind": "png"')
    expect(page.locator("#letter-json")).not_to_contain_text("\\u0089PNG")
    screenshot(page, f"{size}-status-letter")
    page.locator("#letter-dialog button", has_text="Close").click()

    shutil.copyfile(default_font_file(), tmp / "font.ttf")  # the cause, fixed
    row.get_by_role("button", name="Requeue").click()
    expect(row).to_have_count(0, timeout=15_000)
    wait_until(lambda: caption(url, ids[0])["status"] == "stored", "the requeued job", 30)
    assert (tmp / "data" / "images" / "captions" / f"{ids[0]}.jpg").stat().st_size > 500
    image = httpx.get(f"{url}/api/images/{ids[0]}", headers=AUTH, timeout=30)
    assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
    assert [caption(url, id)["status"] for id in ids[1:]] == ["failed", "failed"]
    expect(page.locator("#dead tbody tr")).to_have_count(2)

    page.get_by_role("button", name="Requeue all").click()
    expect(page.locator("#dead-empty")).to_be_visible(timeout=15_000)
    wait_until(lambda: all(caption(url, id)["status"] == "stored" for id in ids), "all", 30)
    if size == "phone":
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    screenshot(page, f"{size}-status")
    assert console_errors == []


def test_without_the_key_the_page_says_so_in_words(
    open_page: Callable[..., Page], server: tuple[str, Path]
) -> None:
    url, _ = server
    page = open_page(**VIEWPORTS["desktop"])
    page.goto(url + "/ui/status")
    expect(page.locator("#status-error")).to_contain_text("asks for an API key")
    page.locator("#api-key-box summary").click()
    page.fill("#api-key", KEY)
    page.locator("#api-key").dispatch_event("change")
    expect(page.locator("#status-error")).to_be_hidden(timeout=10_000)
    expect(page.locator("#queues .tile")).to_have_count(3)
