"""The OCR page at `/`: the form as served, with JavaScript (answered in place) and without."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.samples import text_png, upload
from tests.browser.screens import progress_seen, record_progress, screenshot

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
