"""`POST /ocr`: the text as JSON or as a page, the checks, and the uploads kept in tmp."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pixelmill.api import create_app
from pixelmill.api.routes.ocr import prefers_html
from pixelmill.config import Settings
from pixelmill.storage import tmp
from tests.images import encode, iou
from tests.imaging.test_ocr import (
    ENGLISH,
    RUSSIAN,
    ink_box,
    render,
    require_tesseract,
    similarity,
    turned,
)

MAX_FILES = 3
ENGLISH_IMAGE = render(ENGLISH)
ENGLISH_PNG = encode(ENGLISH_IMAGE, ".png")


def make_client(tmp_path: Path, **overrides: Any) -> TestClient:
    settings = Settings(
        data_dir=tmp_path / "data",
        results_dir=tmp_path / "results",
        tmp_dir=tmp_path / "uploads",
        tmp_max_files=MAX_FILES,
        process_workers=1,
        thread_workers=2,
        **overrides,
    )
    return TestClient(create_app(settings))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app in its default engine choice (`auto`: Tesseract here)."""
    with make_client(tmp_path_factory.mktemp("ocr")) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def fallback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app with the pure-pip engine, as on a machine without Tesseract."""
    with make_client(tmp_path_factory.mktemp("ocr-fallback"), ocr_engine="rapidocr") as c:
        yield c


def post(
    client: TestClient,
    data: bytes,
    name: str = "english.png",
    lang: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    form = {"lang": lang} if lang is not None else {}
    return client.post(
        "/ocr", files={"file": (name, data, "image/png")}, data=form, headers=headers or {}
    )


def uploads(client: TestClient) -> list[Path]:
    folder: Path = client.app.state.settings.tmp_path  # type: ignore[attr-defined]
    return sorted(path for path in folder.iterdir() if not path.name.startswith("."))


# --- JSON -----------------------------------------------------------------------------------


def test_english_png_gives_every_field(client: TestClient) -> None:
    require_tesseract("eng")
    response = post(client, ENGLISH_PNG)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == [
        "filename",
        "width",
        "height",
        "format",
        "text",
        "lines",
        "engine",
        "deskew_degrees",
        "elapsed_ms",
    ]
    assert body["filename"] == "english.png"
    assert (body["width"], body["height"]) == (ENGLISH_IMAGE.shape[1], ENGLISH_IMAGE.shape[0])
    assert body["format"] == "png"
    assert body["engine"].startswith("tesseract ") and body["engine"][10].isdigit()
    assert similarity(ENGLISH, body["text"]) >= 0.95
    assert body["deskew_degrees"] == 0.0
    assert body["elapsed_ms"] > 0
    [line] = body["lines"]
    assert set(line) == {"text", "confidence", "box"}
    assert 0.5 < line["confidence"] <= 1
    assert iou(tuple(line["box"]), ink_box(ENGLISH_IMAGE)) > 0.5


def test_russian_with_lang_rus(client: TestClient) -> None:
    require_tesseract("rus")
    response = post(client, encode(render(RUSSIAN), ".png"), "russian.png", lang="rus")
    assert response.status_code == 200, response.text
    assert similarity(RUSSIAN, response.json()["text"]) >= 0.9


def test_a_turned_jpeg_is_straightened(client: TestClient) -> None:
    require_tesseract("eng")
    image = turned(ENGLISH_IMAGE, 3.0)
    response = post(client, encode(image, ".jpg"), "turned.jpg", lang="eng")
    body = response.json()
    assert body["format"] == "jpeg"
    assert abs(body["deskew_degrees"] - 3.0) <= 0.5
    assert similarity(ENGLISH, body["text"]) >= 0.9
    assert iou(tuple(body["lines"][0]["box"]), ink_box(image)) > 0.5


def test_boxes_are_in_the_upright_image_of_an_exif_rotated_jpeg(client: TestClient) -> None:
    require_tesseract("eng")
    # stored turned a quarter to the left, with "turn right to show" in its EXIF (6)
    stored = Image.fromarray(ENGLISH_IMAGE).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif)
    body = post(client, buffer.getvalue(), "sideways.jpg").json()
    assert (body["width"], body["height"]) == (ENGLISH_IMAGE.shape[1], ENGLISH_IMAGE.shape[0])
    assert similarity(ENGLISH, body["text"]) >= 0.9
    assert iou(tuple(body["lines"][0]["box"]), ink_box(ENGLISH_IMAGE)) > 0.5


# --- refusals -------------------------------------------------------------------------------


def test_unknown_lang_lists_the_installed_languages(client: TestClient) -> None:
    require_tesseract("eng", "rus")
    response = post(client, ENGLISH_PNG, lang="xyz")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "'xyz'" in detail
    installed = detail.split("installed languages:")[1]
    assert {"eng", "rus"} <= {name.strip() for name in installed.split(",")}


def test_non_image_is_415(client: TestClient) -> None:
    response = post(client, b"this is plain text, not an image\n" * 10, "notes.txt")
    assert response.status_code == 415
    assert "not an image" in response.json()["detail"]


def test_empty_file_is_422(client: TestClient) -> None:
    response = post(client, b"", "empty.png")
    assert response.status_code == 422
    assert "empty" in response.json()["detail"]


def test_missing_file_is_422(client: TestClient) -> None:
    response = client.post("/ocr", data={"lang": "eng"})
    assert response.status_code == 422
    assert "`file`" in response.json()["detail"]


def test_too_large_is_413(tmp_path: Path) -> None:
    with make_client(tmp_path, max_upload_bytes=1000, max_request_bytes=10_000) as small:
        response = post(small, ENGLISH_PNG)
    assert response.status_code == 413


# --- HTML for the web form ------------------------------------------------------------------


def test_a_browser_form_gets_an_html_page_with_the_text(client: TestClient) -> None:
    require_tesseract("eng")
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = post(client, ENGLISH_PNG, "<b>fox</b>.png", headers={"Accept": browser})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.startswith("<!doctype html>")
    assert f'<pre class="text" id="ocr-text">{ENGLISH}</pre>' in page
    assert page.count('<td class="line">') == 1
    assert "&lt;b&gt;fox&lt;/b&gt;.png" in page and "<b>fox</b>" not in page
    assert 'href="/"' in page and "/static/app.css" in page  # the web UI's layout


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("text/html", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("application/json, text/html", False),  # a tie: JSON
        ("text/html;q=0.5, application/json", False),
        ("application/json;q=0.5, text/html", True),
        ("text/*, application/json;q=0.9", True),
        ("text/html;q=oops, application/json", False),
    ],
)
def test_content_negotiation(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


# --- the fallback engine --------------------------------------------------------------------


def test_the_fallback_reads_english(fallback: TestClient) -> None:
    body = post(fallback, ENGLISH_PNG).json()
    assert body["engine"].startswith("rapidocr 3.")
    assert similarity(ENGLISH, body["text"]) >= 0.9
    assert iou(tuple(body["lines"][0]["box"]), ink_box(ENGLISH_IMAGE)) > 0.5


def test_the_fallback_refuses_russian_saying_why(fallback: TestClient) -> None:
    response = post(fallback, encode(render(RUSSIAN), ".png"), lang="rus")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "no Cyrillic" in detail and "tesseract-ocr-rus" in detail and "eng" in detail


# --- uploads kept in the tmp folder ---------------------------------------------------------


def test_the_upload_is_kept_and_retention_keeps_at_most_max_files(fallback: TestClient) -> None:
    for path in uploads(fallback):
        path.unlink()
    sent = [encode(render(f"Upload number {i}", 24), ".png") for i in range(MAX_FILES + 2)]
    for i, data in enumerate(sent):
        assert post(fallback, data, f"upload{i}.PNG").status_code == 200
        kept = uploads(fallback)
        assert kept[-1].read_bytes() == data  # names sort by time: the newest is last
        assert kept[-1].suffix == ".png"
        assert len(kept) == min(i + 1, MAX_FILES)
    assert [path.read_bytes() for path in uploads(fallback)] == sent[-MAX_FILES:]


# --- retention, directly (storage/tmp.py) ---------------------------------------------------


def aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_save_upload_writes_a_unique_file_keeping_the_extension(tmp_path: Path) -> None:
    first = tmp.save_upload(tmp_path, b"one", "scan.JPEG", "JPEG")
    second = tmp.save_upload(tmp_path, b"two", "scan.JPEG", "JPEG")
    assert first != second and first.suffix == second.suffix == ".jpeg"
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("filename", "fmt", "suffix"),
    [
        ("photo.jpg", "JPEG", ".jpg"),
        ("page.TIF", "TIFF", ".tif"),
        (None, "PNG", ".png"),
        ("no extension", "WEBP", ".webp"),
        ("../../etc/passwd", "PNG", ".png"),
        ("evil.p/ng", "GIF", ".gif"),
        ("x.a b", "BMP", ".bmp"),
        ("long.abcdefghijk", "JPEG", ".jpg"),
    ],
)
def test_suffix_is_the_clients_only_when_safe(filename: str | None, fmt: str, suffix: str) -> None:
    assert tmp.suffix_for(filename, fmt) == suffix


def test_prune_removes_the_old_then_the_oldest_beyond_the_count(tmp_path: Path) -> None:
    old = aged(tmp.save_upload(tmp_path, b"old", None, "PNG"), 3600)
    recent = [aged(tmp.save_upload(tmp_path, b"r", None, "PNG"), 50 - i) for i in range(4)]
    stale_partial, fresh_partial = tmp_path / ".x.png.1.tmp", tmp_path / ".y.png.2.tmp"
    for partial in (stale_partial, fresh_partial):  # files being written, or left by a crash
        partial.write_bytes(b"")
    aged(stale_partial, 3600)
    (tmp_path / "folder").mkdir()
    removed = tmp.prune(tmp_path, max_files=2, max_age_seconds=600)
    assert set(removed) == {old, stale_partial, recent[0], recent[1]}
    left = {path.name for path in tmp_path.iterdir()}
    assert left == {recent[2].name, recent[3].name, fresh_partial.name, "folder"}


def test_keep_upload_with_no_room_keeps_nothing_and_a_missing_folder_is_fine(
    tmp_path: Path,
) -> None:
    assert tmp.prune(tmp_path / "missing", 1, 1) == []
    path = tmp.keep_upload(tmp_path / "new", b"data", "a.png", "PNG", 0, 3600)
    assert not path.exists()
    assert list((tmp_path / "new").iterdir()) == []


def test_the_decoded_upload_matches_the_kept_bytes(fallback: TestClient) -> None:
    response = post(fallback, ENGLISH_PNG, "again.png")
    assert response.status_code == 200
    kept = cv2.imdecode(np.frombuffer(uploads(fallback)[-1].read_bytes(), np.uint8), 0)
    assert np.array_equal(kept, ENGLISH_IMAGE)


def test_an_image_wider_than_tesseract_reads_is_413_saying_so(client: TestClient) -> None:
    wide = encode(np.full((2, 40_000), 255, np.uint8), ".png")
    response = post(client, wide, "banner.png")
    assert response.status_code == 413, response.text
    assert "40000×2" in response.json()["detail"] and "32767" in response.json()["detail"]
