"""What every page shares, driven in Chromium at a desktop (1280×800) and a phone (390×844)
size: drop zones and thumbnails, errors in words, the size limit checked before uploading,
the Transform page's chips and before/after divider, the 404 page, the links to the docs,
a clean console, and nothing wider than the phone."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import ConsoleMessage, Page, Route, expect

from tests.browser.samples import astronaut_jpeg, photo_png, upload
from tests.browser.screens import screenshot
from tests.browser.screenshots import NOT_FOUND, ui_pages
from tests.browser.sizes import BY_NAME
from tests.server import running_server

pytestmark = pytest.mark.browser

WAIT = 30_000  # ms
MiB = 1024 * 1024
SIZES = BY_NAME
PAGES = ui_pages()


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def seen(open_page: Callable[..., Page], size: str) -> Page:
    """A page at SIZE (a script that throws fails the test: open_page watches)."""
    return open_page(**SIZES[size])


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose upload limit is 1 MiB."""
    env = {
        "PIXELMILL_PROCESS_WORKERS": "1",
        "PIXELMILL_THREAD_WORKERS": "2",
        "PIXELMILL_MAX_UPLOAD_BYTES": str(MiB),
    }
    with running_server(tmp_path_factory.mktemp("small-limit"), env=env) as url:
        yield url


def error_message(page: Page, form: str) -> str:
    """The words of FORM's error, without its small code."""
    text: str = page.eval_on_selector(
        f"{form} .error p",
        "p => { const c = p.cloneNode(true); c.querySelector('.status-code')?.remove(); "
        "return c.textContent.trim(); }",
    )
    return text


def font_px(page: Page, selector: str) -> float:
    return float(page.eval_on_selector(selector, "e => parseFloat(getComputedStyle(e).fontSize)"))


def outlined(page: Page, selector: str) -> bool:
    """The field holding SELECTOR is drawn in the danger colour (its box, or its drop zone)."""
    shadow: str = page.eval_on_selector(
        selector,
        "e => getComputedStyle(e.closest('.dropzone') || e).boxShadow",
    )
    return shadow != "none" and page.eval_on_selector(
        selector, "e => e.getAttribute('aria-invalid') === 'true'"
    )


def tiff_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, "TIFF")
    return buffer.getvalue()


def drop(page: Page, selector: str, name: str, data: bytes, mime: str) -> None:
    """Drop a file on the drop zone of the file field SELECTOR, as a person dragging it does."""
    transfer = page.evaluate_handle(
        """([name, bytes, mime]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: mime}));
            return transfer;
        }""",
        [name, list(data), mime],
    )
    zone = page.locator(selector).locator("xpath=..")
    expect(zone).to_have_class("dropzone")
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    expect(zone).to_have_class("dropzone dragging")
    zone.dispatch_event("drop", {"dataTransfer": transfer})


def transform(page: Page, server: str, ops: str, name: str = "astronaut.jpg") -> None:
    page.goto(server + "/ui/transform")
    page.set_input_files("#transform-file", files=[upload(name, astronaut_jpeg(), "image/jpeg")])
    page.fill("#transform-ops", ops)
    page.get_by_role("button", name="Transform").click()
    expect(page.locator("#transform-preview")).to_be_visible(timeout=WAIT)


# errors


def test_errors_are_in_words_and_name_the_field(seen: Page, server: str, size: str) -> None:
    page = seen
    page.goto(server + "/ui/collage")
    page.set_input_files("#image1", files=[upload("b.png", photo_png(64, 64), "image/png")])
    page.set_input_files(
        "#image2", files=[upload("notes.txt", b"these are notes, not a picture\n", "text/plain")]
    )
    page.get_by_role("button", name="Make the collage").click()
    error = page.locator("#collage-form .error")
    expect(error).to_be_visible()
    message = error_message(page, "#collage-form")
    assert message.startswith("Second image (notes.txt) is not an image"), message
    assert "image2" not in error.inner_text()
    code = page.locator("#collage-form .error .status-code")
    expect(code).to_have_text("415 Unsupported Media Type")
    assert font_px(page, "#collage-form .error .status-code") < font_px(
        page, "#collage-form .error p"
    )
    assert outlined(page, "#image2") and not outlined(page, "#image1")
    screenshot(page, f"shell-error-{size}")

    # a field the person changes is no longer outlined
    page.set_input_files("#image2", files=[upload("c.png", photo_png(64, 64, 3), "image/png")])
    assert not outlined(page, "#image2")

    # FastAPI's list: one line per problem, by the field's label
    page.goto(server + "/ui/transform")
    page.set_input_files("#transform-file", files=[upload("a.png", photo_png(64, 64), "image/png")])
    page.eval_on_selector("#transform-ops", "input => input.removeAttribute('required')")
    page.get_by_role("button", name="Transform").click()
    expect(page.locator("#transform-form .error li")).to_have_text("Operations: Field required")
    expect(page.locator("#transform-form .error .status-code")).to_contain_text("422")
    assert outlined(page, "#transform-ops")


