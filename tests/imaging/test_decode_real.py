"""Decoding real-world files (tests/corpus/, made by make_corpus.py) as Pillow and LittleCMS
show them: alpha, ICC profiles, CMYK and YCCK, 16 bits, palettes.

Tolerances, measured on this corpus: every file decodes to exactly what Pillow + LittleCMS
show (max difference 0 levels), except the plain JPEGs OpenCV decodes itself (the fast
path: another libjpeg build, sRGB profiles not applied), within 2 levels and 0.1 on average;
the alpha channel is always exactly Pillow's, except where Pillow drops a 16-bit tRNS colour
and the answer is the file's own (checked against its 16-bit samples).
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from pixelmill.imaging import codec

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SRGB = ImageCms.createProfile("sRGB")
P3 = "Display P3 (pixelmill test corpus)"
ADOBE = "Compatible with Adobe RGB (1998)"

# file: (what "keep" gives: gray, bgr or bgra; the profile's description; OpenCV's fast path)
DECODER_CORPUS: dict[str, tuple[str, str | None, bool]] = {
    "png-gray1.png": ("gray", None, False),
    "png-gray1-trns.png": ("bgra", None, False),
    "png-gray2.png": ("gray", None, True),
    "png-gray2-trns.png": ("bgra", None, False),
    "png-gray4.png": ("gray", None, True),
    "png-gray4-trns.png": ("bgra", None, False),
    "png-gray8.png": ("gray", None, True),
    "png-gray8-trns.png": ("bgra", None, False),
    "png-gray16.png": ("gray", None, False),
    "png-gray16-trns.png": ("bgra", None, False),
    "png-rgb8.png": ("bgr", None, True),
    "png-rgb8-trns.png": ("bgra", None, False),
    "png-rgb16.png": ("bgr", None, True),
    "png-rgb16-trns.png": ("bgra", None, False),
    "png-palette1.png": ("bgr", None, False),
    "png-palette1-trns.png": ("bgra", None, False),
    "png-palette2.png": ("bgr", None, False),
    "png-palette2-trns.png": ("bgra", None, False),
    "png-palette4.png": ("bgr", None, False),
    "png-palette4-trns.png": ("bgra", None, False),
    "png-palette8.png": ("bgr", None, False),
    "png-palette8-trns.png": ("bgra", None, False),
    "png-gray-alpha8.png": ("bgra", None, True),
    "png-gray-alpha16.png": ("bgra", None, True),
    "png-rgba8.png": ("bgra", None, True),
    "png-rgba16.png": ("bgra", None, True),
    "png-rgb8-displayp3.png": ("bgr", P3, False),
    "png-rgba8-adobergb.png": ("bgra", ADOBE, False),
    "png-gray8-grayprofile.png": ("gray", "Gray", False),
    "tiff-rgba-unassociated.tif": ("bgra", None, False),
    "tiff-rgba-associated.tif": ("bgra", None, False),
    "tiff-rgb16.tif": ("bgr", None, True),
    "tiff-gray16.tif": ("gray", None, False),
    "tiff-rgb8-adobergb.tif": ("bgr", ADOBE, False),
    "tiff-cmyk.tif": ("bgr", None, False),
    "jpeg-untagged.jpg": ("bgr", None, True),
    "jpeg-srgb.jpg": ("bgr", "sRGB", True),
    "jpeg-displayp3.jpg": ("bgr", P3, False),
    "jpeg-adobergb.jpg": ("bgr", ADOBE, False),
    "jpeg-prophoto.jpg": ("bgr", "ProPhoto RGB", False),
    "jpeg-displayp3-orientation6.jpg": ("bgr", P3, False),
    "jpeg-gray-grayprofile.jpg": ("gray", "Gray", False),
    "jpeg-cmyk-adobe.jpg": ("bgr", None, False),
    "jpeg-cmyk-profile.jpg": ("bgr", "Warm paper CMYK (pixelmill test corpus)", False),
    "jpeg-ycck-adobe.jpg": ("bgr", None, False),
    "webp-rgba-lossless.webp": ("bgra", None, True),
    "webp-rgba-lossy.webp": ("bgra", None, True),
    "webp-rgb-displayp3.webp": ("bgr", P3, False),
    "avif-rgba-displayp3.avif": ("bgra", P3, False),
    "heic-rgba-displayp3.heic": ("bgra", P3, False),
    "gif-transparent.gif": ("bgra", None, False),
    "bmp-palette8.bmp": ("bgr", None, False),
    "logo-hidden-red.png": ("bgra", None, True),
}
# Pillow's convert drops a 16-bit tRNS colour; the alpha is checked against the samples
PILLOW_DROPS_TRNS = {"png-gray16-trns.png", "png-rgb16-trns.png"}
FILES = sorted(DECODER_CORPUS)


def read(name: str) -> tuple[bytes, codec.ImageInfo]:
    data = (CORPUS / name).read_bytes()
    return data, codec.sniff(data, max_pixels=10**6, name=name)


def shown_by_pillow(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """RGB (int) and alpha as Pillow and LittleCMS show the file: upright, the embedded
    profile applied, 16-bit gray scaled to 8 bits."""
    with Image.open(io.BytesIO(data)) as opened:
        img = ImageOps.exif_transpose(opened)
        icc = img.info.get("icc_profile")
        if img.mode.startswith("I;16"):  # Pillow's convert("L") clips, it does not scale
            base = Image.fromarray(np.rint(np.asarray(img) / 257).astype(np.uint8))
            alpha = np.full(img.size[::-1], 255, np.uint8)
        else:
            rgba = img.convert("RGBA")
            alpha = np.asarray(rgba.getchannel("A"))
            gray = img.mode in ("1", "L", "LA")
            colour = rgba if img.mode == "P" else img  # a palette's tRNS needs RGBA first
            base = colour.convert("CMYK" if img.mode == "CMYK" else "L" if gray else "RGB")
        if icc:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(base, profile, SRGB, outputMode="RGB")
            assert converted is not None
            base = converted
        return np.asarray(base.convert("RGB")).astype(int), alpha.astype(int)


def as_rgba(image: np.ndarray) -> np.ndarray:
    """A decoded array (gray, BGR or BGRA) as RGBA ints."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    code = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGBA
    return cv2.cvtColor(image, code).astype(int)


