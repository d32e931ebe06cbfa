"""The UI pages of collage, faces, captions and transform, driven in Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.samples import astronaut_jpeg, photo_png, upload
from tests.browser.screens import progress_seen, record_progress, screenshot

pytestmark = pytest.mark.browser

WAIT = 30_000  # ms: uploads processed by background services on a 2-CPU machine


def natural_size(page: Page, selector: str) -> tuple[int, int]:
    size = page.eval_on_selector(selector, "img => [img.naturalWidth, img.naturalHeight]")
    return int(size[0]), int(size[1])


def wait_loaded(page: Page, selector: str) -> None:
    page.wait_for_function(
        "s => { const img = document.querySelector(s); "
        "return img && img.complete && img.naturalWidth > 0; }",
        arg=selector,
        timeout=WAIT,
    )


def test_collage_page_shows_the_png(page: Page, server: str) -> None:
    page.goto(server + "/ui/collage")
    page.set_input_files("#image1", files=[upload("left.png", photo_png(320, 240, 1), "image/png")])
    page.set_input_files(
        "#image2", files=[upload("right.png", photo_png(320, 240, 2), "image/png")]
    )
    page.fill("#segment_size", "40")
    record_progress(page, "#collage-form")
    page.get_by_role("button", name="Make the collage").click()

    wait_loaded(page, "#collage-image")
    assert natural_size(page, "#collage-image") == (640, 240)
    expect(page.locator("#collage-meta")).to_contain_text("640×240 px")
    expect(page.locator("#collage-download")).to_have_attribute("href", re.compile("^blob:"))
    assert page.url == server + "/ui/collage"  # answered in place
    expect(page.get_by_role("button", name="Make the collage")).to_be_enabled()
    seen = progress_seen(page)
    assert seen["busy"] and seen["disabled"], seen
    assert any(text.startswith(("Uploading", "Processing")) for text in seen["texts"]), seen
    screenshot(page, "collage")


def test_faces_feed_shows_new_results_without_reload(
    page: Page, open_page: Callable[..., Page], server: str
) -> None:
    viewer = page
    viewer.goto(server + "/ui/faces")
    expect(viewer.locator("#feed-state")).to_have_attribute("data-state", "connected")
    viewer.evaluate("window.__notReloaded = true")

    uploader = open_page()
    uploader.goto(server + "/ui/faces")
    uploader.set_input_files(
        "#faces-file", files=[upload("astronaut.jpg", astronaut_jpeg(), "image/jpeg")]
    )
    uploader.get_by_role("button", name="Find faces").click()
    expect(uploader.locator("#faces-form .status")).to_contain_text("Queued")

    item = viewer.locator("#feed li").first
    expect(item).to_be_visible(timeout=WAIT)
    expect(item).to_have_attribute("data-faces", "1")
    expect(item.locator(".badge")).to_have_text("1 face")
    wait_loaded(viewer, "#feed li img")
    assert natural_size(viewer, "#feed li img") == (512, 512)
    assert viewer.evaluate("window.__notReloaded") is True
    # the uploader's own page hears of it too, and says so
    expect(uploader.locator("#faces-form .status")).to_contain_text("1 face found", timeout=WAIT)
    screenshot(viewer, "faces")


def test_captions_gallery_shows_the_stored_image(page: Page, server: str) -> None:
    description = "Привет, мир! Подпись на русском — 7 секунд"
    page.goto(server + "/ui/captions")
    page.set_input_files(
        "#caption-image", files=[upload("street.png", photo_png(320, 240), "image/png")]
    )
    page.fill("#caption-description", description)
    expect(page.locator("#caption-count")).to_have_text(f"{len(description)} / 200 characters")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#captions-form .status")).to_contain_text(re.compile("Queued|Stored ✓"))

    item = page.locator("#gallery li", has_text=description)
    expect(item).to_have_attribute("data-status", "stored", timeout=WAIT)
    expect(item.locator(".badge")).to_have_text("stored")
    expect(item.locator(".description")).to_have_text(description)
    wait_loaded(page, "#gallery li img")
    width, height = natural_size(page, "#gallery li img")
    assert width == 320 and height > 240  # the caption's band below the picture
    screenshot(page, "captions")


def test_transform_page_previews_images_and_offers_zips(page: Page, server: str) -> None:
    page.goto(server + "/ui/transform")
    page.set_input_files(
        "#transform-file", files=[upload("wide.png", photo_png(200, 100), "image/png")]
    )
    page.fill("#transform-ops", "resize=0.5, grayscale")
    page.select_option("#transform-format", "webp")
    page.get_by_role("button", name="Transform").click()
    wait_loaded(page, "#transform-image")
    assert natural_size(page, "#transform-image") == (100, 50)
    expect(page.locator("#transform-meta")).to_contain_text("WEBP")
    expect(page.locator("#transform-download")).to_have_attribute(
        "download", "wide_transformed.webp"
    )
    screenshot(page, "transform")

    page.fill("#transform-ops", "split")
    page.select_option("#transform-format", "")
    page.get_by_role("button", name="Transform").click()
    expect(page.locator("#transform-meta")).to_contain_text("ZIP archive · 4 images")
    expect(page.locator("#transform-download")).to_have_attribute("download", "wide.zip")
    expect(page.locator("#transform-preview")).to_be_hidden()
    screenshot(page, "transform-zip")


def test_transform_page_writes_and_previews_avif(page: Page, server: str) -> None:
    page.goto(server + "/ui/transform")
    page.set_input_files(
        "#transform-file", files=[upload("wide.png", photo_png(200, 100), "image/png")]
    )
    page.fill("#transform-ops", "resize=0.5")
    page.select_option("#transform-format", "avif")
    page.get_by_role("button", name="Transform").click()
    wait_loaded(page, "#transform-image")  # Chromium decodes the AVIF pixelmill wrote
    assert natural_size(page, "#transform-image") == (100, 50)
    expect(page.locator("#transform-download")).to_have_attribute(
        "download", "wide_transformed.avif"
    )


def test_every_request_carries_the_api_key(page: Page, server: str) -> None:
    page.goto(server + "/ui/transform")
    page.locator("#api-key-box summary").click()
    page.fill("#api-key", "secret-key-1")
    screenshot(page, "api-key")
    page.keyboard.press("Enter")
    expect(page.locator("#api-key-box")).to_have_class(re.compile(r"\bset\b"))

    page.set_input_files("#transform-file", files=[upload("a.png", photo_png(64, 64), "image/png")])
    page.fill("#transform-ops", "grayscale")
    with page.expect_request(lambda request: request.url.endswith("/v1/transform")) as posted:
        page.get_by_role("button", name="Transform").click()
    assert posted.value.headers.get("x-api-key") == "secret-key-1"
    wait_loaded(page, "#transform-image")  # harmless while the server has no keys

    # kept in this browser: another page of the same context sends it too
    sent: list[Request] = []
    page.on(
        "request", lambda request: sent.append(request) if "/api/images" in request.url else None
    )
    page.goto(server + "/ui/captions")
    expect(page.locator("#gallery-state")).to_contain_text("image")
    assert sent and all(r.headers.get("x-api-key") == "secret-key-1" for r in sent)
    expect(page.locator("#api-key")).to_have_value("secret-key-1")


def test_errors_show_the_api_detail(page: Page, server: str) -> None:
    page.goto(server + "/ui/collage")
    page.set_input_files(
        "#image1", files=[upload("notes.txt", b"these are notes, not a picture\n", "text/plain")]
    )
    page.set_input_files("#image2", files=[upload("b.png", photo_png(64, 64), "image/png")])
    page.get_by_role("button", name="Make the collage").click()
    error = page.locator("#collage-form .error")
    expect(error).to_be_visible()
    expect(error.locator(".status-code")).to_have_text("415 Unsupported Media Type")
    expect(error).to_contain_text("First image (notes.txt) is not an image")
    expect(page.locator("#collage-result")).to_be_hidden()
    expect(page.get_by_role("button", name="Make the collage")).to_be_enabled()
    screenshot(page, "collage-error")

    # FastAPI's list form of `detail`: one readable line per problem
    page.goto(server + "/ui/transform")
    page.set_input_files("#transform-file", files=[upload("a.png", photo_png(64, 64), "image/png")])
    page.eval_on_selector("#transform-ops", "input => input.removeAttribute('required')")
    page.get_by_role("button", name="Transform").click()
    problems = page.locator("#transform-form .error li")
    expect(problems).to_have_count(1)
    expect(problems).to_have_text("Operations: Field required")
    expect(page.locator("#transform-form .error")).to_contain_text("422")
    screenshot(page, "transform-error")
