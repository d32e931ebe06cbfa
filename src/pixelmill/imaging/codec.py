"""Bytes <-> arrays.

Decoding is done in two steps so that the cheap checks come first: `sniff` reads only the
header (format by content, never by file name; size; EXIF orientation) and enforces the
pixel limit, then `decode` does the pixel work. Arrays are OpenCV's: uint8, BGR order for
colour, one channel for gray, BGRA (straight alpha) for an image with transparency when
the caller keeps it, always upright (EXIF orientation applied), in sRGB (an embedded ICC
profile is converted with LittleCMS).

Two decoders: OpenCV for the plain images (the fast path: gray or RGB JPEG, PNG, WebP, BMP
or TIFF, or PNG and WebP with an alpha channel, in sRGB or untagged; JPEG shrinks on load
and goes straight to gray), Pillow for everything else (ICC profiles, CMYK, palettes, tRNS
colours, TIFF alpha, 16-bit gray, GIF, the formats OpenCV lacks). `sniff` decides which
from the header (`ImageInfo.plain`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Literal

import cv2
import numpy as np
import pillow_heif
from PIL import Image, ImageCms, UnidentifiedImageError

from pixelmill.errors import EmptyUpload, InvalidParameter, TooLarge, UnsupportedImage
from pixelmill.imaging import alpha, animation, png

# Formats we accept, as Pillow names them; sniffing tries no other plugin, so a text file
# cannot pass for a headerless format such as TGA.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF")
# Formats OpenCV decodes itself (faster, and straight to gray for JPEG) when the image is
# plain (see `_is_plain`); everything else goes to Pillow.
_OPENCV_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF"})
_EXIF_ORIENTATION = 0x0112
# Pillow's modes of one-channel gray images (1-bit, 8-bit, 16-bit and 32-bit)
_GRAY_MODES = frozenset({"1", "L", "I", "I;16", "I;16B", "I;16L", "F"})
# Pillow's modes with an alpha channel (a lower-case a: premultiplied)
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
# An embedded ICC profile larger than this is ignored (logged). The biggest real ones, CMYK
# printing profiles with 33-point tables, are about 7 MB: 25 ms to hash, 0.2 s to build a
# transform once; a bigger blob is no profile, and is not worth hashing on every upload.
MAX_ICC_BYTES = 8 * 1024 * 1024

log = logging.getLogger(__name__)

# What Pillow's plugins raise for a damaged file (libavif's errors are RuntimeErrors)
_DAMAGED = (OSError, SyntaxError, ValueError, EOFError, RuntimeError)

# Our own pixel limit is checked right after the header is read; Pillow's bomb warning
# would only repeat it.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# HEIC/HEIF through libheif, once per process. Pixelmill wants the image itself, never an
# embedded thumbnail in its place, nor the depth and auxiliary images phones add.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

# "keep": gray when the input is gray (one channel), else colour
Mode = Literal["gray", "color", "keep"]
OutputFormat = Literal["png", "jpeg", "webp", "gif", "avif"]


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says: format, upright size, EXIF orientation (1 = upright), whether
    the pixels are gray, have alpha or an ICC profile, and which decoder reads them."""

    format: str
    width: int
    height: int
    orientation: int = 1
    gray: bool = False
    alpha: bool = False  # alpha channel or transparent colour: "keep" decodes to BGRA
    icc: str | None = None  # the embedded ICC profile's description (converted to sRGB)
    # OpenCV decodes it right (see `_is_plain`): the fast path; False (the default, also
    # for an ImageInfo made by hand) decodes with Pillow
    plain: bool = False
    frames: int = 1  # an animation's (animation.count), counted from the headers

    @property
    def pixels(self) -> int:
        return self.width * self.height


def check_bytes(size: int, limit: int, name: str) -> None:
    """Refuse an upload that is empty or larger than `limit` bytes."""
    if size == 0:
        raise EmptyUpload(f"{name} is empty (0 bytes)")
    if size > limit:
        raise TooLarge(f"{name} is {size:,} bytes; the limit is {limit:,} bytes")