def over_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha[..., None] / 255
    return np.rint(rgb * a + 255 * (1 - a)).astype(int)


def tolerance(info: codec.ImageInfo) -> tuple[int, float]:
    """(max, mean) levels: exact for Pillow's path; OpenCV's libjpeg and its skipping of
    sRGB profiles differ from Pillow's by rounding."""
    return (2, 0.1) if info.plain and info.format == "JPEG" else (0, 0.0)


def assert_close(got: np.ndarray, expected: np.ndarray, limits: tuple[int, float]) -> None:
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert diff.max() <= limits[0] and diff.mean() <= limits[1], (diff.max(), diff.mean())


def test_the_corpus_is_complete() -> None:
    """Every image the decode section of make_corpus.py writes is checked here."""
    on_disk = {p.name for p in CORPUS.glob("*") if p.suffix not in (".py", ".md", ".icc")}
    missing = set(DECODER_CORPUS) - on_disk
    assert not missing


@pytest.mark.parametrize("name", FILES)
def test_header_says_alpha_profile_and_path(name: str) -> None:
    kind, icc, plain = DECODER_CORPUS[name]
    _, info = read(name)
    assert (info.alpha, info.icc, info.plain) == (kind == "bgra", icc, plain)


@pytest.mark.parametrize("name", FILES)
def test_keep_is_what_pillow_shows_with_its_alpha(name: str) -> None:
    data, info = read(name)
    image = codec.decode(data, info, "keep", name)
    kind = DECODER_CORPUS[name][0]
    assert image.dtype == np.uint8
    assert image.shape[2:] == {"gray": (), "bgr": (3,), "bgra": (4,)}[kind]
    rgb, alpha = shown_by_pillow(data)
    got = as_rgba(image)
    assert_close(got[..., :3], rgb, tolerance(info))
    if name not in PILLOW_DROPS_TRNS:
        assert np.array_equal(got[..., 3], alpha)


@pytest.mark.parametrize("name", FILES)
def test_color_lays_alpha_over_white_and_gray_is_its_luma(name: str) -> None:
    data, info = read(name)
    keep = as_rgba(codec.decode(data, info, "keep", name))
    color = codec.decode(data, info, "color", name)
    gray = codec.decode(data, info, "gray", name)
    assert color.shape == (*keep.shape[:2], 3) and gray.shape == keep.shape[:2]
    flat = over_white(keep[..., :3], keep[..., 3])
    assert_close(color[..., ::-1], flat, (1, 0.0))  # rounding of the blend only
    luma = cv2.cvtColor(flat.astype(np.uint8), cv2.COLOR_RGB2GRAY)
    # a plain JPEG's gray is the luma stored in the file (gray on load): close, not equal
    assert_close(gray, luma, (3, 0.2) if info.plain and info.format == "JPEG" else (1, 0.0))


# --- transparency --------------------------------------------------------------------------


