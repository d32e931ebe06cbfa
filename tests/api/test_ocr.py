"""`POST /ocr`: the text as JSON or as a page, the checks, and the uploads kept in tmp.

Every test that posts to /ocr runs once per OCR engine, the app built with `ocr_engine` set
to it (the `ocr_engine` fixture: ids [tesseract] and [rapidocr]; Tesseract's turn skips without
it, and fails on CI). Where the engines differ, each test says what each gives.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.api.routes.ocr import prefers_html
from pixelmill.config import Settings
from pixelmill.imaging.ocr import MAX_SIDE, Engine
from pixelmill.storage import tmp
from tests.images import encode, iou
from tests.ocr_pages import (
    ENGLISH,
    PHOTOTEST,
    RUSSIAN,
    exif_jpeg,
    ink_box,
    lying,
    render,
    require_tesseract,
    similarity,
    turned,
    word_errors,
)

MAX_FILES = 3
ENGLISH_IMAGE = render(ENGLISH)
ENGLISH_PNG = encode(ENGLISH_IMAGE, ".png")
# How closely each engine must read the clean English page, and a turned or rotated one
CLEAN = {"tesseract": 0.95, "rapidocr": 0.9}
TURNED = {"tesseract": 0.9, "rapidocr": 0.85}


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
def client(ocr_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app with its `ocr_engine` setting forced to the engine of this turn."""
    folder = tmp_path_factory.mktemp(f"ocr-{ocr_engine}")
    with make_client(folder, ocr_engine=ocr_engine) as test_client:
        yield test_client


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
    if not folder.exists():  # nothing kept yet
        return []
    return sorted(path for path in folder.iterdir() if not path.name.startswith("."))


def installed_languages(detail: str) -> set[str]:
    listing = detail.lower().split("installed languages:")[1]
    return {name.strip() for name in listing.split(",")}


# --- JSON -----------------------------------------------------------------------------------


def test_english_png_gives_every_field(client: TestClient, ocr_engine: Engine) -> None:
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
        "rotation",
        "deskew_degrees",
        "elapsed_ms",
    ]
    assert body["filename"] == "english.png"
    assert (body["width"], body["height"]) == (ENGLISH_IMAGE.shape[1], ENGLISH_IMAGE.shape[0])
    assert body["format"] == "png"
    name, version = body["engine"].split(" ")
    assert name == ocr_engine and version[0].isdigit()
    assert similarity(ENGLISH, body["text"]) >= CLEAN[ocr_engine], body["text"]
    assert body["rotation"] == 0
    assert body["deskew_degrees"] == 0.0
    assert body["elapsed_ms"] > 0
    [line] = body["lines"]
    assert set(line) == {"text", "confidence", "box"}
    assert 0.5 < line["confidence"] <= 1
    assert iou(tuple(line["box"]), ink_box(ENGLISH_IMAGE)) > 0.5


def test_russian_is_read_by_tesseract_and_refused_by_rapidocr(
    client: TestClient, ocr_engine: Engine
) -> None:
    kept = uploads(client)
    response = post(client, encode(render(RUSSIAN), ".png"), "russian.png", lang="rus")
    if ocr_engine == "tesseract":
        require_tesseract("rus")
        assert response.status_code == 200, response.text
        assert similarity(RUSSIAN, response.json()["text"]) >= 0.9
        return
    # RapidOCR's recognizer has no Cyrillic: a 422 saying so, what reads it, what is there
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "'rus'" in detail and "no Cyrillic" in detail
    assert "apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus" in detail
    assert {"eng", "fra", "deu"} <= installed_languages(detail)
    assert "rus" not in installed_languages(detail)
    assert uploads(client) == kept  # refused before the upload is kept


def test_a_turned_jpeg_is_straightened(client: TestClient, ocr_engine: Engine) -> None:
    image = turned(ENGLISH_IMAGE, 3.0)
    response = post(client, encode(image, ".jpg"), "turned.jpg", lang="eng")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "jpeg"
    assert abs(body["deskew_degrees"] - 3.0) <= 0.5
    assert similarity(ENGLISH, body["text"]) >= TURNED[ocr_engine], body["text"]
    assert iou(tuple(body["lines"][0]["box"]), ink_box(image)) > 0.5


