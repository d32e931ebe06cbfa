"""The UI on a phone-sized screen (390×844, mobile viewport): usable, no sideways scrolling."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.samples import text_png, upload
from tests.browser.screens import screenshot
from tests.browser.screenshots import ui_pages
from tests.browser.sizes import PHONE

pytestmark = pytest.mark.browser

PAGES = {name: path for name, path in ui_pages().items() if name != "not-found"}


@pytest.fixture
def phone(open_page: Callable[..., Page]) -> Page:
    return open_page(**PHONE)


def no_sideways_scroll(page: Page) -> None:
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page is {width} px wide in a {inner} px window"


def test_ocr_form_is_usable_on_a_phone(phone: Page, server: str) -> None:
    phone.goto(server + "/")
    assert phone.evaluate("window.innerWidth") == 390  # the viewport meta tag is honoured
    no_sideways_scroll(phone)
    for selector in ("#ocr-file", "#ocr-lang", "#ocr-form button[type=submit]"):
        control = phone.locator(selector)
        expect(control).to_be_visible()
        box = control.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (selector, box)
        assert box["y"] + box["height"] <= 844, (selector, box)  # on the first screen
    screenshot(phone, "phone-ocr")

    phone.set_input_files(
        "#ocr-file", files=[upload("fox.png", text_png("Hello phone"), "image/png")]
    )
    phone.select_option("#ocr-lang", "eng")
    phone.locator("#ocr-form button[type=submit]").tap()
    expect(phone.locator("#ocr-text")).to_contain_text("Hello phone", timeout=60_000)
    no_sideways_scroll(phone)
    screenshot(phone, "phone-ocr-result")


@pytest.mark.parametrize("name", [name for name in PAGES if name != "ocr"])
def test_every_page_fits_a_phone(phone: Page, server: str, name: str) -> None:
    phone.goto(server + PAGES[name])
    no_sideways_scroll(phone)
    expect(phone.get_by_role("navigation")).to_be_visible()
    # every button of the page (a form's submit button, a dashboard's) can be reached
    buttons = phone.locator("main button:visible")
    for i in range(buttons.count()):
        button = buttons.nth(i)
        button.scroll_into_view_if_needed()
        expect(button).to_be_in_viewport()
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    screenshot(phone, f"phone-{name}")
