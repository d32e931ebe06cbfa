"""Screenshots of the pages under test, for a person to look at: test-artifacts/browser/."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from playwright.sync_api import Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as test-artifacts/browser/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def record_progress(page: Page, form: str) -> None:
    """Start noting what the FORM shows while it works: busy, button disabled, status texts."""
    page.evaluate(
        """(selector) => {
            const form = document.querySelector(selector);
            const button = form.querySelector('button[type="submit"]');
            const status = form.querySelector('.status');
            const seen = (window.__progress = {busy: false, disabled: false, texts: []});
            new MutationObserver(() => {
                seen.busy ||= form.classList.contains('busy');
                seen.disabled ||= button.disabled;
                const text = status.textContent.trim();
                if (text && seen.texts.at(-1) !== text) seen.texts.push(text);
            }).observe(form, {attributes: true, childList: true, subtree: true,
                              characterData: true});
        }""",
        form,
    )


class Progress(TypedDict):
    busy: bool  # the form had the class "busy" (its button spins)
    disabled: bool  # the submit button was disabled
    texts: list[str]  # the status texts, in order


def progress_seen(page: Page) -> Progress:
    """What record_progress noted since it started."""
    seen: Progress = page.evaluate("window.__progress")
    return seen
