"""Writes the real-world corpus in tests/corpus/: the files are committed, so tests never run
this; run it again only to change the corpus.

    .venv/bin/python tests/corpus/make_corpus.py [section ...]   # default: every section

One section per part of issue 16, each writing its own files (listed in README.md). The
"decode" section writes images of every PNG colour type and bit depth (with and without a
tRNS colour), ICC-tagged JPEGs, PNGs, WebPs and TIFFs, CMYK, YCCK and 16-bit images,
transparent WebP, GIF and TIFF: the files `codec.decode` must read as Pillow and LittleCMS
show them (tests/imaging/test_decode_real.py). PNG and TIFF are written byte by byte here,
so every colour type, bit depth and alpha kind is exactly the one named.
"""

from __future__ import annotations

import io
import shutil
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image, ImageCms

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 48, 32
# Where the free profiles were copied from (Debian's icc-profiles-free and colord-data);
# the copies in this folder are what the tests use.
SYSTEM_PROFILES = {
    "AdobeRGB-compatible.icc": "/usr/share/color/icc/compatibleWithAdobeRGB1998.icc",
    "ProPhotoRGB.icc": "/usr/share/color/icc/colord/ProPhotoRGB.icc",
    "Gray.icc": "/usr/share/color/icc/Gray.icc",
    "sRGB.icc": "/usr/share/color/icc/sRGB.icc",
}


# --- pictures ---------------------------------------------------------------------------------


