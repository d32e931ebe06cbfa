"""Metadata in outputs: no EXIF (GPS included) unless `strip=false`, which keeps the input's
EXIF with its orientation reset to 1 (the pixels are already upright); no ICC profile (the
pixels are sRGB; AVIF says so in its nclx box). Every surface, every written format."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import ExifTags, Image

from pixelmill.api import create_app
from pixelmill.config import Settings
from pixelmill.imaging import codec
from tests.api.badinput import SRGB_PROFILE
from tests.api.test_output_policy import _poll
from tests.corpus.make_formats import GPS, MAKE, MODEL, phone_exif
from tests.images import photo

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
IPHONE = (CORPUS / "heic-iphone-orientation6-gps.heic").read_bytes()
SENSOR = photo(80, 60, seed=5)  # landscape, as the sensor saw it; orientation 6 turns it
WRITTEN = ["jpeg", "png", "webp", "avif"]


def jpeg_with_exif(orientation: int = 6) -> bytes:
    """A camera JPEG: EXIF with Make, Model, orientation and GPS."""
    buffer = io.BytesIO()
    image = Image.fromarray(cv2.cvtColor(SENSOR, cv2.COLOR_BGR2RGB))
    image.save(buffer, "JPEG", quality=95, exif=phone_exif(orientation))
    return buffer.getvalue()


def exif_in(data: bytes) -> Image.Exif:
    with Image.open(io.BytesIO(data)) as img:
        return img.getexif()


def no_metadata_bytes(data: bytes) -> None:
    """Not one EXIF marker, TIFF header or ICC profile anywhere in the file."""
    for marker in (b"Exif", b"eXIf", b"MM\x00*", b"II*\x00", b"ICC_PROFILE", b"iCCP", b"ICCP"):
        assert marker not in data, marker
    with Image.open(io.BytesIO(data)) as img:
        assert "exif" not in img.info and "icc_profile" not in img.info
        assert len(img.getexif()) == 0


def transform(client: TestClient, data: bytes, ops: str, **form: str) -> httpx.Response:
    response = client.post(
        "/v1/transform", files={"file": ("a.img", data)}, data={"ops": ops, **form}
    )
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("fmt", WRITTEN)
def test_opencv_and_our_png_writer_carry_no_exif_by_default(client: TestClient, fmt: str) -> None:
    source = jpeg_with_exif()
    assert exif_in(source).get_ifd(ExifTags.IFD.GPSInfo)  # the input has GPS
    for ops in ("resize=0.5", "resize=0.5,strip=true"):
        response = transform(client, source, ops, format=fmt)
        no_metadata_bytes(response.content)


@pytest.mark.parametrize("fmt", WRITTEN)
def test_strip_false_keeps_the_exif_with_orientation_1(client: TestClient, fmt: str) -> None:
    response = transform(client, jpeg_with_exif(6), "resize=0.5,strip=false", format=fmt)
    exif = exif_in(response.content)
    assert exif[ExifTags.Base.Make] == MAKE and exif[ExifTags.Base.Model] == MODEL
    assert exif.get_ifd(ExifTags.IFD.GPSInfo) == GPS
    assert exif[ExifTags.Base.Orientation] == 1
    with Image.open(io.BytesIO(response.content)) as img:
        assert img.size == (30, 40)  # turned upright: 80x60 on its side, halved
        assert "icc_profile" not in img.info


def test_strip_false_on_an_upright_or_exif_less_input() -> None:
    plain = codec.encode(SENSOR, "jpeg")
    assert codec.exif_of(plain) is None
    upright = codec.exif_of(jpeg_with_exif(1))
    assert upright is not None and upright[:4] in (b"MM\x00*", b"II*\x00")
    assert exif_in(codec.encode(SENSOR, "png", exif=upright))[ExifTags.Base.Make] == MAKE


def test_the_orientation_is_reset_in_place_and_nothing_else_moves() -> None:
    with Image.open(io.BytesIO(jpeg_with_exif(8))) as img:
        original = img.info["exif"].removeprefix(b"Exif\x00\x00")
    kept = codec.exif_of(jpeg_with_exif(8))
    assert kept is not None and len(kept) == len(original)
    differing = [i for i, (a, b) in enumerate(zip(original, kept, strict=True)) if a != b]
    assert len(differing) == 1  # the low byte of one SHORT: 8 became 1
    assert (original[differing[0]], kept[differing[0]]) == (8, 1)


def test_an_exif_too_big_for_jpeg_is_left_out_of_a_jpeg_only() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.ImageDescription] = "x" * 70_000
    big = exif.tobytes().removeprefix(b"Exif\x00\x00")
    no_metadata_bytes(codec.encode(SENSOR, "jpeg", exif=big))
    for fmt in ("png", "webp", "avif"):
        assert exif_in(codec.encode(SENSOR, fmt, exif=big))[ExifTags.Base.ImageDescription]


def test_an_iphone_heic_loses_its_gps_unless_asked(client: TestClient) -> None:
    stripped = transform(client, IPHONE, "resize=0.5", format="jpeg").content
    no_metadata_bytes(stripped)
    kept = transform(client, IPHONE, "resize=0.5,strip=false", format="jpeg").content
    exif = exif_in(kept)
    assert exif.get_ifd(ExifTags.IFD.GPSInfo) == GPS
    assert exif[ExifTags.Base.Orientation] == 1  # libheif turned the pixels; 6 would turn twice
    with Image.open(io.BytesIO(kept)) as img:
        assert img.size == (120, 160)  # portrait, upright


def test_output_is_untagged_srgb_and_avif_says_sRGB_in_its_nclx_box(client: TestClient) -> None:
    # an input carrying a profile: the decoder converts to sRGB, no output carries a profile
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 100, 50)).save(buffer, "JPEG", icc_profile=SRGB_PROFILE)
    for fmt in WRITTEN:
        data = transform(client, buffer.getvalue(), "resize=0.5", format=fmt).content
        no_metadata_bytes(data)
        if fmt == "avif":  # colour primaries 1 (BT.709), transfer 13 (sRGB), full range
            at = data.index(b"colrnclx") + 8
            primaries, transfer, _matrix = struct.unpack(">HHH", data[at : at + 6])
            assert (primaries, transfer, data[at + 6] >> 7) == (1, 13, 1)


def test_pipeline_and_run_follow_strip(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    root = settings.files_root_path
    root.mkdir(parents=True, exist_ok=True)
    (root / "in.jpg").write_bytes(jpeg_with_exif())
    with TestClient(create_app(settings)) as client:
        for ops, name in (
            (["resize=0.5"], "plain.avif"),
            (["resize=0.5", "strip=false"], "kept.webp"),
        ):
            items = [{"input": "in.jpg", "output": f"out/{name}"}]
            response = client.post("/pipeline", json={"images": items, "operations": ops})
            assert response.status_code == 200, response.text
    no_metadata_bytes((root / "out" / "plain.avif").read_bytes())
    kept = exif_in((root / "out" / "kept.webp").read_bytes())
    assert kept.get_ifd(ExifTags.IFD.GPSInfo) == GPS and kept[ExifTags.Base.Orientation] == 1


def test_a_heic_phone_photo_goes_straight_into_captions_and_faces(
    make_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_settings())) as client:
        accepted = client.post(
            "/api/images", files={"image": ("IMG_0001.HEIC", IPHONE)}, data={"description": "hi"}
        )
        assert accepted.status_code == 202, accepted.text
        served = _poll(client, f"/api/images/{accepted.json()['id']}")
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        no_metadata_bytes(served.content)
        captioned = cv2.imdecode(np.frombuffer(served.content, np.uint8), cv2.IMREAD_COLOR)
        assert captioned.shape[0] > captioned.shape[1]  # upright: portrait

        faces = client.post("/api/v1/images", files={"file": ("IMG_0001.HEIC", IPHONE)})
        assert faces.status_code == 202, faces.text
        boxed = _poll(client, faces.json()["url"])
        assert boxed.status_code == 200
        assert boxed.headers["content-type"] == "image/jpeg"  # HEIC is read, not written: JPEG
        no_metadata_bytes(boxed.content)
        with Image.open(io.BytesIO(boxed.content)) as img:
            assert img.size == (240, 320)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "AVIF", "HEIF"])
def test_exif_is_read_from_every_format_that_carries_it(fmt: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(cv2.cvtColor(SENSOR, cv2.COLOR_BGR2RGB)).save(buffer, fmt, exif=phone_exif(6))
    kept = codec.exif_of(buffer.getvalue())
    assert kept is not None
    exif = Image.Exif()
    exif.load(kept)
    assert exif[ExifTags.Base.Orientation] == 1 and exif.get_ifd(ExifTags.IFD.GPSInfo) == GPS
    assert exif[ExifTags.Base.Model] == MODEL


def test_formats_without_an_exif_block_give_none() -> None:
    for fmt in ("GIF", "BMP", "TIFF"):  # TIFF's tags describe its own layout: not carried
        buffer = io.BytesIO()
        Image.fromarray(SENSOR).save(buffer, fmt)
        assert codec.exif_of(buffer.getvalue()) is None, fmt
    assert codec.exif_of(b"not an image") is None
