"""The OCR page at `/`: the form as served, with JavaScript (answered in place) and without."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from pixelmill.imaging import codec
from tests.browser.samples import text_png, upload
from tests.browser.screens import progress_seen, record_progress, screenshot
from tests.browser.sizes import LAPTOP, PHONE
from tests.images import encode, iou
from tests.ocr_pages import PHOTOTEST, exif_jpeg, ink_box, lying, render

pytestmark = pytest.mark.browser

TEXT = "The quick brown fox"
WAIT = 60_000  # ms: the first recognition loads the engine


class Forms(HTMLParser):
    """The forms of a page and the controls inside each, as served (no script has run)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []
        self._current: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = {**attributes, "controls": []}
            self.forms.append(self._current)
        elif self._current is not None and tag in ("input", "select", "option", "button"):
            controls = self._current["controls"]
            assert isinstance(controls, list)
            controls.append((tag, attributes))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def test_the_form_is_in_the_html_as_served(server: str) -> None:
    response = httpx.get(server + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parser = Forms()
    parser.feed(response.text)
    [form] = [form for form in parser.forms if form.get("action") == "/ocr"]
    assert form["method"] == "post"
    assert form["enctype"] == "multipart/form-data"
    controls = form["controls"]
    assert isinstance(controls, list)
    assert ("input", {"id": "ocr-file", "type": "file", "name": "file", "accept": "image/*",
                      "required": ""}) in controls  # fmt: skip
    assert any(tag == "select" and attrs.get("name") == "lang" for tag, attrs in controls)
    options = [attrs["value"] for tag, attrs in controls if tag == "option"]
    assert options == ["eng", "rus", "eng+rus"]
    assert any(tag == "button" and attrs.get("type") == "submit" for tag, attrs in controls)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in response.text

    paths = httpx.get(server + "/openapi.json").json()["paths"]
    assert not [path for path in paths if path == "/" or path.startswith(("/ui", "/static"))]


def test_ocr_in_place_with_javascript(page: Page, server: str) -> None:
    page.goto(server + "/")
    page.set_input_files("#ocr-file", files=[upload("fox.png", text_png(TEXT), "image/png")])
    record_progress(page, "#ocr-form")
    page.get_by_role("button", name="Recognize text").click()

    expect(page.locator("#ocr-text")).to_contain_text("quick brown fox", timeout=WAIT)
    expect(page.locator("#ocr-result")).to_be_visible()
    expect(page.locator("#ocr-meta")).to_contain_text("fox.png")
    expect(page.locator("#ocr-lines tbody tr").first).to_contain_text("quick brown fox")
    expect(page.locator("#ocr-boxes rect")).not_to_have_count(0)
    assert page.url == server + "/"  # answered in place, no navigation
    seen = progress_seen(page)
    assert seen["busy"] and seen["disabled"], seen
    screenshot(page, "ocr")


def test_ocr_without_javascript_shows_the_servers_result_page(
    open_page: Callable[..., Page], server: str
) -> None:
    page = open_page(java_script_enabled=False)
    page.goto(server + "/")
    page.set_input_files("#ocr-file", files=[upload("fox.png", text_png(TEXT), "image/png")])
    page.select_option("#ocr-lang", "eng")
    with page.expect_navigation(url=server + "/ocr", timeout=WAIT):
        page.get_by_role("button", name="Recognize text").click()
    assert "text/html" in (page.evaluate("document.contentType") or "")
    expect(page.locator("body")).to_contain_text("quick brown fox")
    screenshot(page, "ocr-no-javascript")


# Where each drawn box lands on the image as shown, in the image's own pixels.
BOXES_ON_IMAGE = """() => {
    const shown = document.getElementById("ocr-image").getBoundingClientRect();
    const image = document.getElementById("ocr-image");
    const sx = image.naturalWidth / shown.width, sy = image.naturalHeight / shown.height;
    return [...document.querySelectorAll("#ocr-boxes rect")].map((rect) => {
        const box = rect.getBoundingClientRect();
        return [(box.left - shown.left) * sx, (box.top - shown.top) * sy,
                box.width * sx, box.height * sy];
    });
}"""


UPSIDE_DOWN = lying(render(PHOTOTEST, 24, pad=40), 180)


@pytest.mark.parametrize(
    ("name", "data", "mime"),
    [
        ("upside-down.png", encode(UPSIDE_DOWN, ".png"), "image/png"),
        ("upside-down-exif6.jpg", exif_jpeg(UPSIDE_DOWN), "image/jpeg"),
    ],
    ids=["png", "jpeg-exif-6"],
)
def test_the_boxes_of_a_page_read_turned_land_on_its_lines(
    page: Page, server: str, name: str, data: bytes, mime: str
) -> None:
    page.goto(server + "/")
    page.set_input_files("#ocr-file", files=[upload(name, data, mime)])
    page.get_by_role("button", name="Recognize text").click()
    expect(page.locator("#ocr-text")).to_contain_text("quick brown dog", timeout=WAIT)
    expect(page.locator("#ocr-meta")).to_contain_text("turned 180° clockwise to read")
    page.wait_for_function(
        "() => document.getElementById('ocr-image').complete"
        " && document.getElementById('ocr-image').naturalWidth > 0"
    )
    boxes = [tuple(round(v) for v in box) for box in page.evaluate(BOXES_ON_IMAGE)]
    assert len(boxes) == len(PHOTOTEST) - 1
    # the image as the browser shows it (upright by its EXIF) is UPSIDE_DOWN: each box is on
    # the ink of its line there, and together they frame the text
    for x, y, w, h in boxes:
        x, y = max(0, x), max(0, y)
        assert (UPSIDE_DOWN[y : y + h, x : x + w] < 128).mean() > 0.05, (x, y, w, h)
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    assert iou((x0, y0, x1 - x0, y1 - y0), ink_box(UPSIDE_DOWN)) > 0.85
    screenshot(page, f"ocr-turned-{name.split('.')[0]}")


# --- a file the browser cannot show: its preview, with the boxes over it ----------------------

# A page larger than a preview (1,600 px), as a 16-bit gray TIFF: no browser shows it as it is.
SCAN = render(PHOTOTEST, 80, pad=60)

# Where each drawn box lands on the picture as shown, in the upload's pixels (`width` wide).
BOXES_IN_SOURCE = """(width) => {
    const shown = document.getElementById("ocr-image").getBoundingClientRect();
    const scale = width / shown.width;
    return [...document.querySelectorAll("#ocr-boxes rect")].map((rect) => {
        const box = rect.getBoundingClientRect();
        return [(box.left - shown.left) * scale, (box.top - shown.top) * scale,
                box.width * scale, box.height * scale];
    });
}"""
PICTURE = """() => {
    const image = document.getElementById("ocr-image");
    const box = image.getBoundingClientRect();
    return {natural: [image.naturalWidth, image.naturalHeight], shown: [box.width, box.height],
            left: box.left, right: box.right, src: image.currentSrc};
}"""


def tiff16(gray: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".tif", gray.astype(np.uint16) * 257, [cv2.IMWRITE_TIFF_COMPRESSION, 8])
    assert ok
    return buf.tobytes()


def console_errors(page: Page) -> list[str]:
    """Every error the page logs from now on (a broken image's failed load included)."""
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    return errors


def assert_boxes_on_the_lines(page: Page) -> None:
    width = SCAN.shape[1]
    boxes = [tuple(round(v) for v in box) for box in page.evaluate(BOXES_IN_SOURCE, width)]
    assert len(boxes) == len(PHOTOTEST) - 1
    for x, y, w, h in boxes:  # each box on the ink of its line (rounding: a few source px)
        x, y = max(0, x), max(0, y)
        assert (SCAN[y : y + h, x : x + w] < 128).mean() > 0.05, (x, y, w, h)
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    assert iou((x0, y0, x1 - x0, y1 - y0), ink_box(SCAN)) > 0.85


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["1280x800", "390x844"])
def test_a_tiff_shows_its_picture_with_the_boxes_in_place(
    open_page: Callable[..., Page], server: str, size: dict[str, object]
) -> None:
    page = open_page(**size)
    errors = console_errors(page)
    page.goto(server + "/")
    page.set_input_files("#ocr-file", files=[upload("scan.tif", tiff16(SCAN), "image/tiff")])
    page.get_by_role("button", name="Recognize text").click()
    expect(page.locator("#ocr-text")).to_contain_text("quick brown dog", timeout=WAIT)
    page.wait_for_function(
        "() => document.getElementById('ocr-image').complete"
        " && document.getElementById('ocr-image').naturalWidth > 0"
    )
    picture = page.evaluate(PICTURE)
    height, width = SCAN.shape
    assert picture["src"].startswith("blob:")  # the preview's bytes, not the TIFF's
    assert picture["natural"] == [1600, round(height * 1600 / width)]  # at most 1,600 px long
    viewport = page.viewport_size
    assert viewport is not None
    shown_w, shown_h = picture["shown"]
    # as wide as its column allows, in the page's width, in the scan's proportions
    assert 300 <= shown_w <= viewport["width"] and picture["right"] <= viewport["width"]
    assert shown_h == pytest.approx(shown_w * height / width, abs=2)
    assert_boxes_on_the_lines(page)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= viewport["width"], "the page overflows the window sideways"

    # the window resized (a desktop's narrowed, a phone turned sideways): the boxes follow
    resized = 700 if viewport["width"] > 800 else 844
    page.set_viewport_size({"width": resized, "height": viewport["height"]})
    page.wait_for_function(
        "(before) => Math.abs(document.getElementById('ocr-image').getBoundingClientRect().width"
        " - before) > 20",
        arg=shown_w,
    )
    assert_boxes_on_the_lines(page)
    width_now, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width_now <= inner, "the page overflows the window sideways"
    assert not errors, errors
    screenshot(page, f"ocr-tiff-{viewport['width']}")