def test_a_file_over_the_limit_is_refused_before_upload(
    seen: Page, small_limit_server: str, size: str
) -> None:
    page = seen
    server = small_limit_server
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
    page.goto(server + "/ui/transform")
    # the page states the server's limit, in MiB
    expect(page.locator(".drop-hint")).to_have_text("or drop an image here · up to 1 MiB each")
    big = upload("big.png", bytes(MiB + MiB // 2), "image/png")
    page.set_input_files("#transform-file", files=[big])
    expect(page.locator(".chosen li .size")).to_have_text("1.5 MiB · over the 1 MiB limit")
    page.fill("#transform-ops", "grayscale")
    page.get_by_role("button", name="Transform").click()

    expect(page.locator("#transform-form .error")).to_be_visible()
    refused = error_message(page, "#transform-form")
    assert refused == "Image (big.png) is 1.5 MiB; the limit is 1 MiB", refused
    expect(page.locator("#transform-form .error .status-code")).to_have_text(
        "checked in this browser: nothing was sent"
    )
    assert outlined(page, "#transform-file")
    page.wait_for_timeout(300)
    assert posted == [], f"the file was sent: {posted}"

    # the server, asked the same, says the same words
    page.evaluate("delete document.body.dataset.maxUploadBytes")
    page.get_by_role("button", name="Transform").click()
    expect(page.locator("#transform-form .error .status-code")).to_contain_text("413")
    assert posted == [server + "/v1/transform"]
    assert error_message(page, "#transform-form") == refused


# choose and see


def test_a_dropped_file_shows_a_thumbnail(seen: Page, server: str, size: str) -> None:
    page = seen
    page.goto(server + "/ui/transform")
    drop(page, "#transform-file", "astronaut.jpg", astronaut_jpeg(), "image/jpeg")
    assert page.eval_on_selector("#transform-file", "i => i.files[0].name") == "astronaut.jpg"
    chosen = page.locator("#transform-form .chosen li")
    expect(chosen).to_have_count(1)
    expect(chosen.locator(".name")).to_have_text("astronaut.jpg")
    expect(chosen.locator(".size")).to_have_text("97.0 KiB")
    page.wait_for_function(
        "() => { const i = document.querySelector('.chosen img'); "
        "return i && i.complete && i.naturalWidth === 512; }"
    )
    box = chosen.locator("img").bounding_box()
    assert box is not None and box["width"] >= 40 and box["height"] >= 40, box
    screenshot(page, f"shell-dropped-{size}")

    # a format the browser cannot show: a neutral card with its name and size
    drop(page, "#transform-file", "scan.tiff", tiff_bytes(), "image/tiff")
    expect(chosen.locator(".placeholder")).to_have_text("TIFF")
    expect(chosen.locator(".name")).to_have_text("scan.tiff")
    expect(chosen.locator(".size")).to_contain_text("KiB")

    # the dropped file is what is sent
    page.fill("#transform-ops", "resize=0.5")
    drop(page, "#transform-file", "astronaut.jpg", astronaut_jpeg(), "image/jpeg")
    page.get_by_role("button", name="Transform").click()
    expect(page.locator("#transform-meta")).to_contain_text("256×256 px", timeout=WAIT)


# Transform


def test_chips_insert_their_step(seen: Page, server: str) -> None:
    page = seen
    page.goto(server + "/ui/transform")
    chip = page.get_by_role("button", name="resize=0.5 half the width and the height")
    expect(chip).to_be_visible()
    chip.click()
    expect(page.locator("#transform-ops")).to_have_value("resize=0.5")
    expect(page.locator("#transform-ops")).to_be_focused()
    page.locator("button.chip", has_text="grayscale").click()
    page.locator("button.chip", has_text="format=webp").click()
    expect(page.locator("#transform-ops")).to_have_value("resize=0.5, grayscale, format=webp")

    page.set_input_files("#transform-file", files=[upload("a.jpg", astronaut_jpeg(), "image/jpeg")])
    page.get_by_role("button", name="Transform").click()
    expect(page.locator("#transform-meta")).to_contain_text("256×256 px · WEBP", timeout=WAIT)


def test_every_chip_is_a_valid_step() -> None:
    from pixelmill.api.routes.ui import TRANSFORM_CHIPS
    from pixelmill.imaging.pipeline import parse, parse_text

    for step, what in TRANSFORM_CHIPS:
        assert parse(parse_text(step)), step
        assert what and len(what) < 60, (step, what)


def colour_at(page: Page, fraction: float) -> float:
    """How colourful (max - min of RGB) the compare frame looks at FRACTION of its width."""
    shot = page.locator("#transform-compare").screenshot()
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=np.int16)
    height, width = pixels.shape[:2]
    column = pixels[height // 4 : 3 * height // 4, int(fraction * (width - 1))]
    return float((column.max(axis=1) - column.min(axis=1)).mean())


def test_the_divider_compares_before_and_after(seen: Page, server: str, size: str) -> None:
    page = seen
    transform(page, server, "grayscale")
    expect(page.locator("#transform-compare")).to_have_class("compare-frame comparing")
    page.wait_for_function("document.querySelector('#transform-before').naturalWidth === 512")
    # left of the divider the colour original, right of it the gray result
    assert colour_at(page, 0.4) > 30 and colour_at(page, 0.6) < 3

    frame = page.locator("#transform-compare").bounding_box()
    assert frame is not None
    divider = page.locator("#transform-divider")
    if size == "phone":  # a finger: a tap where the divider should go
        page.touchscreen.tap(frame["x"] + frame["width"] * 0.2, frame["y"] + frame["height"] / 2)
    else:  # a mouse drags it
        page.mouse.move(frame["x"] + frame["width"] / 2, frame["y"] + frame["height"] / 2)
        page.mouse.down()
        page.mouse.move(frame["x"] + frame["width"] * 0.2, frame["y"] + frame["height"] / 2)
        page.mouse.up()
    value = int(divider.input_value())
    assert 15 <= value <= 25, value
    assert colour_at(page, 0.4) < 3  # the result now shows there

    # the keyboard moves it too
    divider.focus()
    for _ in range(4):
        page.keyboard.press("PageUp")
    assert int(divider.input_value()) > value + 30
    assert colour_at(page, 0.4) > 30
    expect(divider).to_have_attribute(
        "aria-valuetext",
        f"{divider.input_value()}% before, {100 - int(divider.input_value())}% after",
    )
    screenshot(page, f"shell-compare-{size}")


def test_the_old_result_is_disabled_while_new_work_runs(seen: Page, server: str) -> None:
    page = seen
    transform(page, server, "resize=0.5")
    result = page.locator("#transform-result")
    download = page.locator("#transform-download")
    download.focus()
    expect(download).to_be_focused()

    held: list[Route] = []
    page.route("**/v1/transform", lambda route: held.append(route))
    page.fill("#transform-ops", "grayscale")
    page.get_by_role("button", name="Transform").click()
    page.wait_for_function("document.querySelector('#transform-form').classList.contains('busy')")
    page.wait_for_timeout(300)  # the dimming's transition
    assert float(result.evaluate("e => getComputedStyle(e).opacity")) < 0.6
    assert result.evaluate("e => e.inert") is True
    download.evaluate("a => a.focus()")
    expect(download).not_to_be_focused()  # nothing in it can be reached
    clicked = download.evaluate(
        "a => { let got = false; a.addEventListener('click', () => got = true, {once: true}); "
        "const r = a.getBoundingClientRect(); "
        "const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2); "
        "hit?.click(); return got; }"
    )
    assert clicked is False

    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the request did not go out"
    held[0].continue_()
    expect(page.locator("#transform-meta")).to_contain_text("512×512 px", timeout=WAIT)
    assert result.evaluate("e => e.inert") is False
    assert float(result.evaluate("e => getComputedStyle(e).opacity")) == 1.0


def test_a_long_download_name_stays_in_its_card(
    open_page: Callable[..., Page], server: str
) -> None:
    page = open_page(**SIZES["phone"])
    long_name = "holiday-photos-from-the-summer-of-2026-at-the-lake-near-grandmothers-house.jpg"
    transform(page, server, "resize=0.5", name=long_name)
    card = page.locator("#transform-result").bounding_box()
    button = page.locator("#transform-download").bounding_box()
    assert card is not None and button is not None
    assert button["x"] >= card["x"] and button["x"] + button["width"] <= card["x"] + card["width"]
    no_overflow(page)


# the shell


def test_an_unknown_ui_page_is_a_styled_404(seen: Page, server: str, size: str) -> None:
    page = seen
    response = page.goto(server + NOT_FOUND)
    assert response is not None and response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", name="There is no page here")).to_be_visible()
    expect(page.get_by_role("navigation")).to_be_visible()
    assert page.eval_on_selector(".card", "e => getComputedStyle(e).borderRadius") == "10px"
    page.get_by_role("link", name="Transform").last.click()
    expect(page.get_by_role("heading", name="Transform")).to_be_visible()
    # deeper paths too; the API keeps its JSON
    assert httpx.get(server + "/ui/a/b").status_code == 404
    assert httpx.get(server + "/ui/a/b").headers["content-type"].startswith("text/html")
    assert httpx.get(server + "/api/nothing").json() == {"detail": "Not Found"}


def test_footer_links_are_big_enough_to_touch(seen: Page, server: str) -> None:
    page = seen
    page.goto(server + "/ui/collage")
    links = page.locator("footer.site a")
    expect(links).to_have_count(3)
    for i in range(3):
        box = links.nth(i).bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, box


def test_every_link_to_the_docs_works(seen: Page, server: str) -> None:
    page = seen
    hrefs: set[str] = set()
    for path in PAGES.values():
        page.goto(server + path)
        hrefs |= set(page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)"))
    docs = {href for href in hrefs if "/docs" in href or "/redoc" in href or "openapi" in href}
    assert {server + "/docs", server + "/redoc", server + "/openapi.json"} <= docs, docs
    for href in sorted(hrefs):
        if href.startswith(server) and NOT_FOUND not in href:
            answer = page.request.get(href)
            assert answer.status == 200, (href, answer.status)

    page.goto(server + "/ui/transform")
    page.locator("footer.site").get_by_role("link", name="API docs").click()
    expect(page.locator(".info .title")).to_contain_text("pixelmill", timeout=WAIT)
    page.goto(server + "/ui/transform")
    page.locator("#transform-ops-hint").get_by_role("link", name="API docs").click()
    section = page.locator("[data-section-id='tag/transform']")  # ReDoc, at the section
    expect(section).to_be_in_viewport(timeout=WAIT)


@pytest.mark.parametrize("name", list(PAGES))
def test_no_console_errors_and_nothing_overflows(
    seen: Page, server: str, size: str, name: str
) -> None:
    page = seen
    errors: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.goto(server + PAGES[name])
    assert response is not None
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)  # what the page's script does once it has loaded
    if name == "not-found":  # the browser notes the page's own status: that 404 is the point
        assert response.status == 404
        errors = [e for e in errors if not e.endswith(f"({server + NOT_FOUND})")]
    assert not errors, f"the console shows errors: {errors}"
    if size == "phone":
        no_overflow(page)


def no_overflow(page: Page) -> None:
    """No element reaches past the window's right edge, but inside a box that scrolls it."""
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page is {width} px wide in a {inner} px window"
    outside: list[str] = page.evaluate(
        """() => {
            const scrolls = (e) => ["auto", "scroll", "hidden", "clip"].includes(
                getComputedStyle(e).overflowX);
            const out = [];
            for (const e of document.body.querySelectorAll("*")) {
                const r = e.getBoundingClientRect();
                if (!r.width || r.right <= window.innerWidth + 0.5 && r.left >= -0.5) continue;
                let clipped = false;
                for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
                    if (scrolls(a)) { clipped = true; break; }
                }
                if (!clipped && !e.closest(".skip")) out.push(
                    `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${r.left}..${r.right}`);
            }
            return out;
        }"""
    )
    assert not outside, f"past the {inner} px window: {outside}"


def test_ui_pages_are_read_from_the_router() -> None:
    assert {"ocr", "collage", "captions", "faces", "transform", "not-found"} <= set(PAGES)
    assert PAGES["ocr"] == "/" and PAGES["transform"] == "/ui/transform"


def test_the_pages_work_without_javascript(open_page: Callable[..., Page], server: str) -> None:
    page = open_page(java_script_enabled=False)
    page.goto(server + "/ui/transform")
    expect(page.locator("#transform-chips")).to_be_hidden()  # they need a script to insert
    expect(page.locator(".dropzone")).to_have_count(0)
    button = page.evaluate(
        "() => getComputedStyle(document.querySelector('#transform-file'), "
        "'::file-selector-button').minHeight"
    )
    assert button == "44px", button  # the file button is styled, and big enough to touch
    page.set_input_files("#transform-file", files=[upload("a.png", photo_png(64, 48), "image/png")])
    page.fill("#transform-ops", "resize=0.5")
    with page.expect_navigation():
        page.get_by_role("button", name="Transform").click()
    assert page.url == server + "/v1/transform"  # the form posted to the API as it is
    size = page.evaluate(
        "() => [document.images[0].naturalWidth, document.images[0].naturalHeight]"
    )
    assert size == [32, 24], size

    response = page.goto(server + "/ui/nothing-here")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="There is no page here")).to_be_visible()