def test_boxes_are_in_the_upright_image_of_an_exif_rotated_jpeg(
    client: TestClient, ocr_engine: Engine
) -> None:
    body = post(client, exif_jpeg(ENGLISH_IMAGE), "sideways.jpg").json()
    assert (body["width"], body["height"]) == (ENGLISH_IMAGE.shape[1], ENGLISH_IMAGE.shape[0])
    assert similarity(ENGLISH, body["text"]) >= TURNED[ocr_engine], body["text"]
    # the EXIF turn is the decoder's: the page it shows is upright, so OCR turns it no more
    assert body["rotation"] == 0
    assert iou(tuple(body["lines"][0]["box"]), ink_box(ENGLISH_IMAGE)) > 0.5


def on_ink(image: np.ndarray, box: list[int]) -> float:
    """The share of dark pixels of `image` inside `box`."""
    x, y, w, h = box
    assert x >= 0 and y >= 0 and x + w <= image.shape[1] and y + h <= image.shape[0], box
    return float((image[y : y + h, x : x + w] < 128).mean())


PAGE = render(PHOTOTEST, 24, pad=40)
PAGE_TEXT = "\n".join(line for line in PHOTOTEST if line)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_turned_page_is_read_upright_with_boxes_on_the_upload(
    client: TestClient, ocr_engine: Engine, rotation: int
) -> None:
    upload = lying(PAGE, rotation)
    response = post(client, encode(upload, ".png"), "turned.png")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rotation"] == rotation
    assert (body["width"], body["height"]) == (upload.shape[1], upload.shape[0])
    assert word_errors(PAGE_TEXT, body["text"]) <= 1, body["text"]
    assert len(body["lines"]) == len(PHOTOTEST) - 1
    for line in body["lines"]:
        _, _, w, h = line["box"]
        assert (h > w) == (rotation != 180), line  # lines stand up in a page on its side
        assert on_ink(upload, line["box"]) > 0.05, line
    # together the boxes cover the text of the upload as it was sent
    x0 = min(line["box"][0] for line in body["lines"])
    y0 = min(line["box"][1] for line in body["lines"])
    x1 = max(line["box"][0] + line["box"][2] for line in body["lines"])
    y1 = max(line["box"][1] + line["box"][3] for line in body["lines"])
    assert iou((x0, y0, x1 - x0, y1 - y0), ink_box(upload)) > 0.9


def test_an_exif_rotated_jpeg_of_a_page_upside_down_is_turned_once(
    client: TestClient, ocr_engine: Engine
) -> None:
    # the viewer shows the page upside down: EXIF's quarter turn, then OCR's half turn
    shown = lying(PAGE, 180)
    body = post(client, exif_jpeg(shown), "upside-down.jpg").json()
    assert (body["width"], body["height"]) == (shown.shape[1], shown.shape[0])
    assert body["rotation"] == 180
    assert word_errors(PAGE_TEXT, body["text"]) <= 1, body["text"]
    for line in body["lines"]:  # boxes in the image as shown, upright by its EXIF
        assert on_ink(shown, line["box"]) > 0.05, line


# --- refusals -------------------------------------------------------------------------------


def test_unknown_lang_lists_the_installed_languages(client: TestClient, ocr_engine: Engine) -> None:
    response = post(client, ENGLISH_PNG, lang="xyz")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "'xyz'" in detail
    if ocr_engine == "tesseract":
        require_tesseract("eng", "rus")
        assert {"eng", "rus"} <= installed_languages(detail)
    else:
        assert {"eng", "fra", "deu"} <= installed_languages(detail)
        assert "rus" not in installed_languages(detail)


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


# --- odd geometry: a 413 saying why, or an empty result; never a 500 -------------------------


def blank(width: int, height: int, value: int = 255) -> bytes:
    return encode(np.full((height, width), value, np.uint8), ".png")