def test_16bit_trns_colours_are_transparent_exactly() -> None:
    """Pillow drops these; the decoder reads the transparent colour from the 16-bit
    samples, and a decoy sharing its high bytes stays opaque."""
    data, info = read("png-rgb16-trns.png")
    alpha = codec.decode(data, info, "keep")[..., 3]
    samples = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    keyed = np.all(samples[..., ::-1] == (300, 600, 900), axis=-1)
    assert keyed.any() and np.array_equal(alpha == 0, keyed)
    assert np.all(alpha[-1, :4] == 255)  # the decoy (256, 512, 768)
    data, info = read("png-gray16-trns.png")
    with Image.open(io.BytesIO(data)) as img:
        raw = np.asarray(img)
        key = img.info["transparency"]
    alpha = codec.decode(data, info, "keep")[..., 3]
    assert (raw == key).any() and np.array_equal(alpha == 0, raw == key)


def test_unassociated_tiff_alpha_is_not_premultiplied() -> None:
    """OpenCV's TIFF reader multiplies the colour by alpha; the decoder must not."""
    straight_data, straight_info = read("png-rgba8.png")
    straight = codec.decode(straight_data, straight_info, "keep")
    tiff_data, tiff_info = read("tiff-rgba-unassociated.tif")
    tiff = codec.decode(tiff_data, tiff_info, "keep")
    assert np.array_equal(tiff, straight)
    half = straight[..., 3] == 128
    opencv = cv2.imdecode(np.frombuffer(tiff_data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert half.any() and np.abs(opencv[half].astype(int) - straight[half]).max() > 50
    # associated (premultiplied) alpha is turned back into straight alpha
    data, info = read("tiff-rgba-associated.tif")
    unpremultiplied = codec.decode(data, info, "keep")
    assert np.array_equal(unpremultiplied[..., 3], straight[..., 3])
    solid = straight[..., 3] >= 128
    assert np.abs(unpremultiplied[solid].astype(int) - straight[solid]).max() <= 1


def test_hidden_red_stays_under_transparent_pixels() -> None:
    data, info = read("logo-hidden-red.png")
    keep = codec.decode(data, info, "keep")
    hidden = keep[..., 3] == 0
    assert hidden.any() and np.all(keep[hidden][:, :3] == (0, 0, 255))  # red, but invisible
    color = codec.decode(data, info, "color")
    assert np.all(color[hidden] == 255)
    seen = color.astype(int)
    assert not np.any((seen[..., 2] > 200) & (seen[..., 1] < 100))  # no red anywhere


# --- 16 bits, palettes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sixteen", "eight"),
    [
        ("png-gray16.png", "png-gray8.png"),
        ("png-rgb16.png", "png-rgb8.png"),
        ("tiff-rgb16.tif", "png-rgb8.png"),
        ("png-rgba16.png", "png-rgba8.png"),
        ("png-gray-alpha16.png", "png-gray-alpha8.png"),
    ],
)
def test_16_bits_scale_to_the_same_8_bits(sixteen: str, eight: str) -> None:
    """The 16-bit files hold the 8-bit ones' values × 257: scaled back exactly."""
    data16, info16 = read(sixteen)
    data8, info8 = read(eight)
    assert np.array_equal(codec.decode(data16, info16, "keep"), codec.decode(data8, info8, "keep"))


def test_16bit_gray_tiff_is_scaled_not_clipped() -> None:
    data, info = read("tiff-gray16.tif")
    gray = codec.decode(data, info, "keep")
    assert gray[0, 0] == 0 and gray[0, -1] == 255
    assert np.all(np.diff(gray[0].astype(int)) >= 0) and len(np.unique(gray[0])) > 40


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
def test_palette_pngs_show_their_palette_colours(depth: int) -> None:
    data, info = read(f"png-palette{depth}.png")
    with Image.open(io.BytesIO(data)) as img:
        indices = np.asarray(img)
        palette = np.array(img.getpalette(), np.uint8).reshape(-1, 3)
    assert np.array_equal(codec.decode(data, info, "keep")[..., ::-1], palette[indices])


# --- colour profiles -------------------------------------------------------------------------


def srgb_of_display_p3(rgb: np.ndarray) -> np.ndarray:
    """Display P3 to sRGB by the textbook: linearise, change primaries (same D65 white),
    clip, encode."""

    def matrix(primaries: list[tuple[float, float]]) -> np.ndarray:
        xyz = np.array([[x / y, 1, (1 - x - y) / y] for x, y in primaries]).T
        white = np.array([0.3127 / 0.3290, 1, (1 - 0.3127 - 0.3290) / 0.3290])
        result: np.ndarray = xyz * np.linalg.solve(xyz, white)
        return result

    p3 = matrix([(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)])
    srgb = matrix([(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)])
    v = rgb / 255
    linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    out = np.clip(linear @ (np.linalg.inv(srgb) @ p3).T, 0, 1)
    encoded = np.where(out <= 0.0031308, out * 12.92, 1.055 * out ** (1 / 2.4) - 0.055)
    return np.asarray(encoded * 255)


def test_display_p3_png_matches_the_textbook_conversion() -> None:
    data, info = read("png-rgb8-displayp3.png")
    decoded = codec.decode(data, info, "keep")[..., ::-1].astype(int)
    with Image.open(io.BytesIO(data)) as img:
        stored = np.asarray(img.convert("RGB")).astype(int)
    expected = srgb_of_display_p3(stored)
    assert np.abs(decoded - expected).max() <= 2
    # the profile really changes colours: the stored values read as sRGB are far off
    assert np.abs(decoded - stored).max() >= 20


@pytest.mark.parametrize(
    "name",
    [
        "jpeg-displayp3.jpg",
        "jpeg-adobergb.jpg",
        "jpeg-prophoto.jpg",
        "png-rgb8-displayp3.png",
        "png-rgba8-adobergb.png",
        "tiff-rgb8-adobergb.tif",
        "webp-rgb-displayp3.webp",
        "avif-rgba-displayp3.avif",
        "heic-rgba-displayp3.heic",
        "jpeg-gray-grayprofile.jpg",
        "png-gray8-grayprofile.png",
        "jpeg-cmyk-profile.jpg",
    ],
)
def test_a_profile_changes_the_colours(name: str) -> None:
    """Against the same pixels read without their profile (the old behaviour): this test
    fails if the profile is ignored."""
    data, info = read(name)
    converted = as_rgba(codec.decode(data, info, "keep"))[..., :3]
    with Image.open(io.BytesIO(data)) as img:
        untagged = np.asarray(img.convert("RGB")).astype(int)
    rgb, _ = shown_by_pillow(data)
    assert np.array_equal(converted, rgb)
    assert np.abs(converted - untagged).max() >= 8


def test_an_srgb_profile_takes_the_fast_path_within_two_levels() -> None:
    data, info = read("jpeg-srgb.jpg")
    assert info.plain and info.icc == "sRGB"
    rgb, _ = shown_by_pillow(data)  # LittleCMS from this sRGB profile to its own
    assert_close(as_rgba(codec.decode(data, info, "keep"))[..., :3], rgb, (2, 0.1))


def test_orientation_is_applied_on_the_pillow_path() -> None:
    upright_data, upright_info = read("jpeg-displayp3.jpg")
    turned_data, turned_info = read("jpeg-displayp3-orientation6.jpg")
    assert (turned_info.width, turned_info.height) == (upright_info.height, upright_info.width)
    upright = codec.decode(upright_data, upright_info, "keep")
    turned = codec.decode(turned_data, turned_info, "keep")
    assert np.array_equal(turned, cv2.rotate(upright, cv2.ROTATE_90_CLOCKWISE))


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize("name", ["jpeg-displayp3.jpg", "jpeg-cmyk-profile.jpg"])
def test_shrink_on_load_keeps_the_profile(name: str, scale: int) -> None:
    """A tagged or CMYK JPEG is decoded small by libjpeg too, then converted."""
    data, info = read(name)
    small = codec.decode(data, info, "color", scale=scale)
    assert small.shape[:2] == codec.reduced_size(info, scale)[::-1]
    full = codec.decode(data, info, "color")
    shrunk = cv2.resize(full, small.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - shrunk).mean() < 6
    gray = codec.decode(data, info, "gray", scale=scale)
    assert np.array_equal(gray, cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))


