"""The captions and faces galleries load their images through signed /img URLs: srcset with
1x and 2x, format=auto (Chromium asks for AVIF), sized to the thumbnail box."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, Response, expect

from tests.browser.samples import astronaut_jpeg, photo_png, upload
from tests.browser.test_surfaces import WAIT, natural_size, wait_loaded
from tests.server import running_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def signing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `pixelmill serve` that signs delivery URLs."""
    tmp = tmp_path_factory.mktemp("ui-delivery")
    env = {
        "PIXELMILL_PROCESS_WORKERS": "1",
        "PIXELMILL_THREAD_WORKERS": "2",
        "PIXELMILL_URL_KEYS": "gallery-key",
    }
    with running_server(tmp, env=env) as url:
        yield url


def images_seen(page: Page) -> list[Response]:
    seen: list[Response] = []
    page.on("response", lambda response: seen.append(response) if "/img/" in response.url else None)
    return seen


def signing_asked(page: Page) -> list[str]:
    """Requests the page makes to sign URLs itself: none, the server signs them."""
    asked: list[str] = []
    page.on(
        "request", lambda request: asked.append(request.url) if "/v1/urls" in request.url else None
    )
    return asked


def test_captions_gallery_uses_signed_delivery_urls(page: Page, signing_server: str) -> None:
    seen, asked = images_seen(page), signing_asked(page)
    page.goto(signing_server + "/ui/captions")
    page.set_input_files(
        "#caption-image", files=[upload("street.png", photo_png(640, 480), "image/png")]
    )
    page.fill("#caption-description", "delivered through /img")
    page.get_by_role("button", name="Upload").click()
    item = page.locator("#gallery li", has_text="delivered through /img")
    expect(item).to_have_attribute("data-status", "stored", timeout=WAIT)
    wait_loaded(page, "#gallery li img")
    img = item.locator("img")
    src, srcset = img.get_attribute("src") or "", img.get_attribute("srcset") or ""
    assert src.startswith("/img/") and "/fit=320x240:inside,format=auto/captions/" in src
    assert srcset.endswith(" 2x") and "dpr=2" in srcset
    width, height = natural_size(page, "#gallery li img")
    assert height == 240 and width < 320  # inside the box: the band makes it taller than 4:3
    assert seen and all(response.status == 200 for response in seen)
    assert seen[0].headers["content-type"] == "image/avif"  # Chromium's Accept names AVIF
    assert "/_/captions/" in (item.locator("a").get_attribute("href") or "")
    assert asked == []


def test_faces_feed_uses_2x_on_a_dense_screen(
    open_page: Callable[..., Page], signing_server: str
) -> None:
    page = open_page(device_scale_factor=2)
    asked = signing_asked(page)
    page.goto(signing_server + "/ui/faces")
    expect(page.locator("#feed-state")).to_have_attribute("data-state", "connected")
    page.set_input_files(
        "#faces-file", files=[upload("astronaut.jpg", astronaut_jpeg(), "image/jpeg")]
    )
    page.get_by_role("button", name="Find faces").click()
    expect(page.locator("#feed li").first).to_be_visible(timeout=WAIT)
    wait_loaded(page, "#feed li img")
    assert (page.locator("#feed li img").first.get_attribute("src") or "").startswith("/img/")
    current = page.eval_on_selector("#feed li img", "img => img.currentSrc")
    assert "dpr=2" in current
    # dpr=2 doubles the box to 640x480, shrunk to the 512x512 source keeping its shape
    # (512x384); the face photo inside it is 384x384 pixels, 192x192 CSS pixels at 2x
    assert natural_size(page, "#feed li img") == (192, 192)
    assert asked == []