# A page of white: every shape reads as no text, on either engine, unless a side is past
# the 32767 pixels OCR reads: then a 413 saying so. Never a 500.
ODD = [
    pytest.param(1, 1, 200, id="1x1"),
    pytest.param(2, 2, 200, id="2x2"),
    pytest.param(40, 1, 200, id="40x1"),
    pytest.param(1, 40, 200, id="1x40"),
    # RapidOCR left to itself enlarged this one to 59,970×30 (2.8 GB, 9 s) ...
    pytest.param(1999, 1, 200, id="1999x1"),
    # ... and raised ResizeImgError (a 500) on this one, and on anything past ~125:1
    pytest.param(2001, 16, 200, id="2001x16"),
    pytest.param(20_000, 8, 200, id="20000x8"),
    pytest.param(8, 20_000, 200, id="8x20000"),
    pytest.param(MAX_SIDE, 2, 200, id="32767x2"),
    pytest.param(2, MAX_SIDE, 200, id="2x32767"),
    pytest.param(MAX_SIDE + 1, 2, 413, id="32768x2"),
    pytest.param(40_000, 2, 413, id="40000x2"),
    pytest.param(2, 40_000, 413, id="2x40000"),
    pytest.param(7000, 7000, 200, id="7000x7000"),  # 49 MP, just under the 50 MP default limit
]


@pytest.mark.parametrize(("width", "height", "status"), ODD)
def test_odd_geometry_is_an_empty_result_or_413(
    client: TestClient, width: int, height: int, status: int
) -> None:
    kept = uploads(client)
    response = post(client, blank(width, height), "odd.png")
    assert response.status_code == status, response.text
    body = response.json()
    if status == 413:
        assert uploads(client) == kept  # refused before the upload is kept
        assert f"{width}×{height} pixels" in body["detail"]
        assert f"up to {MAX_SIDE} pixels a side" in body["detail"]
        assert "cut it into pieces or scale it down" in body["detail"]
    else:
        assert (body["width"], body["height"]) == (width, height)
        assert (body["text"], body["lines"]) == ("", [])


def test_a_dark_blank_page_has_no_text(client: TestClient) -> None:
    body = post(client, blank(300, 200, 0), "black.png").json()
    assert (body["text"], body["lines"]) == ("", [])


# --- HTML for the web form ------------------------------------------------------------------


def test_a_browser_form_gets_an_html_page_with_the_text(client: TestClient) -> None:
    read = post(client, ENGLISH_PNG).json()["text"]  # what this engine reads, as JSON
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    response = post(client, ENGLISH_PNG, "<b>fox</b>.png", headers={"Accept": browser})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.startswith("<!doctype html>")
    assert similarity(ENGLISH, read) >= 0.9
    assert f'<pre class="text" id="ocr-text">{escape(read, quote=False)}</pre>' in page
    assert page.count('<td class="line">') == 1
    assert "&lt;b&gt;fox&lt;/b&gt;.png" in page and "<b>fox</b>" not in page
    assert 'href="/"' in page and "/static/app.css" in page  # the web UI's layout
    assert "clockwise to read" not in page  # an upright page: no turn to tell


def test_the_html_page_says_how_the_page_was_turned(client: TestClient) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    upside_down = encode(lying(PAGE, 180), ".png")
    response = post(client, upside_down, "upside-down.png", headers={"Accept": browser})
    assert response.status_code == 200
    assert " · turned 180° clockwise to read" in response.text
    assert "The quick brown dog jumped over the" in response.text


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


# --- uploads kept in the tmp folder ---------------------------------------------------------


def test_the_upload_is_kept_and_retention_keeps_at_most_max_files(client: TestClient) -> None:
    for path in uploads(client):
        path.unlink()
    sent = [encode(render(f"Upload number {i}", 24), ".png") for i in range(MAX_FILES + 2)]
    for i, data in enumerate(sent):
        assert post(client, data, f"upload{i}.PNG").status_code == 200
        kept = uploads(client)
        assert kept[-1].read_bytes() == data  # names sort by time: the newest is last
        assert kept[-1].suffix == ".png"
        assert len(kept) == min(i + 1, MAX_FILES)
    assert [path.read_bytes() for path in uploads(client)] == sent[-MAX_FILES:]


def test_the_decoded_upload_matches_the_kept_bytes(client: TestClient) -> None:
    response = post(client, ENGLISH_PNG, "again.png")
    assert response.status_code == 200
    kept = cv2.imdecode(np.frombuffer(uploads(client)[-1].read_bytes(), np.uint8), 0)
    assert np.array_equal(kept, ENGLISH_IMAGE)


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
        (None, "HEIF", ".heic"),
        ("no extension", "AVIF", ".avif"),
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
