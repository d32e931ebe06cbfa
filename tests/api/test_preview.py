"""POST /api/preview: any image the engine reads, as a PNG or WebP a browser shows, at most
1,600 px long, whose pixels are the source's (downscaled as the engine decodes it)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pixelmill.api import create_app
from pixelmill.config import Settings
from pixelmill.imaging import codec
from tests.images import photo
from tests.ocr_pages import render

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("preview")
    settings = Settings(
        data_dir=tmp / "data", results_dir=tmp / "results", process_workers=1, thread_workers=2
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def preview(client: TestClient, data: bytes, name: str) -> tuple[np.ndarray, str, dict[str, str]]:
    """The preview as a browser decodes it (Pillow here): RGB(A) array, media type, headers."""
    response = client.post("/api/preview", files={"file": (name, data)})
    assert response.status_code == 200, response.text
    media = response.headers["content-type"]
    image = Image.open(io.BytesIO(response.content))
    assert image.format == {"image/png": "PNG", "image/webp": "WEBP"}[media]
    return (
        np.asarray(image.convert("RGBA" if "A" in image.mode else "RGB")),
        media,
        response.headers,
    )


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A BGR(A) or gray array of the engine's as RGB(A)."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return image[..., [2, 1, 0, 3][: image.shape[2]]]


@pytest.mark.parametrize(
    "name",
    [
        "tiff-rgb16.tif",
        "tiff-gray16.tif",
        "tiff-cmyk.tif",
        "jpeg-cmyk-adobe.jpg",
        "jpeg-ycck-adobe.jpg",
        "heic-iphone-orientation6-gps.heic",
        "heic-alpha.heic",
        "avif-10bit.avif",
        "bmp-palette8.bmp",
    ],
)
def test_a_file_browsers_cannot_show_gets_a_preview_of_its_pixels(
    client: TestClient, name: str
) -> None:
    data = (CORPUS / name).read_bytes()
    info = codec.sniff(data, max_pixels=50_000_000)
    shown, _, headers = preview(client, data, name)
    # small files keep their size: upright, in sRGB, alpha kept, as the engine decodes them
    expected = as_rgb(codec.decode(data, info, "keep"))
    assert shown.shape == expected.shape
    assert (headers["x-image-width"], headers["x-image-height"]) == (
        str(info.width),
        str(info.height),
    )
    difference = np.abs(shown.astype(int) - expected.astype(int))
    assert difference.mean() < 2 and np.percentile(difference, 99) <= 12, name


def tiff16(image: np.ndarray) -> bytes:
    """A 16-bit TIFF (deflate) of an 8-bit BGR or gray array: each level times 257."""
    ok, buf = cv2.imencode(".tif", image.astype(np.uint16) * 257, [cv2.IMWRITE_TIFF_COMPRESSION, 8])
    assert ok
    return buf.tobytes()


def test_a_large_16_bit_photo_is_a_webp_1600_px_long(client: TestClient) -> None:
    source = photo(2400, 1800, seed=3)  # BGR
    shown, media, headers = preview(client, tiff16(source), "photo.tif")
    assert media == "image/webp"
    assert shown.shape == (1200, 1600, 3)
    assert (headers["x-preview-width"], headers["x-preview-height"]) == ("1600", "1200")
    expected = as_rgb(cv2.resize(source, (1600, 1200), interpolation=cv2.INTER_AREA))
    assert_looks_alike(shown, expected)


def assert_looks_alike(shown: np.ndarray, expected: np.ndarray) -> None:
    """A lossy photo's pixels: close (PSNR), and the same picture once the grain the codec
    smooths is blurred away in both."""
    assert cv2.PSNR(shown, expected) > 30
    blurred = [cv2.GaussianBlur(image, (5, 5), 0).astype(int) for image in (shown, expected)]
    assert np.abs(blurred[0] - blurred[1]).mean() < 2


def test_a_large_scan_is_a_lossless_png(client: TestClient) -> None:
    page = render(["The quick brown fox", "jumps over the lazy dog."] * 12, size=60, pad=200)
    page = cv2.resize(page, (page.shape[1] * 2, page.shape[0] * 2), interpolation=cv2.INTER_NEAREST)
    assert max(page.shape) > 1600
    shown, media, _ = preview(client, tiff16(page), "scan.tif")
    assert media == "image/png"
    scale = 1600 / max(page.shape)
    size = (round(page.shape[1] * scale), round(page.shape[0] * scale))
    assert shown.shape[:2] == (size[1], size[0])
    expected = cv2.resize(page, size, interpolation=cv2.INTER_AREA)
    # a gray page, exactly the engine's shrinking of it: the text's edges are not blurred
    assert (shown[..., 0] == shown[..., 1]).all() and (shown[..., 1] == shown[..., 2]).all()
    assert np.abs(shown[..., 0].astype(int) - expected.astype(int)).max() <= 1


def test_a_large_jpeg_shrinks_on_load_to_at_most_1600(client: TestClient) -> None:
    source = photo(4000, 1000, seed=4)
    ok, buf = cv2.imencode(".jpg", source, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    shown, media, _ = preview(client, buf.tobytes(), "wide.jpg")
    assert media == "image/webp" and shown.shape == (400, 1600, 3)
    expected = as_rgb(cv2.resize(source, (1600, 400), interpolation=cv2.INTER_AREA))
    assert_looks_alike(shown, np.ascontiguousarray(expected))


@pytest.mark.parametrize(
    ("files", "status", "words"),
    [
        ({"file": ("notes.txt", b"plain text, not an image")}, 415, "not"),
        ({"file": ("empty.png", b"")}, 422, "empty"),
        ({"other": ("a.png", b"x")}, 422, "file"),
    ],
    ids=["not-an-image", "empty", "no-file"],
)
def test_bad_uploads_are_refused_in_words(
    client: TestClient, files: dict[str, tuple[str, bytes]], status: int, words: str
) -> None:
    response = client.post("/api/preview", files=files)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