def test_one_transform_per_profile() -> None:
    """Files sharing a profile share LittleCMS's transform: built once, then reused."""
    names = ["jpeg-adobergb.jpg", "tiff-rgb8-adobergb.tif", "png-rgba8-adobergb.png"]
    for name in names:
        data, info = read(name)
        codec.decode(data, info, "keep")
    before = codec._transform.cache_info()
    for name in names:
        data, info = read(name)
        codec.decode(data, info, "keep")
    after = codec._transform.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 0)


def test_a_multi_picture_jpeg_is_a_jpeg() -> None:
    """Phones and cameras write MPO: a JPEG with more images after the photo (Pillow names it
    MPO). It is read as the JPEG it is: OpenCV's fast path, shrink on load, JPEG out."""
    photo = Image.fromarray(np.asarray(Image.open(CORPUS / "jpeg-untagged.jpg")))
    buffer = io.BytesIO()
    photo.save(buffer, "MPO", save_all=True, append_images=[Image.new("RGB", (96, 64))])
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "MPO" and img.n_frames == 2
        first = np.asarray(img.convert("RGB")).astype(int)
    info = codec.sniff(data, max_pixels=10**6)
    assert (info.format, info.plain) == ("JPEG", True)
    assert codec.written_like(info) == codec.FORMATS["jpeg"]
    assert_close(codec.decode(data, info, "color")[..., ::-1], first, (2, 0.1))
    assert codec.decode(data, info, "color", scale=2).shape == (32, 48, 3)


