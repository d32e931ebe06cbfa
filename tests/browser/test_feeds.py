"""Feeds that last, in Chromium at 1280×800 and 390×844: the faces page shows earlier results
after a reload and then new ones live, once each, with face boxes a person can see on the
thumbnail; the captions page says "Stored ✓" with the time it took, and its cards keep their
size when the picture arrives. No console errors; nothing wider than the phone."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.samples import astronaut_jpeg, photo_png, upload
from tests.browser.screens import screenshot
from tests.browser.sizes import LAPTOP, PHONE

pytestmark = pytest.mark.browser

WAIT = 60_000  # ms
SIZES = [pytest.param(LAPTOP, id="1280x800"), pytest.param(PHONE, id="390x844")]

# The picture's area inside its thumbnail (object-fit: contain) and each face box's on-screen
# rectangle, for the card of one id.
FACE_BOXES = """(id) => {
    const card = document.querySelector(`#feed li[data-id="${id}"]`);
    const img = card.querySelector(".thumb img");
    const frame = img.getBoundingClientRect();
    const scale = Math.min(frame.width / img.naturalWidth, frame.height / img.naturalHeight);
    const shown = {width: img.naturalWidth * scale, height: img.naturalHeight * scale};
    shown.left = frame.left + (frame.width - shown.width) / 2;
    shown.top = frame.top + (frame.height - shown.height) / 2;
    const boxes = [...card.querySelectorAll("svg.boxes rect.box")].map((rect) => {
        const r = rect.getBoundingClientRect();
        return {left: r.left, top: r.top, width: r.width, height: r.height,
                stroke: parseFloat(getComputedStyle(rect).strokeWidth)};
    });
    return {shown, scale, boxes};
}"""


def watch_console(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def fits_the_window(page: Page) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page is {width} px wide in a {inner} px window"


def post_face(server: str, data: bytes, name: str) -> str:
    response = httpx.post(server + "/api/v1/images", files={"file": (name, data)}, timeout=30)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def stored_meta(server: str, id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT / 1000
    while True:
        response = httpx.get(f"{server}/api/v1/images/{id}/meta")
        if response.status_code == 200:
            return dict(response.json())
        assert response.status_code == 409, response.text
        assert time.monotonic() < deadline, f"image {id} was not stored in time"
        time.sleep(0.1)


def card(page: Page, id: str) -> Any:
    return page.locator(f'#feed li[data-id="{id}"]')


def assert_face_boxed(page: Page, id: str, face: dict[str, int]) -> None:
    """The box drawn on the thumbnail lies over the face, scaled, and is thick enough to see."""
    page.wait_for_function(
        "(id) => { const img = document.querySelector(`#feed li[data-id='${id}'] .thumb img`);"
        " return img && img.complete && img.naturalWidth > 0; }",
        arg=id,
        timeout=WAIT,
    )
    expect(card(page, id).locator("svg.boxes rect.box")).to_have_count(1, timeout=WAIT)
    seen = page.evaluate(FACE_BOXES, id)
    shown, scale, [box] = seen["shown"], seen["scale"], seen["boxes"]
    assert scale < 0.6  # a thumbnail: the 512 px photo shown smaller
    expected = {
        "left": shown["left"] + face["x"] * scale,
        "top": shown["top"] + face["y"] * scale,
        "width": face["width"] * scale,
        "height": face["height"] * scale,
    }
    # the rectangle's outline is centred on the box's edge: half the stroke either way
    for key, value in expected.items():
        assert box[key] == pytest.approx(value, abs=box["stroke"] / 2 + 1.5), (key, box, expected)
    assert box["stroke"] >= 2.5  # on screen, whatever the thumbnail's scale


@pytest.mark.parametrize("size", SIZES)
def test_faces_page_shows_earlier_results_after_a_reload_then_new_ones_once(
    open_page: Callable[..., Page], server: str, size: dict[str, Any]
) -> None:
    page = open_page(**size)
    errors = watch_console(page)
    page.goto(server + "/ui/faces")
    expect(page.locator("#feed-state")).to_have_attribute("data-state", "connected")
    page.set_input_files(
        "#faces-file", files=[upload("astronaut.jpg", astronaut_jpeg(), "image/jpeg")]
    )
    page.get_by_role("button", name="Find faces").click()
    status = page.locator("#faces-form .status")
    expect(status).to_contain_text("Stored ✓", timeout=WAIT)
    expect(status).to_contain_text("1 face found")
    first = page.locator("#feed li").first.get_attribute("data-id")
    assert first is not None
    face = stored_meta(server, first)["faces"][0]

    page.reload()
    expect(page.locator("#feed-state")).to_have_attribute("data-state", "connected")
    earlier = card(page, first)
    expect(earlier).to_have_count(1, timeout=WAIT)  # still there after the reload
    expect(earlier.locator(".badge")).to_have_text("1 face")
    expect(earlier.locator(".filename")).to_have_text("astronaut.jpg")
    assert_face_boxed(page, first, face)
    listed = page.locator("#feed li").count()

    # then live: a new result arrives without a reload, shown once, on top
    page.evaluate("window.__notReloaded = true")
    second = post_face(server, astronaut_jpeg(), "another.jpg")
    expect(card(page, second)).to_have_count(1, timeout=WAIT)
    assert page.locator("#feed li").first.get_attribute("data-id") == second
    assert_face_boxed(page, second, stored_meta(server, second)["faces"][0])
    page.wait_for_timeout(500)  # a late duplicate (event and list both) would show by now
    assert page.locator("#feed li").count() == listed + 1
    ids = page.eval_on_selector_all("#feed li", "nodes => nodes.map((n) => n.dataset.id)")
    assert len(ids) == len(set(ids))
    assert page.evaluate("window.__notReloaded") is True
    fits_the_window(page)
    assert not errors, errors
    screenshot(page, f"faces-feed-{size['viewport']['width']}")


@pytest.mark.parametrize("size", SIZES)
def test_captions_say_stored_with_the_time_and_cards_keep_their_size(
    open_page: Callable[..., Page], server: str, size: dict[str, Any]
) -> None:
    page = open_page(**size)
    errors = watch_console(page)
    page.goto(server + "/ui/captions")
    # a tall picture (the caption's band makes it taller still) and a description of one long
    # unbroken word: neither may stretch its card
    description = f"At-{size['viewport']['width']}-px-" + "a-very-long-name-without-any-space-" * 5
    page.set_input_files(
        "#caption-image", files=[upload("tall.png", photo_png(240, 420), "image/png")]
    )
    page.fill("#caption-description", description)
    page.get_by_role("button", name="Upload").click()
    status = page.locator("#captions-form .status")
    expect(status).to_contain_text("Queued")
    item = page.locator("#gallery li", has_text=description[:40])
    expect(item).to_have_count(1, timeout=WAIT)
    thumb = item.locator(".thumb")
    before = thumb.bounding_box()
    expect(status).to_contain_text("Stored ✓", timeout=WAIT)
    assert "Queued" not in (status.text_content() or "")
    assert " s" in (status.text_content() or "")  # with the time it took
    expect(item).to_have_attribute("data-status", "stored")
    page.wait_for_function(
        "(el) => { const img = el.querySelector('img');"
        " return img && img.complete && img.naturalWidth > 0; }",
        arg=thumb.element_handle(),
        timeout=WAIT,
    )
    after = thumb.bounding_box()
    assert before is not None and after is not None
    # the picture's box was reserved: it did not grow or shrink when the image came
    assert after["height"] == pytest.approx(before["height"], abs=0.5)
    assert after["width"] == pytest.approx(before["width"], abs=0.5)
    img = item.locator("img")
    assert (img.get_attribute("width"), img.get_attribute("height")) != (None, None)
    overflow = item.evaluate("(el) => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, "the long description widens its card"
    fits_the_window(page)
    assert not errors, errors
    screenshot(page, f"captions-stored-{size['viewport']['width']}")