def scene(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """RGB: a saturated hue sweep on top (where profiles move colours most), a gray ramp
    bottom left, pure primaries, a skin tone and a sky blue bottom right."""
    y, x = np.mgrid[0:height, 0:width]
    hue = x / width * 6
    ramp = np.clip(np.stack([abs(hue - 3) - 1, 2 - abs(hue - 2), 2 - abs(hue - 4)], -1), 0, 1)
    shade = (1 - 0.6 * y / height)[..., None]
    image = (ramp * shade * 255).round().astype(np.uint8)
    half = height // 2
    gray = (x * 255 // max(1, width - 1)).astype(np.uint8)
    image[half:, : width // 2] = gray[half:, : width // 2, None]
    patches = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (224, 172, 138), (110, 160, 230)]
    step = max(1, (width - width // 2) // len(patches))
    for i, colour in enumerate(patches):
        left = width // 2 + i * step
        image[half:, left : left + step] = colour
    return image


def disc_alpha(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A logo's alpha: an opaque disc with a soft edge and a half-transparent ring, fully
    transparent around it."""
    y, x = np.mgrid[0:height, 0:width]
    r = np.hypot((x + 0.5 - width / 2) / (height / 2), (y + 0.5 - height / 2) / (height / 2))
    alpha = np.clip((0.9 - r) / 0.15, 0, 1)
    alpha = np.where((r > 0.45) & (r < 0.6), 0.5, alpha)
    return (alpha * 255).round().astype(np.uint8)


def hidden_red(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Pure red under the fully transparent pixels: it must never show."""
    out = rgb.copy()
    out[alpha == 0] = (255, 0, 0)
    return out


# --- PNG, byte by byte ------------------------------------------------------------------------


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _pack_row(row: np.ndarray, depth: int) -> bytes:
    """One row of samples (already in 0..2**depth-1) as PNG packs it."""
    if depth == 16:
        return row.astype(">u2").tobytes()
    if depth == 8:
        return row.astype(np.uint8).tobytes()
    per_byte = 8 // depth
    flat = row.reshape(-1).astype(np.uint8)
    flat = np.concatenate([flat, np.zeros(-len(flat) % per_byte, np.uint8)])
    groups = flat.reshape(-1, per_byte)
    shifts = np.array([8 - depth * (i + 1) for i in range(per_byte)], np.uint8)
    return (groups << shifts).sum(axis=1).astype(np.uint8).tobytes()


def png_bytes(
    samples: np.ndarray,
    colour_type: int,
    depth: int,
    *,
    palette: np.ndarray | None = None,
    trns: bytes | None = None,
    icc: bytes | None = None,
) -> bytes:
    """A PNG of raw `samples` (HxW or HxWxC, values already at `depth` bits)."""
    height, width = samples.shape[:2]
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if icc is not None:
        out += _chunk(b"iCCP", b"profile\0\0" + zlib.compress(icc))
    if palette is not None:
        out += _chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    raw = b"".join(b"\0" + _pack_row(samples[y], depth) for y in range(height))
    return out + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def write_pngs(folder: Path) -> None:
    """Every colour type at every bit depth PNG allows, opaque and with tRNS."""
    rgb = scene()
    gray8 = (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114])).round().astype(np.uint8)
    alpha = disc_alpha()
    for depth in (1, 2, 4, 8, 16):  # colour type 0: gray
        top = 2**depth - 1
        samples = np.rint(gray8.astype(np.float64) * top / 255).astype(np.uint16)
        write(folder / f"png-gray{depth}.png", png_bytes(samples, 0, depth))
        key = int(samples[0, 0])  # the top-left gray becomes transparent
        trns = struct.pack(">H", key)
        write(folder / f"png-gray{depth}-trns.png", png_bytes(samples, 0, depth, trns=trns))
    for depth in (8, 16):  # colour type 2: RGB
        samples = rgb.astype(np.uint16) * 257 if depth == 16 else rgb
        write(folder / f"png-rgb{depth}.png", png_bytes(samples, 2, depth))
        # around the disc, a colour found nowhere else is the transparent one; at 16 bits
        # a decoy shares its high bytes and must stay opaque
        key = (300, 600, 900) if depth == 16 else (1, 2, 3)
        keyed = samples.copy()
        keyed[alpha == 0] = key
        if depth == 16:
            keyed[-1, :4] = (256, 512, 768)
        trns = struct.pack(">HHH", *key)
        write(folder / f"png-rgb{depth}-trns.png", png_bytes(keyed, 2, depth, trns=trns))
    for depth in (1, 2, 4, 8):  # colour type 3: palette
        count = 2**depth
        pal_image = Image.fromarray(rgb).quantize(colors=count, dither=Image.Dither.NONE)
        indices = np.asarray(pal_image).astype(np.uint8)
        palette = np.array(pal_image.getpalette()[: count * 3], np.uint8).reshape(-1, 3)
        palette = np.concatenate([palette, np.zeros((count - len(palette), 3), np.uint8)])
        write(folder / f"png-palette{depth}.png", png_bytes(indices, 3, depth, palette=palette))
        # tRNS: the first entry fully transparent, the second half transparent, others opaque
        trns = bytes([0, 128][:count])
        write(
            folder / f"png-palette{depth}-trns.png",
            png_bytes(indices, 3, depth, palette=palette, trns=trns),
        )
    for depth in (8, 16):  # colour types 4 and 6: gray + alpha, RGB + alpha
        scale = 257 if depth == 16 else 1
        ga = np.dstack([gray8, alpha]).astype(np.uint16) * scale
        write(folder / f"png-gray-alpha{depth}.png", png_bytes(ga, 4, depth))
        rgba = np.dstack([hidden_red(rgb, alpha), alpha]).astype(np.uint16) * scale
        write(folder / f"png-rgba{depth}.png", png_bytes(rgba, 6, depth))
    # ICC-tagged PNGs
    write(folder / "png-rgb8-displayp3.png", png_bytes(rgb, 2, 8, icc=display_p3_profile()))
    rgba = np.dstack([hidden_red(rgb, alpha), alpha])
    write(
        folder / "png-rgba8-adobergb.png",
        png_bytes(rgba, 6, 8, icc=profile("AdobeRGB-compatible.icc")),
    )
    write(folder / "png-gray8-grayprofile.png", png_bytes(gray8, 0, 8, icc=profile("Gray.icc")))


# --- TIFF, byte by byte -----------------------------------------------------------------------


def tiff_bytes(
    samples: np.ndarray, photometric: int, *, extra: int | None = None, icc: bytes | None = None
) -> bytes:
    """An uncompressed little-endian TIFF, one strip; `extra` is ExtraSamples (1:
    associated = premultiplied alpha, 2: unassociated = straight alpha)."""
    height, width = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    bits = 16 if samples.dtype == np.uint16 else 8
    pixels = samples.astype("<u2" if bits == 16 else np.uint8).tobytes()
    entries: list[tuple[int, int, int, bytes]] = []  # tag, type, count, value bytes

    def short(tag: int, *values: int) -> None:
        entries.append((tag, 3, len(values), struct.pack(f"<{len(values)}H", *values)))

    def long(tag: int, value: int) -> None:
        entries.append((tag, 4, 1, struct.pack("<I", value)))

    long(256, width)
    long(257, height)
    short(258, *[bits] * channels)
    short(259, 1)  # no compression
    short(262, photometric)
    long(273, 0)  # the strip's offset, known once the tags are laid out
    short(277, channels)
    long(278, height)
    long(279, len(pixels))
    short(284, 1)  # chunky
    if extra is not None:
        short(338, extra)
    if icc is not None:
        entries.append((34675, 7, len(icc), icc))
    entries.sort()
    data_at = 8 + 2 + 12 * len(entries) + 4  # the values too long for a field, then pixels
    pixel_offset = data_at + sum(len(v) + len(v) % 2 for _, _, _, v in entries if len(v) > 4)
    fields, blobs = b"", b""
    for tag, kind, count, value in entries:
        if tag == 273:
            value = struct.pack("<I", pixel_offset)
        if len(value) <= 4:
            fields += struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")
        else:
            fields += struct.pack("<HHII", tag, kind, count, data_at + len(blobs))
            blobs += value + b"\0" * (len(value) % 2)
    header = b"II*\0" + struct.pack("<I", 8)
    ifd = struct.pack("<H", len(entries)) + fields + struct.pack("<I", 0)
    return header + ifd + blobs + pixels


def write_tiffs(folder: Path) -> None:
    rgb = scene()
    alpha = disc_alpha()
    straight = np.dstack([hidden_red(rgb, alpha), alpha])
    write(folder / "tiff-rgba-unassociated.tif", tiff_bytes(straight, 2, extra=2))
    a = alpha[..., None].astype(np.uint16)
    premultiplied = np.dstack([(straight[..., :3] * a + 127) // 255, a]).astype(np.uint8)
    write(folder / "tiff-rgba-associated.tif", tiff_bytes(premultiplied, 2, extra=1))
    write(folder / "tiff-rgb16.tif", tiff_bytes(rgb.astype(np.uint16) * 257, 2))
    gray16 = (np.mgrid[0:HEIGHT, 0:WIDTH][1] * 65535 // (WIDTH - 1)).astype(np.uint16)
    write(folder / "tiff-gray16.tif", tiff_bytes(gray16, 1))
    write(
        folder / "tiff-rgb8-adobergb.tif",
        tiff_bytes(rgb, 2, icc=profile("AdobeRGB-compatible.icc")),
    )
    cmyk = np.asarray(Image.fromarray(rgb).convert("CMYK"))
    write(folder / "tiff-cmyk.tif", tiff_bytes(cmyk, 5))


# --- JPEG, WebP, GIF --------------------------------------------------------------------------


def pil_bytes(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def cmyk_scene() -> Image.Image:
    """CMYK with real black ink: gray component replaced by K."""
    rgb = scene().astype(np.float32) / 255
    k = 1 - rgb.max(axis=2)
    cmy = (1 - rgb - k[..., None]) / np.maximum(1 - k[..., None], 1e-6)
    cmyk = np.dstack([cmy, k])
    return Image.fromarray((cmyk * 255).round().astype(np.uint8), "CMYK")


def ycck_jpeg(cmyk: Image.Image) -> bytes:
    """An Adobe YCCK JPEG (APP14 transform 2) of `cmyk`, as Photoshop writes them.

    Pillow writes 4-component JPEGs as Adobe CMYK (transform 0, inverted); libjpeg turns a
    transform-2 file's Y, Cb, Cr back into R, G, B = 255 - the inverted C, M, Y. So we store
    YCbCr of (C, M, Y) and the inverted K, and relabel the APP14 transform."""
    c, m, y, k = (np.asarray(cmyk, np.float32)[..., i] for i in range(4))
    # inverted CMY as RGB; libjpeg's YCCK decoding gives C = 255 - R, which Pillow's
    # Adobe inversion turns back into R: so R must be C here
    luma = 0.299 * c + 0.587 * m + 0.114 * y
    cb = 128 - 0.168736 * c - 0.331264 * m + 0.5 * y
    cr = 128 + 0.5 * c - 0.418688 * m - 0.081312 * y
    stored = np.dstack([luma, cb, cr, 255 - k]).round().clip(0, 255).astype(np.uint8)
    # Pillow inverts CMYK on the way out ("CMYK;I"): hand it the inverse of what we want stored
    data = pil_bytes(Image.fromarray(255 - stored, "CMYK"), "JPEG", quality=95, subsampling=0)
    marker = data.index(b"Adobe") - 4  # the APP14 segment: FFEE, its length, "Adobe"
    assert data[marker : marker + 2] == b"\xff\xee"
    transform_at = marker + 4 + 11  # FFEE, length, "Adobe", version, flags0, flags1
    assert data[transform_at] == 0
    return data[:transform_at] + b"\x02" + data[transform_at + 1 :]


def write_jpegs(folder: Path) -> None:
    rgb = Image.fromarray(scene(96, 64))
    photo = {"quality": 95, "subsampling": 0}
    write(folder / "jpeg-untagged.jpg", pil_bytes(rgb, "JPEG", **photo))
    for name, icc in (
        ("srgb", profile("sRGB.icc")),
        ("displayp3", display_p3_profile()),
        ("adobergb", profile("AdobeRGB-compatible.icc")),
        ("prophoto", profile("ProPhotoRGB.icc")),
    ):
        write(folder / f"jpeg-{name}.jpg", pil_bytes(rgb, "JPEG", icc_profile=icc, **photo))
    exif = Image.Exif()
    exif[0x0112] = 6  # turned: the camera was held upright
    write(
        folder / "jpeg-displayp3-orientation6.jpg",
        pil_bytes(rgb, "JPEG", icc_profile=display_p3_profile(), exif=exif, **photo),
    )
    gray = rgb.convert("L")
    write(
        folder / "jpeg-gray-grayprofile.jpg",
        pil_bytes(gray, "JPEG", icc_profile=profile("Gray.icc"), quality=95),
    )
    cmyk = cmyk_scene()
    write(folder / "jpeg-cmyk-adobe.jpg", pil_bytes(cmyk, "JPEG", quality=95))
    write(
        folder / "jpeg-cmyk-profile.jpg",
        pil_bytes(cmyk, "JPEG", quality=95, icc_profile=cmyk_profile()),
    )
    write(folder / "jpeg-ycck-adobe.jpg", ycck_jpeg(cmyk))


def write_webps_and_gifs(folder: Path) -> None:
    rgb = scene()
    alpha = disc_alpha()
    rgba = Image.fromarray(np.dstack([hidden_red(rgb, alpha), alpha]), "RGBA")
    write(folder / "webp-rgba-lossless.webp", pil_bytes(rgba, "WEBP", lossless=True, exact=True))
    write(folder / "webp-rgba-lossy.webp", pil_bytes(rgba, "WEBP", quality=90))
    write(
        folder / "webp-rgb-displayp3.webp",
        pil_bytes(Image.fromarray(rgb), "WEBP", lossless=True, icc_profile=display_p3_profile()),
    )
    palette = Image.fromarray(rgb).quantize(colors=255, dither=Image.Dither.NONE)
    indices = np.asarray(palette).copy()
    indices[alpha == 0] = 255  # the transparent entry, red in the palette
    entries = palette.getpalette()[: 255 * 3]
    gif = Image.fromarray(indices, "P")
    gif.putpalette(entries + [0] * (255 * 3 - len(entries)) + [255, 0, 0])
    write(folder / "gif-transparent.gif", pil_bytes(gif, "GIF", transparency=255))
    write(folder / "bmp-palette8.bmp", pil_bytes(palette, "BMP"))


def write_phone_formats(folder: Path) -> None:
    """AVIF and HEIC with alpha and a Display P3 profile, as phones tag their photos."""
    pillow_heif.register_heif_opener()  # Pillow writes HEIC through it
    rgb = scene()
    alpha = disc_alpha()
    rgba = Image.fromarray(np.dstack([hidden_red(rgb, alpha), alpha]), "RGBA")
    p3 = display_p3_profile()
    write(folder / "avif-rgba-displayp3.avif", pil_bytes(rgba, "AVIF", quality=90, icc_profile=p3))
    write(folder / "heic-rgba-displayp3.heic", pil_bytes(rgba, "HEIF", quality=90, icc_profile=p3))


def write_logo(folder: Path) -> None:
    """The issue's logo: a blue badge on a transparent background that hides pure red. Its
    edges are hard (opaque next to transparent; a half-transparent ring inside), so a
    resize that mixes colours without weighting them by alpha shows a red fringe."""
    width, height = 120, 80
    y, x = np.mgrid[0:height, 0:width]
    r = np.hypot(x + 0.5 - width / 2, y + 0.5 - height / 2) / (height / 2)
    alpha = np.select([r < 0.35, r < 0.5, r < 0.8], [255, 128, 255], 0).astype(np.uint8)
    badge = np.dstack([20 + x * 0, 80 + y, 200 + 0 * x]).astype(np.uint8)
    rgba = np.dstack([hidden_red(badge, alpha), alpha])
    write(folder / "logo-hidden-red.png", png_bytes(rgba, 6, 8))


# --- profiles ---------------------------------------------------------------------------------


def profile(name: str) -> bytes:
    return (HERE / name).read_bytes()


def copy_system_profiles(folder: Path) -> None:
    for name, source in SYSTEM_PROFILES.items():
        if not Path(source).exists():
            sys.exit(f"{source} is missing: apt-get install -y icc-profiles-free colord-data")
        shutil.copyfile(source, folder / name)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(xyz: np.ndarray) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


_D50 = np.array([0.9642, 1.0, 0.8249])
_BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)


def _adapt_to_d50(white: np.ndarray) -> np.ndarray:
    """Bradford chromatic adaptation from `white` (XYZ) to D50."""
    scale = np.diag((_BRADFORD @ _D50) / (_BRADFORD @ white))
    adapted: np.ndarray = np.linalg.inv(_BRADFORD) @ scale @ _BRADFORD
    return adapted


def _xy_to_xyz(x: float, y: float) -> np.ndarray:
    return np.array([x / y, 1.0, (1 - x - y) / y])


def rgb_to_xyz(primaries: list[tuple[float, float]], white: tuple[float, float]) -> np.ndarray:
    """The RGB -> XYZ matrix of primaries and white point given as xy."""
    columns = np.stack([_xy_to_xyz(*p) for p in primaries], axis=1)
    gains = np.linalg.solve(columns, _xy_to_xyz(*white))
    matrix: np.ndarray = columns * gains
    return matrix


P3_PRIMARIES = [(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)]
D65 = (0.3127, 0.3290)


def _icc(
    device_class: bytes, space: bytes, pcs: bytes, version: int, tags: dict[bytes, bytes]
) -> bytes:
    """An ICC profile: the 128-byte header, the tag table, the tags (4-byte aligned;
    identical tag data shared)."""
    table = b""
    body = b""
    offsets: dict[bytes, int] = {}
    start = 128 + 4 + 12 * len(tags)
    for signature, data in tags.items():
        if data not in offsets:
            offsets[data] = start + len(body)
            body += data + b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offsets[data], len(data))
    size = start + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + struct.pack(">I", version)
        + device_class
        + space
        + pcs
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + b"APPL"
        + b"\0" * 4  # flags
        + b"\0" * 8  # manufacturer, model
        + b"\0" * 8  # attributes
        + struct.pack(">I", 0)  # perceptual
        + b"".join(_s15(v) for v in _D50)
        + b"pxml"
        + b"\0" * 16  # profile ID
        + b"\0" * 28
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def _mluc(text: str) -> bytes:
    encoded = text.encode("utf-16-be")
    return (
        b"mluc\0\0\0\0" + struct.pack(">II2s2sII", 1, 12, b"en", b"US", len(encoded), 28) + encoded
    )


def _desc_v2(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0"
        + struct.pack(">I", len(ascii_text))
        + ascii_text
        + struct.pack(">II", 0, 0)
        + struct.pack(">HB", 0, 0)
        + b"\0" * 67
    )


def display_p3_profile() -> bytes:
    """A Display P3 profile as Apple ships it (ICC v4, P3 primaries, D65 white, the sRGB
    curve), built here from the published numbers."""
    matrix = _adapt_to_d50(_xy_to_xyz(*D65)) @ rgb_to_xyz(P3_PRIMARIES, D65)
    # parametric curve type 3: the sRGB transfer function
    g, a, b, c, d = 2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045
    para = b"para\0\0\0\0" + struct.pack(">H2x", 3) + b"".join(_s15(v) for v in (g, a, b, c, d))
    chad = b"sf32\0\0\0\0" + b"".join(_s15(v) for v in _adapt_to_d50(_xy_to_xyz(*D65)).flat)
    tags = {
        b"desc": _mluc("Display P3 (pixelmill test corpus)"),
        b"cprt": _mluc("No copyright, use freely"),
        b"wtpt": _xyz(_D50),
        b"chad": chad,
        b"rXYZ": _xyz(matrix[:, 0]),
        b"gXYZ": _xyz(matrix[:, 1]),
        b"bXYZ": _xyz(matrix[:, 2]),
        b"rTRC": para,
        b"gTRC": para,
        b"bTRC": para,
    }
    return _icc(b"mntr", b"RGB ", b"XYZ ", 0x04300000, tags)


def _srgb_to_lab_d50(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0..1, ...x3) to CIELAB under D50, as ICC's PCS wants it."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    to_xyz = _adapt_to_d50(_xy_to_xyz(*D65)) @ rgb_to_xyz(
        [(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)], D65
    )
    xyz = linear @ to_xyz.T / _D50

    def f(t: np.ndarray) -> np.ndarray:
        return np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)

    fx, fy, fz = f(xyz[..., 0]), f(xyz[..., 1]), f(xyz[..., 2])
    return np.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], axis=-1)


def cmyk_profile(grid: int = 7) -> bytes:
    """A small CMYK input profile (ICC v2, a lut16 A2B0 CMYK -> Lab): inks on a slightly
    warm paper with dot gain and impure inks, so its colours differ visibly from Pillow's
    plain CMYK conversion."""
    steps = np.linspace(0, 1, grid)
    c, m, y, k = np.meshgrid(steps, steps, steps, steps, indexing="ij")
    c, m, y, k = (1 - (1 - v) ** 1.35 for v in (c, m, y, k))  # dot gain: mid tones darker
    paper = np.array([0.97, 0.95, 0.90])
    red = paper[0] * (1 - 0.92 * c) * (1 - 0.08 * m) * (1 - 0.02 * y) * (1 - 0.90 * k)
    green = paper[1] * (1 - 0.25 * c) * (1 - 0.90 * m) * (1 - 0.06 * y) * (1 - 0.90 * k)
    blue = paper[2] * (1 - 0.08 * c) * (1 - 0.35 * m) * (1 - 0.90 * y) * (1 - 0.90 * k)
    lab = _srgb_to_lab_d50(np.stack([red, green, blue], axis=-1).reshape(-1, 3))
    # ICC v2 16-bit Lab: L 0..100 -> 0..0xFF00, a and b -128..127.996 -> 0..0xFFFF
    encoded = np.stack([lab[:, 0] * 0xFF00 / 100, (lab[:, 1] + 128) * 256, (lab[:, 2] + 128) * 256])
    clut = np.rint(encoded.T).clip(0, 65535).astype(">u2").tobytes()
    identity = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    curves_in = struct.pack(">2H", 0, 65535) * 4
    curves_out = struct.pack(">2H", 0, 65535) * 3
    lut = (
        b"mft2\0\0\0\0"
        + struct.pack(">BBBx", 4, 3, grid)
        + identity
        + struct.pack(">HH", 2, 2)
        + curves_in
        + clut
        + curves_out
    )
    tags = {
        b"desc": _desc_v2("Warm paper CMYK (pixelmill test corpus)"),
        b"cprt": b"text\0\0\0\0No copyright, use freely\0",
        b"wtpt": _xyz(_D50),
        b"A2B0": lut,
    }
    return _icc(b"scnr", b"CMYK", b"Lab ", 0x02100000, tags)


def check_profiles() -> None:
    """The hand-made profiles say what they should: LittleCMS against the textbook maths."""
    srgb = ImageCms.createProfile("sRGB")
    p3 = ImageCms.ImageCmsProfile(io.BytesIO(display_p3_profile()))
    probe = np.array([[[200, 100, 50], [128, 128, 128], [0, 255, 0]]], np.uint8)
    converted = ImageCms.profileToProfile(Image.fromarray(probe), p3, srgb)
    assert converted is not None
    linear = np.where(
        probe / 255 <= 0.04045, probe / 255 / 12.92, ((probe / 255 + 0.055) / 1.055) ** 2.4
    )
    to_srgb = np.linalg.inv(rgb_to_xyz([(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)], D65))
    out = np.clip(linear @ (to_srgb @ rgb_to_xyz(P3_PRIMARIES, D65)).T, 0, 1)
    encoded = np.where(out <= 0.0031308, out * 12.92, 1.055 * out ** (1 / 2.4) - 0.055) * 255
    error = np.abs(np.asarray(converted, np.float64) - encoded).max()
    assert error <= 2, (np.asarray(converted), encoded)
    cmyk = ImageCms.ImageCmsProfile(io.BytesIO(cmyk_profile()))
    inks = Image.fromarray(
        np.array([[[0, 0, 0, 0], [128, 0, 0, 0], [0, 0, 0, 255]]], np.uint8), "CMYK"
    )
    printed = ImageCms.profileToProfile(inks, cmyk, srgb, outputMode="RGB")
    assert printed is not None
    colours = np.asarray(printed).astype(int)
    plain = np.asarray(inks.convert("RGB")).astype(int)
    assert colours[0, 0].tolist() == [255, 255, 255]  # paper is white (relative to itself)
    assert np.abs(colours[0, 1:] - plain[0, 1:]).max() > 20  # not Pillow's plain conversion


# --- the sections -----------------------------------------------------------------------------


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    print(f"{path.name:<36}{len(data):>8,} bytes")


def decode_section(folder: Path) -> None:
    copy_system_profiles(folder)
    write(folder / "DisplayP3-test.icc", display_p3_profile())
    write(folder / "CMYK-warm-paper-test.icc", cmyk_profile())
    check_profiles()
    write_pngs(folder)
    write_tiffs(folder)
    write_jpegs(folder)
    write_webps_and_gifs(folder)
    write_phone_formats(folder)
    write_logo(folder)


SECTIONS: dict[str, Callable[[Path], None]] = {"decode": decode_section}


def main(names: list[str]) -> None:
    for name in names or list(SECTIONS):
        SECTIONS[name](HERE)


if __name__ == "__main__":
    main(sys.argv[1:])
