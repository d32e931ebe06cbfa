"""`/docs` and `/redoc` render in Chromium with every host but the server unreachable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Response, Route, expect

from tests.browser.screens import screenshot

pytestmark = pytest.mark.browser

WAIT = 30_000  # ms: ReDoc lays out the whole document before it shows anything


@pytest.fixture(scope="module")
def document(server: str) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(server + "/openapi.json", timeout=10).json()
    return answer


def operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    return [
        operation
        for item in document["paths"].values()
        for method, operation in item.items()
        if method in methods
    ]


def summary_of(document: dict[str, Any], path: str, method: str) -> str:
    summary: str = document["paths"][path][method]["summary"]
    return summary


class Offline:
    """A page on which any request to a host other than the server's is aborted and noted."""

    def __init__(self, page: Page, server: str) -> None:
        self.page = page
        self.host = urlsplit(server).netloc
        self.refused: list[str] = []
        self.failed: list[str] = []  # answers of our own server that are errors
        page.route("**/*", self._route)
        page.on("response", self._response)

    def _route(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).netloc == self.host:
            route.continue_()
        else:
            self.refused.append(url)
            route.abort("internetdisconnected")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url}")


@pytest.fixture
def offline(open_page: Callable[..., Page], server: str) -> Iterator[Offline]:
    watched = Offline(open_page(), server)
    yield watched
    assert not watched.refused, f"the page asked other hosts: {watched.refused}"
    assert not watched.failed, f"the server refused: {watched.failed}"


def test_swagger_ui_renders_every_operation_offline(
    offline: Offline, server: str, document: dict[str, Any]
) -> None:
    page = offline.page
    page.goto(server + "/docs")

    transform = page.locator(".opblock-post", has_text="/v1/transform")
    expect(transform.locator(".opblock-summary-description")).to_have_text(
        summary_of(document, "/v1/transform", "post"), timeout=WAIT
    )
    expect(page.locator(".opblock")).to_have_count(len(operations(document)))
    # the stylesheet came too: a POST block wears Swagger UI's green border
    border = transform.evaluate("block => getComputedStyle(block).borderColor")
    assert border == "rgb(73, 204, 144)", border
    expect(page.locator(".info .title")).to_contain_text("pixelmill")

    transform.locator(".opblock-summary").click()  # the operation opens, with its form
    expect(transform.locator(".opblock-body")).to_contain_text("file", timeout=WAIT)
    screenshot(page, "docs-swagger-ui")
    assert offline.page.evaluate("document.querySelector('link[rel*=icon]').href") == (
        server + "/static/favicon.svg"
    )


def test_redoc_renders_every_operation_offline(
    offline: Offline, server: str, document: dict[str, Any]
) -> None:
    page = offline.page
    page.goto(server + "/redoc")

    expect(page.locator("[data-section-id^='operation/']")).to_have_count(
        len(operations(document)), timeout=WAIT
    )
    summary = summary_of(document, "/v1/transform", "post")
    page.get_by_role("menuitem", name="transform", exact=True).click()
    page.get_by_role("menuitem", name=summary, exact=True).click()  # the menu leads to it
    heading = page.locator("h2", has_text=summary)
    expect(heading).to_be_in_viewport()
    expect(page.locator("h1", has_text="pixelmill")).to_have_count(1)
    screenshot(page, "docs-redoc")
