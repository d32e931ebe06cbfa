"""Bytes <-> arrays.

Decoding is done in two steps so that the cheap checks come first: `sniff` reads only the
header (format by content, never by file name; size; EXIF orientation) and enforces the
pixel limit, then `decode` does the pixel work. Arrays are OpenCV's: uint8, BGR order for
colour, one channel for gray, always upright (EXIF orientation applied).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pixelmill.errors import EmptyUpload, InvalidParameter, TooLarge, UnsupportedImage
from pixelmill.imaging import alpha, png

# Formats we accept, as Pillow names them; sniffing tries no other plugin, so a text file
# cannot pass for a headerless format such as TGA.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
# Formats OpenCV decodes itself (faster, and straight to gray for JPEG); others go to Pillow.
_OPENCV_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF"})
_EXIF_ORIENTATION = 0x0112
# Pillow's modes of one-channel gray images (1-bit, 8-bit, 16-bit and 32-bit)
_GRAY_MODES = frozenset({"1", "L", "I", "I;16", "I;16B", "I;16L", "F"})

# Our own pixel limit is checked right after the header is read; Pillow's bomb warning
# would only repeat it.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

# "keep": gray when the input is gray (one channel), else colour
Mode = Literal["gray", "color", "keep"]
OutputFormat = Literal["png", "jpeg", "webp"]


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the header says: format, upright size, EXIF orientation (1 = upright), and
    whether the pixels are gray."""

    format: str
    width: int
    height: int
    orientation: int = 1
    gray: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height


def check_bytes(size: int, limit: int, name: str) -> None:
    """Refuse an upload that is empty or larger than `limit` bytes."""
    if size == 0:
        raise EmptyUpload(f"{name} is empty (0 bytes)")
    if size > limit:
        raise TooLarge(f"{name} is {size:,} bytes; the limit is {limit:,} bytes")


def sniff(data: bytes, *, max_pixels: int, name: str = "image") -> ImageInfo:
    """Read the header only: format by content, upright size, orientation; check the limit."""
    if not data:
        raise EmptyUpload(f"{name} is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
            fmt = img.format or "unknown"
            width, height = img.size
            gray = img.mode in _GRAY_MODES
            # libtiff turns a TIFF upright as it reads it, under OpenCV and under Pillow
            # (whose size is already the upright one): nothing is left to apply
            orientation = 1 if fmt == "TIFF" else _orientation(img)
    except Image.DecompressionBombError:
        raise TooLarge(
            f"{name} is larger than the decoded pixel limit of {max_pixels:,} pixels"
        ) from None
    except UnidentifiedImageError:
        raise UnsupportedImage(
            f"{name} is not an image in a supported format ({', '.join(ACCEPTED_FORMATS)})"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnsupportedImage(f"{name} has a damaged header: {exc}") from None
    if width < 1 or height < 1:
        raise UnsupportedImage(f"{name} has no pixels ({width}×{height})")
    if width * height > max_pixels:
        raise TooLarge(
            f"{name} is {width}×{height} = {width * height:,} pixels; "
            f"the limit is {max_pixels:,} pixels"
        )
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(fmt, width, height, orientation, gray)


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


def written_like(info: ImageInfo) -> Format | None:
    """The format an input is in, when pixelmill writes it too."""
    return next((fmt for fmt in FORMATS.values() if fmt.reads_as == info.format), None)


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
    """Decode to an upright uint8 array: HxW for gray, HxWx3 BGR for colour.

    `scale` 2, 4 or 8 decodes a JPEG at that fraction of its size (shrink on load).
    """
    image = None
    if scale != 1 and (info.format != "JPEG" or scale not in JPEG_SCALES):
        raise ValueError(f"cannot decode {info.format} at 1/{scale}")
    if mode == "keep":
        mode = "gray" if info.gray else "color"
    if info.format in _OPENCV_FORMATS:
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
        image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
        if image is not None:
            image = _orient(image, info.orientation)
            if mode == "gray" and not straight_to_gray:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image is None:
        if scale != 1:
            raise UnsupportedImage(f"{name} cannot be decoded (damaged JPEG data)")
        image = _decode_with_pillow(data, mode, name)
    width, height = reduced_size(info, scale)
    if image.shape[:2] != (height, width):
        raise UnsupportedImage(
            f"{name}: decoded size {image.shape[1]}×{image.shape[0]} does not match "
            f"its header ({width}×{height})"
        )
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
) -> bytes:
    """Encode an array (gray, BGR or BGRA) as PNG, JPEG or WebP.

    A format without alpha gets a BGRA image laid over `background` (#rrggbb). PNG deflate
    runs in `bands` pieces through `map_fn` (an executor's map to use threads).
    """
    if not FORMATS[fmt].alpha:
        image = alpha.flatten(image, background)
    if fmt == "png":
        return png.encode(image, level=png_compression, bands=bands, map_fn=map_fn)
    if not 1 <= quality <= 100:
        raise InvalidParameter(f"quality must be between 1 and 100, got {quality}")
    spec = FORMATS[fmt]
    params = [
        *([spec.quality_flag, quality] if spec.quality_flag is not None else []),
        *spec.options,
    ]
    ok, buf = cv2.imencode(spec.extension, image, params)
    if not ok:  # pragma: no cover - OpenCV refuses only shapes we never make
        raise UnsupportedImage(f"cannot encode a {image.shape} image as {fmt}")
    return buf.tobytes()


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


def _decode_with_pillow(data: bytes, mode: Mode, name: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as img:
            img.seek(0)  # the first frame of an animation
            upright = ImageOps.exif_transpose(img)
            converted = upright.convert("RGB")
    except Image.DecompressionBombError:
        raise TooLarge(f"{name} is larger than the decoded pixel limit") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnsupportedImage(f"{name} cannot be decoded: {exc}") from None
    bgr = cv2.cvtColor(np.asarray(converted), cv2.COLOR_RGB2BGR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if mode == "gray" else bgr