def test_a_tiff_without_javascript_shows_its_picture_with_the_boxes(
    open_page: Callable[..., Page], server: str
) -> None:
    page = open_page(java_script_enabled=False, **PHONE)
    page.goto(server + "/")
    page.set_input_files("#ocr-file", files=[upload("scan.tif", tiff16(SCAN), "image/tiff")])
    with page.expect_navigation(url=server + "/ocr", timeout=WAIT):
        page.get_by_role("button", name="Recognize text").click()
    expect(page.locator("#ocr-text")).to_contain_text("quick brown dog")
    picture = page.evaluate(PICTURE)
    height, width = SCAN.shape
    assert picture["src"].startswith("data:image/png;base64,")  # a gray scan: lossless
    assert picture["natural"] == [1600, round(height * 1600 / width)]
    assert picture["right"] <= 390 and picture["shown"][0] >= 300
    assert_boxes_on_the_lines(page)
    screenshot(page, "ocr-tiff-no-javascript")


CORPUS = Path(__file__).resolve().parents[1] / "corpus"
# The picture as the page shows it: its media type and its pixels (RGB, row by row).
SHOWN_PIXELS = """async () => {
    const image = document.getElementById("ocr-image");
    const canvas = document.createElement("canvas");
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    return {width: canvas.width, height: canvas.height,
            rgb: [...rgba].filter((_, i) => i % 4 !== 3)};
}"""