def sniff(
    data: bytes, *, max_pixels: int, name: str = "image", max_animation_pixels: int | None = None
) -> ImageInfo:
    """Read the header only: format by content, upright size, orientation, frames; check the
    limits (with `max_animation_pixels`, that of all the frames of an animation too)."""
    if not data:
        raise EmptyUpload(f"{name} is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
            # a phone's or camera's multi-picture JPEG (MPO) is a JPEG whose first image
            # is the photo: decoded, shrunk on load and written back as one
            fmt = "JPEG" if img.format == "MPO" else img.format or "unknown"
            width, height = img.size
            gray = img.mode in _GRAY_MODES
            # libtiff turns a TIFF upright as it reads it, under OpenCV and under Pillow
            # (whose size is already the upright one): nothing is left to apply
            orientation = 1 if fmt == "TIFF" else _orientation(img)
            transparent = _has_alpha(img)
            profile = _read_profile(_icc_of(img))
            # OpenCV 4.14's PNG reader allocates what a chunk's length claims before it
            # reads: an 8 KB PNG claiming a 2.8 GB IDAT cost 2.7 GB; Pillow reads it in blocks
            plain = _is_plain(img, fmt, profile) and (fmt != "PNG" or _png_chunks_whole(data))
            found = animation.count(img, data, animation.stop_for(*img.size, max_animation_pixels))
    except Image.DecompressionBombError:
        raise TooLarge(
            f"{name} is larger than the decoded pixel limit of {max_pixels:,} pixels"
        ) from None
    except UnidentifiedImageError:
        raise UnsupportedImage(
            f"{name} is not an image in a supported format ({', '.join(ACCEPTED_FORMATS)})"
        ) from None
    except _DAMAGED as exc:
        raise UnsupportedImage(f"{name} has a damaged header: {exc}") from None
    if width < 1 or height < 1:
        raise UnsupportedImage(f"{name} has no pixels ({width}×{height})")
    if width * height > max_pixels:
        raise TooLarge(
            f"{name} is {width}×{height} = {width * height:,} pixels; "
            f"the limit is {max_pixels:,} pixels"
        )
    if max_animation_pixels is not None:
        animation.check(found, max_pixels=max_pixels, limit=max_animation_pixels, name=name)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    icc = profile.description if profile is not None else None
    return ImageInfo(
        fmt, width, height, orientation, gray, transparent, icc, plain, frames=found.frames
    )


# JPEG's DCT can be decoded straight at 1/2, 1/4 or 1/8 of the size, for a fraction of the work.
_REDUCED = {
    ("gray", 2): cv2.IMREAD_REDUCED_GRAYSCALE_2,
    ("gray", 4): cv2.IMREAD_REDUCED_GRAYSCALE_4,
    ("gray", 8): cv2.IMREAD_REDUCED_GRAYSCALE_8,
    ("color", 2): cv2.IMREAD_REDUCED_COLOR_2,
    ("color", 4): cv2.IMREAD_REDUCED_COLOR_4,
    ("color", 8): cv2.IMREAD_REDUCED_COLOR_8,
}
JPEG_SCALES = (8, 4, 2)
DEFAULT_QUALITY = 90
# libaom's speed for AVIF (0 slowest, 10 fastest): on a 1920x1080 photo, one thread, 8 takes
# about half the time of 7 for files within 2% of its size and the same SSIM; 9 halves it
# again but its files are 3-14% larger (docs/performance.md, "AVIF encoder speed")
AVIF_SPEED = 8


@dataclass(frozen=True, slots=True)
class Format:
    """One format pixelmill writes: its names, how it is served, what it can hold."""

    name: OutputFormat
    extensions: tuple[str, ...]  # the first is the one written
    media_type: str
    reads_as: str  # Pillow's name for an input in this format
    quality_flag: int | None = None  # OpenCV's quality parameter; None: lossless, no quality
    alpha: bool = False
    max_side: int | None = None  # the encoder's largest width or height
    options: tuple[int, ...] = ()  # further OpenCV encoder parameters
    default_quality: int = DEFAULT_QUALITY  # when nothing names one

    @property
    def extension(self) -> str:
        return self.extensions[0]

    @property
    def takes_quality(self) -> bool:
        return self.quality_flag is not None


FORMATS: dict[str, Format] = {
    fmt.name: fmt
    for fmt in (
        Format("png", (".png",), "image/png", "PNG", alpha=True),
        Format(
            "jpeg",
            (".jpg", ".jpeg"),
            "image/jpeg",
            "JPEG",
            quality_flag=cv2.IMWRITE_JPEG_QUALITY,
            max_side=65535,  # libjpeg's limit, width and height alike
        ),
        Format(
            "webp",
            (".webp",),
            "image/webp",
            "WEBP",
            quality_flag=cv2.IMWRITE_WEBP_QUALITY,
            alpha=True,
            max_side=16383,  # libwebp's
        ),
        Format(
            "avif",
            (".avif",),
            "image/avif",
            "AVIF",
            quality_flag=cv2.IMWRITE_AVIF_QUALITY,
            alpha=True,
            # AV1's levels allow 16384 a side; libavif reads up to 32768 and writes past it
            # files no decoder opens
            max_side=16384,
            options=(cv2.IMWRITE_AVIF_SPEED, AVIF_SPEED),
            # AVIF's scale means more fidelity than JPEG's: 75-85 matches what JPEG 90 looks
            # like (SSIM) on photos, at 0.6-0.7x the bytes; 90 would be 1.5x JPEG's bytes
            # (docs/performance.md, formats)
            default_quality=80,
        ),
        # GIF: 256 colours a frame and 1-bit alpha; written by Pillow (imaging/animation.py)
        Format("gif", (".gif",), "image/gif", "GIF", alpha=True, max_side=65535),
    )
}
ALIASES = {"jpg": "jpeg"}
JPEG_MAX_SIDE = FORMATS["jpeg"].max_side or 0


def output_format(name: str) -> Format:
    """The format a user names: `png`, `jpeg`, `jpg` or `webp`, in any case; 422 otherwise."""
    key = name.strip().lower()
    fmt = FORMATS.get(ALIASES.get(key, key))
    if fmt is None:
        raise InvalidParameter(
            f"unknown output format {name[:40]!r} (use {', '.join(format_names())})"
        )
    return fmt


def format_names() -> list[str]:
    """Every name `output_format` takes, aliases included."""
    return [*FORMATS, *ALIASES]


def format_for_path(path: PurePath) -> Format:
    """The format a file name asks for by its extension (`.jpg`, `.JPEG`, `.webp`, ...)."""
    suffix = path.suffix.lower()
    for fmt in FORMATS.values():
        if suffix in fmt.extensions:
            return fmt
    known = ", ".join(ext for fmt in FORMATS.values() for ext in fmt.extensions)
    raise InvalidParameter(
        f"output {path.name!r}: unknown image extension {path.suffix!r} (use {known})"
    )


# Inputs in a lossy format pixelmill reads but does not write (phone photos): JPEG suits
# them; lossless ones (BMP, TIFF) and any with alpha go to PNG.
_LOSSY_READ_ONLY = frozenset({"HEIF"})


def written_like(info: ImageInfo) -> Format:
    """The format a result of this input is written in when nothing names one: the input's
    own when pixelmill writes it, else JPEG for an opaque phone photo (HEIC), else PNG."""
    same = next((fmt for fmt in FORMATS.values() if fmt.reads_as == info.format), None)
    if same is not None:
        return same
    return FORMATS["jpeg" if info.format in _LOSSY_READ_ONLY and not info.alpha else "png"]


def check_encodable(sizes: Sequence[tuple[int, int]], fmt: Format, name: str) -> None:
    """422 before any pixel work when an image of `sizes` cannot be encoded as `fmt`."""
    limit = fmt.max_side
    for width, height in sizes:
        if limit is not None and max(width, height) > limit:
            raise InvalidParameter(
                f"{name}: the chain makes a {width}×{height} image, and {fmt.name.upper()} "
                f"holds at most {limit} pixels a side; choose PNG, or a smaller size"
            )


def reduced_size(info: ImageInfo, scale: int) -> tuple[int, int]:
    """(width, height) of a JPEG decoded at 1/`scale` (libjpeg rounds up)."""
    return -(-info.width // scale), -(-info.height // scale)


def decode(
    data: bytes, info: ImageInfo, mode: Mode = "color", name: str = "image", scale: int = 1
) -> np.ndarray:
    """Decode to an upright sRGB uint8 array: HxW for gray, HxWx3 BGR for colour, HxWx4
    BGRA (straight alpha) when `mode` is "keep" and the image has alpha. "color" and "gray"
    lay alpha over white.

    `scale` 2, 4 or 8 decodes a JPEG at that fraction of its size (shrink on load).
    """
    if scale != 1 and (info.format != "JPEG" or scale not in JPEG_SCALES):
        raise ValueError(f"cannot decode {info.format} at 1/{scale}")
    image = _decode_with_opencv(data, info, mode, scale) if info.plain else None
    if image is None:  # not plain, or OpenCV could not: Pillow says why in its error
        image = _decode_with_pillow(data, info, mode, name, scale)
    width, height = reduced_size(info, scale)
    if image.shape[:2] != (height, width):
        raise UnsupportedImage(
            f"{name}: decoded size {image.shape[1]}×{image.shape[0]} does not match "
            f"its header ({width}×{height})"
        )
    return image


def _decode_with_opencv(data: bytes, info: ImageInfo, mode: Mode, scale: int) -> np.ndarray | None:
    """The fast path, for plain images; None when OpenCV cannot read the data."""
    buffer = np.frombuffer(data, np.uint8)
    if info.alpha:  # PNG or WebP with an alpha channel: BGRA as stored (straight alpha)
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)  # orientation not applied
        if image is None or image.shape[2:] != (4,):
            return None
        if image.dtype == np.uint16:  # 16 bits: the high bytes, as Pillow reads them
            image = np.right_shift(image, 8).astype(np.uint8)
        return _as_mode(_orient(image, info.orientation), mode)
    if mode == "keep":
        mode = "gray" if info.gray else "color"
    # Gray is BT.601 luma from the colour pixels (cv2.cvtColor) for every format but
    # JPEG, whose decoder hands out the luma stored in the file, skipping the colour
    # work, and gray images, whose pixels are the gray already.
    straight_to_gray = mode == "gray" and (info.format == "JPEG" or info.gray)
    flags = cv2.IMREAD_IGNORE_ORIENTATION | (
        _REDUCED[(mode, scale)]
        if scale != 1
        else cv2.IMREAD_GRAYSCALE
        if straight_to_gray
        else cv2.IMREAD_COLOR
    )
    image = cv2.imdecode(buffer, flags)
    if image is None:
        return None
    image = _orient(image, info.orientation)
    if mode == "gray" and not straight_to_gray:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return image


def encode(
    image: np.ndarray,
    fmt: OutputFormat = "png",
    *,
    quality: int = DEFAULT_QUALITY,
    png_compression: int = 1,
    bands: int = 1,
    map_fn: png.MapFn = map,
    background: str = "#ffffff",
    exif: bytes | None = None,
) -> bytes:
    """Encode an array (gray, BGR or BGRA) as PNG, JPEG, WebP, AVIF or GIF.

    A format without alpha gets a BGRA image laid over `background` (#rrggbb). PNG deflate
    runs in `bands` pieces through `map_fn` (an executor's map to use threads). `exif` (TIFF
    bytes, from `exif_of`) is written into PNG, JPEG, WebP and AVIF; without it the output
    carries no metadata at all (no EXIF, no ICC profile: the pixels are sRGB).
    """
    spec = FORMATS[fmt]
    if not spec.alpha:
        image = alpha.flatten(image, background)
    elif spec.takes_quality:  # lossy with alpha: no hidden colour may bleed into the edges
        image = alpha.fill_hidden(image)
    if exif is not None and fmt == "jpeg" and len(exif) > _JPEG_MAX_EXIF:
        log.warning("EXIF of %s bytes left out: JPEG holds at most %s", len(exif), _JPEG_MAX_EXIF)
        exif = None
    if fmt == "png":
        return png.encode(
            image, level=png_compression, bands=bands, map_fn=map_fn, exif=exif or b""
        )
    if fmt == "gif":  # a palette of its own, 1-bit alpha (Pillow)
        return animation.encode([image], [0], 1, "gif")
    if not 1 <= quality <= 100:
        raise InvalidParameter(f"quality must be between 1 and 100, got {quality}")
    params = [
        *([spec.quality_flag, quality] if spec.quality_flag is not None else []),
        *spec.options,
    ]
    if exif:
        metadata = [np.frombuffer(exif, np.uint8)]
        ok, buf = cv2.imencodeWithMetadata(
            spec.extension, image, [cv2.IMAGE_METADATA_EXIF], metadata, params
        )
    else:
        ok, buf = cv2.imencode(spec.extension, image, params)
    if not ok:  # pragma: no cover - OpenCV refuses only shapes we never make
        raise UnsupportedImage(f"cannot encode a {image.shape} image as {fmt}")
    return buf.tobytes()


# --- metadata -------------------------------------------------------------------------------

# JPEG holds EXIF in one APP1 segment: 65,535 bytes less the length field and "Exif\0\0"
_JPEG_MAX_EXIF = 65_535 - 2 - 6
_EXIF_PREFIX = b"Exif\x00\x00"
_TIFF_HEADERS = (b"MM\x00*", b"II*\x00")


def exif_of(data: bytes) -> bytes | None:
    """The input's EXIF block as TIFF bytes, its orientation reset to 1 (decoding turns the
    pixels upright), for an output that keeps the metadata (`strip=false`). None when there
    is none: no EXIF block (GIF, BMP; TIFF, whose tags describe its own layout), or one that
    cannot be read. Reads the header only; the block itself is carried byte for byte."""
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
            block = img.info.get("exif") if img.format != "TIFF" else None
    except Exception:  # `sniff` has read this header already; nothing more to say here
        return None
    if not isinstance(block, bytes):
        return None
    tiff = block.removeprefix(_EXIF_PREFIX)
    return _upright_exif(tiff) if tiff[:4] in _TIFF_HEADERS else None


def _upright_exif(tiff: bytes) -> bytes | None:
    """`tiff` with the orientation of its first directory (IFD0) set to 1, in place, so
    nothing else moves; None when IFD0 lies outside the block."""
    order = ">" if tiff[:2] == b"MM" else "<"
    out = bytearray(tiff)
    try:
        (at,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, at)
    except struct.error:
        return None
    for entry in range(at + 2, min(at + 2 + 12 * count, len(tiff) - 11), 12):
        tag, kind = struct.unpack_from(order + "HH", tiff, entry)
        if tag == _EXIF_ORIENTATION and kind in (3, 4):  # SHORT or LONG, held in the entry
            struct.pack_into(order + ("H" if kind == 3 else "I"), out, entry + 8, 1)
    return bytes(out)


def _orientation(img: Image.Image) -> int:
    if img.format == "PNG" and "exif" not in img.info:
        # No eXIf chunk before the pixels; Pillow's getexif would decode the whole image to
        # look after them, before the pixel limit is checked.
        return 1
    try:
        value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block is not a reason to refuse the pixels
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (the same transforms as Pillow's exif_transpose)."""
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(image), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def _decode_with_pillow(
    data: bytes, info: ImageInfo, mode: Mode, name: str, scale: int = 1
) -> np.ndarray:
    """Whatever Pillow opens: the colours it shows, in sRGB, with their alpha."""
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
            img.seek(0)  # the first frame of an animation
            if scale != 1:  # libjpeg's DCT scaling, as OpenCV's reduced modes do it
                img.draft(None, (max(1, img.width // scale), max(1, img.height // scale)))
            colour, opacity = _pixels(img, data)
            srgb = np.asarray(_to_srgb(colour, _icc_of(img)))
    except Image.DecompressionBombError:
        raise TooLarge(f"{name} is larger than the decoded pixel limit") from None
    except _DAMAGED as exc:
        raise UnsupportedImage(f"{name} cannot be decoded: {exc}") from None
    return _as_mode(_orient(_as_bgr(srgb, opacity), info.orientation), mode)


def _pixels(img: Image.Image, data: bytes) -> tuple[Image.Image, np.ndarray | None]:
    """The colours as Pillow shows them, 8 bits a channel ("L", "RGB", or "CMYK" left for
    the profile), and the alpha (None: opaque)."""
    key = img.info.get("transparency")
    if img.mode.startswith("I;16"):
        # 16-bit gray, scaled (Pillow's convert clips it) and its tRNS gray compared
        # before scaling (Pillow's convert drops it)
        raw = np.asarray(img)
        gray = np.rint(raw.astype(np.float32) * (255 / 65535)).astype(np.uint8)
        keyed = None if key is None else np.where(raw == key, 0, 255).astype(np.uint8)
        return Image.fromarray(gray), keyed
    if key is not None and img.format == "PNG" and img.mode == "RGB" and data[24] == 16:
        # 16-bit RGB with a tRNS colour: Pillow keeps the high bytes and drops the colour;
        # libpng (OpenCV) turns the colour into alpha
        bgra = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if bgra is None or bgra.dtype != np.uint16 or bgra.shape[2:] != (4,):
            raise ValueError("damaged 16-bit PNG data")
        rgba = cv2.cvtColor(np.right_shift(bgra, 8).astype(np.uint8), cv2.COLOR_BGRA2RGBA)
        return Image.fromarray(rgba[:, :, :3]), rgba[:, :, 3]
    if img.mode == "CMYK":
        img.load()
        return img, None
    transparent = img.mode in _ALPHA_MODES or key is not None
    gray = img.mode in _GRAY_MODES or img.mode in ("LA", "La")
    target = "L" if gray else "RGB"
    if not transparent:
        return (img if img.mode == target else img.convert(target)), None
    with_alpha = img.convert(target + "A")  # a tRNS colour or palette entry becomes alpha
    return with_alpha.convert(target), np.asarray(with_alpha.getchannel("A"))


def _to_srgb(colour: Image.Image, icc: _Icc | None) -> Image.Image:
    """`colour` ("L", "RGB" or "CMYK") in sRGB through its profile: "L" stays gray, the
    others become "RGB". Without a profile (or with one LittleCMS cannot use) the pixels
    are taken as sRGB already, and CMYK gets Pillow's plain conversion."""
    profile = _read_profile(icc)
    srgb_already = icc is None or profile is None or profile.srgb
    transform = None if srgb_already else _transform(icc, colour.mode)
    if transform is None:
        return colour.convert("RGB") if colour.mode == "CMYK" else colour
    converted = ImageCms.applyTransform(colour, transform)
    assert converted is not None  # applyTransform returns None only when asked in place
    # a gray profile maps gray to neutral sRGB, which is gray again
    return converted.convert("L") if colour.mode == "L" else converted


def _as_bgr(colour: np.ndarray, opacity: np.ndarray | None) -> np.ndarray:
    """Gray or RGB pixels and their alpha (None: opaque) as a gray, BGR or BGRA array."""
    if opacity is None:
        return colour if colour.ndim == 2 else cv2.cvtColor(colour, cv2.COLOR_RGB2BGR)
    code = cv2.COLOR_GRAY2BGRA if colour.ndim == 2 else cv2.COLOR_RGB2BGRA
    bgra = cv2.cvtColor(colour, code)
    bgra[:, :, 3] = opacity
    return bgra


def _as_mode(image: np.ndarray, mode: Mode) -> np.ndarray:
    """A gray, BGR or BGRA array as `mode` asks (see `decode`): alpha kept, or laid over
    white."""
    if alpha.has_alpha(image):
        if mode == "keep":
            return image
        image = alpha.flatten(image)  # over white
    if mode == "gray" and image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if mode == "color" and image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


def _has_alpha(img: Image.Image) -> bool:
    """Whether the header promises an alpha channel or a transparent colour (tRNS, GIF)."""
    return img.mode in _ALPHA_MODES or "transparency" in img.info


def _png_chunks_whole(data: bytes) -> bool:
    """Whether every chunk of a PNG lies within the file up to its IEND (headers only: a
    few microseconds per chunk)."""
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        at += 12 + length  # length, type, data, CRC
        if at > len(data):
            return False
        if kind == b"IEND":
            return True
    return False


def _is_plain(img: Image.Image, fmt: str, profile: _Profile | None) -> bool:
    """Whether OpenCV decodes the image right as it is (the fast path): gray or RGB without
    a tRNS colour, or a PNG or WebP with an alpha channel (not a palette's or a tRNS gray's,
    which OpenCV reads wrong or not at all), in sRGB or untagged."""
    if fmt not in _OPENCV_FORMATS or (profile is not None and not profile.srgb):
        return False
    if img.mode in ("L", "RGB"):
        return "transparency" not in img.info
    return fmt in ("PNG", "WEBP") and img.mode in ("LA", "RGBA")


# --- ICC profiles ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Icc:
    """An embedded ICC profile, compared and cached by the digest of its bytes."""

    digest: bytes
    data: bytes = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class _Profile:
    """What a profile says of itself: its description and colour space ("RGB", "GRAY"...)."""

    description: str
    space: str

    @property
    def srgb(self) -> bool:
        """sRGB already (by its name: "sRGB IEC61966-2.1", "sRGB built-in"...): nothing to
        convert, so the image can take the fast path."""
        return self.space == "RGB" and "srgb" in self.description.lower()


def _icc_of(img: Image.Image) -> _Icc | None:
    """The image's embedded profile; None when it has none or one too big to be real."""
    data = img.info.get("icc_profile")
    if not data or not isinstance(data, bytes):
        return None
    if len(data) > MAX_ICC_BYTES:
        log.warning(
            "ignoring an ICC profile of %s bytes (more than %s)", f"{len(data):,}", MAX_ICC_BYTES
        )
        return None
    return _Icc(hashlib.blake2b(data, digest_size=16).digest(), data)


@functools.lru_cache(maxsize=256)
def _read_profile(icc: _Icc | None) -> _Profile | None:
    """The profile's header; None (logged) when LittleCMS cannot read it."""
    if icc is None:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc.data)).profile
        description = (profile.profile_description or "").strip()[:200] or "unnamed"
        return _Profile(description, profile.xcolor_space.strip())
    except Exception as exc:  # any blob can arrive here: a profile we cannot read is ignored
        log.warning(
            "ignoring an ICC profile LittleCMS cannot read (%s bytes): %s", len(icc.data), exc
        )
        return None


@functools.lru_cache(maxsize=32)
def _transform(icc: _Icc, mode: str) -> ImageCms.ImageCmsTransform | None:
    """LittleCMS's transform from the profile to sRGB for `mode` ("L", "RGB", "CMYK"),
    built once per profile and mode; None (logged) when it cannot be built, for example
    an RGB profile on a CMYK image."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc.data))
        return ImageCms.buildTransform(
            source, _srgb(), mode, "RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL
        )
    except Exception as exc:  # as in _read_profile: the colours stay as they are
        log.warning("ignoring an ICC profile LittleCMS cannot apply to %s: %s", mode, exc)
        return None


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
