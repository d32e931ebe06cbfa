"""/info's facts on the real-world corpus, faces on the astronaut, the dominant colour, and the
blurhash against the reference algorithm and against the picture it stands for."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import blurhash_py
import cv2
import numpy as np
import pytest
from skimage import data

from pixelmill.errors import UnsupportedImage
from pixelmill.imaging import codec
from pixelmill.imaging.info import blurhash, describe, dominant_color
from tests.images import astronaut, encode, iou, photo

CORPUS = Path(__file__).parents[1] / "corpus"
ANIMATIONS = json.loads((CORPUS / "animations.json").read_text())
ASTRONAUT_FACE = (182, 78, 86, 100)  # x, y, width, height, read by eye (tests/imaging/test_faces)


def described(data: bytes) -> dict[str, Any]:
    info = codec.sniff(data, max_pixels=50_000_000, max_animation_pixels=100_000_000)
    return dict(describe(data, info))


def corpus(name: str) -> dict[str, Any]:
    return described((CORPUS / name).read_bytes())


# --- what the header says ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["anim-gif-bands.gif", "anim-gif-transparent.gif"])
def test_an_animated_gif_gives_its_frames(name: str) -> None:
    want = ANIMATIONS[name]
    got = corpus(name)
    assert (got["width"], got["height"]) == (want["width"], want["height"])
    assert (got["format"], got["animated"], got["frames"]) == ("gif", True, want["frames"])
    assert got["has_alpha"] is want["alpha"]


def test_an_rgba_png_has_alpha_and_its_hidden_colour_never_shows() -> None:
    got = corpus("png-rgba8.png")  # 58% transparent pixels hiding pure red
    assert (got["format"], got["has_alpha"], got["icc"]) == ("png", True, None)
    assert (got["animated"], got["frames"]) == (False, 1)
    assert got["dominant_color"] == "#ffffff"  # the transparent part, laid over white


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("jpeg-displayp3.jpg", "Display P3 (pixelmill test corpus)"),
        ("jpeg-adobergb.jpg", "Compatible with Adobe RGB (1998)"),
        ("png-rgb8-displayp3.png", "Display P3 (pixelmill test corpus)"),
        ("jpeg-srgb.jpg", "sRGB built-in"),
        ("jpeg-untagged.jpg", None),
    ],
)
def test_the_icc_profile_is_named(name: str, profile: str | None) -> None:
    got = corpus(name)
    if profile == "sRGB built-in":  # whatever the sRGB profile calls itself, it is named
        assert got["icc"] and "srgb" in got["icc"].lower()
    else:
        assert got["icc"] == profile


@pytest.mark.parametrize(
    ("name", "fmt", "size"),
    [
        ("heic-iphone-orientation6-gps.heic", "heif", (240, 320)),
        ("avif-orientation6-gps.avif", "avif", (240, 320)),
        ("jpeg-displayp3-orientation6.jpg", "jpeg", (64, 96)),
    ],
)
def test_a_turned_photo_gives_its_orientation_and_its_upright_size(
    name: str, fmt: str, size: tuple[int, int]
) -> None:
    got = corpus(name)
    assert (got["format"], got["orientation"]) == (fmt, 6)
    assert (got["width"], got["height"]) == size


def test_a_damaged_image_is_refused_not_described() -> None:
    data = (CORPUS / "jpeg-srgb.jpg").read_bytes()
    info = codec.sniff(data, max_pixels=1_000_000)
    with pytest.raises(UnsupportedImage):
        describe(data[: len(data) // 3], info)


# --- faces -------------------------------------------------------------------------------


def test_the_astronaut_has_one_face_near_its_box() -> None:
    got = described(encode(astronaut(), ".png"))
    assert len(got["faces"]) == 1
    face = got["faces"][0]
    assert iou((face["x"], face["y"], face["width"], face["height"]), ASTRONAUT_FACE) > 0.5


def test_faces_of_a_large_jpeg_are_in_its_own_pixels() -> None:
    # 4x the astronaut: decoded at 1/2 (shrink on load), searched reduced, scaled back
    big = cv2.resize(astronaut(), (2048, 2048), interpolation=cv2.INTER_CUBIC)
    got = described(encode(big, ".jpg"))
    assert (got["width"], got["height"]) == (2048, 2048)
    assert len(got["faces"]) == 1
    face = got["faces"][0]
    x, y, w, h = ASTRONAUT_FACE
    box = (face["x"], face["y"], face["width"], face["height"])
    assert iou(box, (4 * x, 4 * y, 4 * w, 4 * h)) > 0.5


def test_no_face_in_a_picture_without_one() -> None:
    assert corpus("anim-gif-bands.gif")["faces"] == []
    assert described(encode(photo(320, 240, seed=2), ".png"))["faces"] == []


# --- dominant colour ---------------------------------------------------------------------


def test_the_dominant_colour_of_a_mostly_red_image_is_red() -> None:
    rng = np.random.default_rng(1)
    image = np.empty((300, 400, 3), np.uint8)
    image[:] = (30, 20, 210)  # BGR: red
    image[:, 280:] = (200, 120, 20)  # a blue band: 30% of the image
    image[:60, :140] = (40, 180, 40)  # a green corner: 7%
    noisy = np.clip(image + rng.integers(-10, 11, image.shape), 0, 255).astype(np.uint8)
    red, green, blue = _rgb(dominant_color(noisy))
    assert abs(red - 210) <= 4 and abs(green - 20) <= 4 and abs(blue - 30) <= 4
    assert described(encode(noisy, ".png"))["dominant_color"] == dominant_color(noisy)


def test_the_dominant_colour_of_an_image_with_alpha_is_seen_over_white() -> None:
    bgra = np.zeros((100, 100, 4), np.uint8)
    bgra[:, :] = (0, 0, 255, 0)  # transparent red everywhere ...
    bgra[:30, :] = (255, 0, 0, 255)  # ... but a blue band of 30%
    assert described(encode(bgra, ".png"))["dominant_color"] == "#ffffff"


# --- blurhash ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_the_blurhash_is_the_reference_algorithms(seed: int) -> None:
    image = photo(200 + 37 * seed, 150 + 11 * seed, seed=seed)
    thumbnail = _thumbnail(image)
    assert blurhash(image) == _reference_blurhash(cv2.cvtColor(thumbnail, cv2.COLOR_BGR2RGB))


def test_the_blurhash_decodes_to_something_close_to_the_picture() -> None:
    pictures = {
        "astronaut": astronaut(),
        "coffee": np.ascontiguousarray(data.coffee()[:, :, ::-1]),
        "chelsea": np.ascontiguousarray(data.chelsea()[:, :, ::-1]),
    }
    thumbnails = {name: _rgb_thumbnail(image) for name, image in pictures.items()}
    for name, image in pictures.items():
        code = described(encode(image, ".png"))["blurhash"]
        assert len(code) == 28 and code[0] == "L"  # 4×3 components: size flag, then 2 + 4 + 11×2
        thumbnail = thumbnails[name]
        height, width = thumbnail.shape[:2]
        decoded = np.asarray(blurhash_py.decode(code, width, height)).astype(np.float32)
        # its mean colour, in linear light as blurhash averages, is the thumbnail's
        assert np.abs(_linear(decoded).mean((0, 1)) - _linear(thumbnail).mean((0, 1))).max() < 4
        # and its shapes are the blurred thumbnail's, not another picture's
        likeness = {
            other: _correlation(decoded, cv2.resize(blurred, (width, height)))
            for other, blurred in (
                (o, cv2.GaussianBlur(t, (0, 0), 4)) for o, t in thumbnails.items()
            )
        }
        assert likeness[name] > 0.85, (name, likeness)
        assert all(likeness[name] > value + 0.2 for o, value in likeness.items() if o != name)


def _thumbnail(image: np.ndarray) -> np.ndarray:
    """The copy the blurhash is taken from: at most 32 px long, area-averaged."""
    height, width = image.shape[:2]
    scale = 32 / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _rgb_thumbnail(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(_thumbnail(image), cv2.COLOR_BGR2RGB).astype(np.float32)


def _linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB levels as linear light, times 255."""
    v = srgb / 255
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4) * 255


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"


