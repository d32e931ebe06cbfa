"""`make screenshots`: every page of the UI at a desktop and a phone size, with realistic
content on it (a transform with its before/after divider, an OCR result, stored captions, a
faces feed), written to docs/screenshots/<page>-<width>.png.

    .venv/bin/python -m tests.browser.screenshots [--only PAGE ...] [--out DIR]

The pages are read from the UI's router, so a page added there is shot too (with no scene of
its own, as it opens). It starts a `pixelmill serve` of its own on a temporary directory and
drives the system's Chromium (/usr/bin/chromium) with Playwright; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.samples import astronaut_jpeg, photo_png, text_png, upload
from tests.server import running_server

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}
NOT_FOUND = "/ui/no-such-page"
WAIT = 60_000  # ms: OCR and the background services on a busy 2-CPU machine


def ui_pages() -> dict[str, str]:
    """Every page of the UI by name (`ocr`: `/`, `collage`: `/ui/collage`, ...), read from
    the UI's router; `not-found` is a path no page has."""
    from pixelmill.api.routes.ui import router

    pages = {}
    for route in router.routes:
        path = getattr(route, "path", "")
        if "GET" in getattr(route, "methods", ()) and "{" not in path:
            pages[path.rstrip("/").rsplit("/", 1)[-1] or "ocr"] = path
    return {**pages, "not-found": NOT_FOUND}


def wait_image(page: Page, selector: str) -> None:
    page.wait_for_function(
        "s => [...document.querySelectorAll(s)].some(i => i.complete && i.naturalWidth > 0)",
        arg=selector,
        timeout=WAIT,
    )


def ocr(page: Page, first: bool) -> None:
    text = "pixelmill reads text\nfrom scans, screenshots\nand photos of pages"
    page.set_input_files("#ocr-file", files=[upload("page.png", text_png(text), "image/png")])
    page.get_by_role("button", name="Recognize text").click()
    expect(page.locator("#ocr-text")).to_contain_text("pixelmill", timeout=WAIT)
    wait_image(page, "#ocr-image")


def collage(page: Page, first: bool) -> None:
    page.set_input_files("#image1", files=[upload("left.png", photo_png(480, 360, 1), "image/png")])
    page.set_input_files("#image2", files=[upload("astronaut.jpg", astronaut_jpeg(), "image/jpeg")])
    page.get_by_role("button", name="Make the collage").click()
    wait_image(page, "#collage-image")
    page.locator("#collage-form").scroll_into_view_if_needed()


def captions(page: Page, first: bool) -> None:
    if first:
        for seed, words in enumerate(["Harbour at dawn", "Привет из Петербурга", "Street, 7 pm"]):
            page.set_input_files(
                "#caption-image",
                files=[upload(f"photo{seed}.png", photo_png(480, 320, seed + 3), "image/png")],
            )
            page.fill("#caption-description", words)
            page.get_by_role("button", name="Upload").click()
            expect(page.locator("#captions-form .status")).to_contain_text("Queued")
        expect(page.locator("#gallery li[data-status=stored]")).to_have_count(3, timeout=WAIT)
    page.reload()
    expect(page.locator("#gallery li").first).to_be_visible(timeout=WAIT)
    wait_image(page, "#gallery li img")


def faces(page: Page, first: bool) -> None:
    if first:
        page.set_input_files(
            "#faces-file", files=[upload("astronaut.jpg", astronaut_jpeg(), "image/jpeg")]
        )
        page.get_by_role("button", name="Find faces").click()
        expect(page.locator("#feed li").first).to_be_visible(timeout=WAIT)
        wait_image(page, "#feed li img")
    else:
        page.wait_for_timeout(1500)  # the feed loads what came before, where the page does
    page.set_input_files(
        "#faces-file", files=[upload("astronaut.jpg", astronaut_jpeg(), "image/jpeg")]
    )


def transform(page: Page, first: bool) -> None:
    page.set_input_files(
        "#transform-file", files=[upload("astronaut.jpg", astronaut_jpeg(), "image/jpeg")]
    )
    for step in ("fit=300x200:cover:face", "grayscale", "sharpen=1"):
        page.locator("#transform-chips button.chip", has_text=step).click()
    page.select_option("#transform-format", "webp")
    page.get_by_role("button", name="Transform").click()
    wait_image(page, "#transform-image")
    expect(page.locator("#transform-compare")).to_have_class("compare-frame comparing")
    page.locator("#transform-divider").fill("45")
    page.locator("#transform-result").scroll_into_view_if_needed()


def status(page: Page, first: bool) -> None:
    page.wait_for_timeout(3000)  # a few refreshes of the charts


SCENES: dict[str, Callable[[Page, bool], None]] = {
    "ocr": ocr,
    "collage": collage,
    "captions": captions,
    "faces": faces,
    "transform": transform,
    "status": status,
}


def shoot(page: Page, path: Path) -> None:
    """The whole page, as a PNG of at most 256 colours (a few hundred KB, not megabytes)."""
    png = page.screenshot(full_page=True, animations="disabled", caret="hide")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", nargs="*", help="page names (default: every page)")
    args = parser.parse_args(argv)
    pages = {name: path for name, path in ui_pages().items() if not args.only or name in args.only}
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_server(Path(tmp)) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        for first, size in ((True, DESKTOP), (False, PHONE)):
            for name, path in pages.items():
                context = browser.new_context(color_scheme="light", **size)
                page = context.new_page()
                page.goto(server + path)
                scene = SCENES.get(name)
                if scene:
                    scene(page, first)
                target = args.out / f"{name}-{size['viewport']['width']}.png"
                shoot(page, target)
                print(f"{target}  {target.stat().st_size // 1024} KiB")
                context.close()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