def test_a_cmyk_jpeg_is_shown_by_its_preview_in_the_colours_of_its_profile(
    page: Page, server: str
) -> None:
    data = (CORPUS / "jpeg-cmyk-profile.jpg").read_bytes()
    errors = console_errors(page)
    page.goto(server + "/")
    page.set_input_files("#ocr-file", files=[upload("inks.jpg", data, "image/jpeg")])
    with page.expect_response(server + "/api/preview", timeout=WAIT) as answer:
        page.get_by_role("button", name="Recognize text").click()
    # the preview, not the JPEG's inks as the browser would turn them into colours
    assert answer.value.status == 200
    assert answer.value.headers["content-type"] in ("image/png", "image/webp")
    expect(page.locator("#ocr-form .status")).to_contain_text("Done", timeout=WAIT)
    page.wait_for_function(
        "() => document.getElementById('ocr-image').complete"
        " && document.getElementById('ocr-image').naturalWidth > 0"
    )
    shown = page.evaluate(SHOWN_PIXELS)
    info = codec.sniff(data, max_pixels=50_000_000)
    expected = codec.decode(data, info, "color")[..., ::-1]  # the profile's colours, as RGB
    assert (shown["width"], shown["height"]) == (info.width, info.height)
    pixels = np.array(shown["rgb"], np.uint8).reshape(expected.shape)
    assert np.abs(pixels.astype(int) - expected.astype(int)).mean() < 3
    assert not errors, errors