def _reference_blurhash(rgb: np.ndarray, cx: int = 4, cy: int = 3) -> str:
    """Wolt's reference encoder (woltapp/blurhash, TypeScript), step by step, in float64."""

    def base83(value: int, length: int) -> str:
        return "".join(_BASE83[(value // 83 ** (length - i)) % 83] for i in range(1, length + 1))

    def to_srgb(value: float) -> int:
        v = max(0.0, min(1.0, value))
        if v <= 0.0031308:
            return int(v * 12.92 * 255 + 0.5)
        return int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)

    height, width = rgb.shape[:2]
    v = rgb.astype(np.float64) / 255
    linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    factors = []
    for j in range(cy):
        for i in range(cx):
            norm = 1 if i == j == 0 else 2
            basis = np.outer(
                np.cos(math.pi * j * np.arange(height) / height),
                np.cos(math.pi * i * np.arange(width) / width),
            )
            factors.append(
                [norm * (basis * linear[..., c]).sum() / (width * height) for c in range(3)]
            )
    dc, ac = factors[0], factors[1:]
    largest = max(abs(value) for factor in ac for value in factor)
    quantised = int(max(0, min(82, math.floor(largest * 166 - 0.5))))
    maximum = (quantised + 1) / 166
    code = base83((cx - 1) + (cy - 1) * 9, 1) + base83(quantised, 1)
    code += base83((to_srgb(dc[0]) << 16) + (to_srgb(dc[1]) << 8) + to_srgb(dc[2]), 4)
    for factor in ac:
        q = [
            int(max(0, min(18, math.floor(math.copysign(abs(f / maximum) ** 0.5, f) * 9 + 9.5))))
            for f in factor
        ]
        code += base83(q[0] * 19 * 19 + q[1] * 19 + q[2], 2)
    return code