# --- CMYK, YCCK --------------------------------------------------------------------------------


def test_ycck_decodes_to_the_same_picture_as_adobe_cmyk() -> None:
    cmyk_data, cmyk_info = read("jpeg-cmyk-adobe.jpg")
    ycck_data, ycck_info = read("jpeg-ycck-adobe.jpg")
    cmyk = codec.decode(cmyk_data, cmyk_info, "keep").astype(int)
    ycck = codec.decode(ycck_data, ycck_info, "keep").astype(int)
    assert np.abs(cmyk - ycck).mean() < 2 and np.abs(cmyk - ycck).max() <= 12
    with Image.open(io.BytesIO(cmyk_data)) as img:
        assert img.info.get("adobe_transform") == 0
    with Image.open(io.BytesIO(ycck_data)) as img:
        assert img.info.get("adobe_transform") == 2


def test_adobe_cmyk_is_not_read_as_inverted() -> None:
    """The corpus' CMYK scene: a neutral ramp from black (all K) bottom left, pure red,
    green and blue patches bottom right. Read inverted, black would come out white."""
    data, info = read("jpeg-cmyk-adobe.jpg")
    rgb = codec.decode(data, info, "keep")[..., ::-1].astype(int)
    bottom, middle = rgb.shape[0] - 1, rgb.shape[1] // 2
    assert rgb[bottom, 0].max() <= 12  # black
    ramp_end = rgb[bottom, middle - 1]
    assert abs(ramp_end.mean() - 124) <= 8 and np.ptp(ramp_end) <= 6  # mid gray, neutral
    red = rgb[bottom, middle + 2]
    assert red[0] >= 230 and red[1:].max() <= 25


# --- broken, huge and mismatched profiles ---------------------------------------------------------


def jpeg_tagged(icc: bytes, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    image = Image.new(mode, (40, 30), (200, 120, 60) if mode == "RGB" else 128)
    image.save(buffer, "JPEG", quality=95, icc_profile=icc)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("icc", "mode", "words"),
    [
        (b"not a profile at all" * 10, "RGB", "cannot read"),
        ((CORPUS / "DisplayP3-test.icc").read_bytes()[:300], "RGB", "cannot"),
        ((CORPUS / "CMYK-warm-paper-test.icc").read_bytes(), "RGB", "cannot apply to RGB"),
        ((CORPUS / "AdobeRGB-compatible.icc").read_bytes(), "L", "cannot apply to L"),
    ],
    ids=["garbage", "cut", "cmyk-profile-on-rgb", "rgb-profile-on-gray"],
)
def test_a_profile_that_cannot_be_used_is_ignored_and_logged(
    icc: bytes, mode: str, words: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = jpeg_tagged(icc, mode)
    plain = jpeg_tagged(b"", mode)
    with caplog.at_level(logging.WARNING, logger="pixelmill.imaging.codec"):
        info = codec.sniff(data, max_pixels=10**6)
        image = codec.decode(data, info, "keep")
    expected = codec.decode(plain, codec.sniff(plain, max_pixels=10**6), "keep")
    assert np.abs(image.astype(int) - expected).max() <= 2
    assert words in caplog.text


def test_a_huge_profile_is_ignored_without_reading_it(caplog: pytest.LogCaptureFixture) -> None:
    """A 9 MB blob in 140 APP2 segments: skipped by its size, no hashing, no LittleCMS."""
    huge = (CORPUS / "AdobeRGB-compatible.icc").read_bytes() * (9 * 1024 * 1024 // 580)
    assert len(huge) > codec.MAX_ICC_BYTES
    data = jpeg_tagged(huge)
    with caplog.at_level(logging.WARNING, logger="pixelmill.imaging.codec"):
        began = time.perf_counter()
        info = codec.sniff(data, max_pixels=10**6)
        image = codec.decode(data, info, "keep")
        elapsed = time.perf_counter() - began
    assert info.icc is None and info.plain and image.shape == (30, 40, 3)
    assert "ignoring an ICC profile of" in caplog.text
    assert elapsed < 1.0
