"""Geometry: resize, fit, split, crop, rotate, flip and autorotate.

Each size-changing operation has a size function, `(width, height)` + params -> the sizes it
makes, and `apply` computes its output size with that very function. Size functions refuse
what cannot be done (a crop outside the image, a split of a 1-pixel-wide image) with
InvalidParameter, so a chain is refused before any pixel is decoded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal, Self

import cv2
import numpy as np
from pydantic import Field, model_validator

from pixelmill.errors import InvalidParameter
from pixelmill.imaging import alpha
from pixelmill.imaging.ops import OpParams, Size, focus, size_of

MAX_SIDE = 1_000_000
# OpenCV's remap, behind warpAffine, needs every side of the source and result below SHRT_MAX.
MAX_WARP_SIDE = 32_766
_GEOMETRY = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*(?:\+\s*(\d+)\s*\+\s*(\d+))?\s*")
_HEX_COLOUR = r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{8})$"


class ResizeParams(OpParams):
    """Scale by a factor, or to a width and/or height."""

    factor: float | None = Field(
        None,
        gt=0.05,
        le=100,
        description="Scale both sides by this factor, 0.05 < factor ≤ 100; "
        "each side is rounded to whole pixels, at least 1.",
    )
    width: int | None = Field(
        None,
        ge=1,
        le=MAX_SIDE,
        description="Width in pixels; given alone, the height follows the aspect ratio.",
    )
    height: int | None = Field(
        None,
        ge=1,
        le=MAX_SIDE,
        description="Height in pixels; given alone, the width follows the aspect ratio. "
        "With both width and height the image is stretched to exactly that size.",
    )

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        by_pixels = self.width is not None or self.height is not None
        if self.factor is None and not by_pixels:
            raise ValueError("give a factor, or a width and/or a height")
        if self.factor is not None and by_pixels:
            raise ValueError("give either a factor or a width/height, not both")
        return self


class SplitParams(OpParams):
    """`split` takes no parameters."""


class CropParams(OpParams):
    """A region: top-left corner and size, clipped to the image."""

    x: int = Field(0, ge=0, le=MAX_SIDE, description="Left edge of the region, in pixels.")
    y: int = Field(0, ge=0, le=MAX_SIDE, description="Top edge of the region, in pixels.")
    width: int | None = Field(
        None,
        ge=1,
        le=MAX_SIDE,
        description="Width of the region; none: up to the right edge. "
        "A region reaching past the image is clipped to it.",
    )
    height: int | None = Field(
        None,
        ge=1,
        le=MAX_SIDE,
        description="Height of the region; none: down to the bottom edge. "
        "A region reaching past the image is clipped to it.",
    )

    @model_validator(mode="before")
    @classmethod
    def _geometry(cls, data: Any) -> Any:
        """`crop=WxH+X+Y` (or `WxH`): the string form's value, as ImageMagick writes it."""
        if not _string_form(data, "x, y, width, height"):
            return data
        text = data["geometry"]
        match = _GEOMETRY.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(
                f"geometry must be WIDTHxHEIGHT or WIDTHxHEIGHT+X+Y, e.g. 200x100+10+20, "
                f"got {text!r:.60}"
            )
        width, height, x, y = match.groups()
        return {"x": x or 0, "y": y or 0, "width": width, "height": height}


class RotateParams(OpParams):
    """Rotate clockwise."""

    angle: float = Field(
        ge=-360,
        le=360,
        description="Degrees clockwise (negative: counter-clockwise). Multiples of 90 are exact "
        "and lossless; other angles enlarge the canvas to hold the whole rotated image, "
        f"and work on images up to {MAX_WARP_SIDE:,} pixels a side.",
    )
    background: str | None = Field(
        None,
        pattern=_HEX_COLOUR,
        description="Colour of the corners an angle that is not a multiple of 90 uncovers: "
        "#RRGGBB (opaque) or #RRGGBBAA; none: transparent on an image with alpha, black on "
        "others. A colour with alpha below ff gives a gray or colour image an alpha channel; "
        "an opaque one on a gray image gives its luma.",
    )


class FlipParams(OpParams):
    """Mirror the image."""

    direction: Literal["horizontal", "vertical", "both"] = Field(
        "horizontal",
        description="horizontal swaps left and right, vertical swaps top and bottom, "
        "both does both (the same as rotate=180).",
    )


class AutorotateParams(OpParams):
    """`autorotate` takes no parameters."""


def _string_form(data: Any, fields: str) -> bool:
    """Whether `data` is the string form's `{"geometry": text}` (and nothing else beside)."""
    if not isinstance(data, dict) or "geometry" not in data:
        return False
    if len(data) > 1:
        raise ValueError(f"give either geometry or {fields}, not both")
    return True


def resize_sizes(size: Size, params: ResizeParams) -> list[Size]:
    width, height = size
    if params.factor is not None:
        return [(max(1, round(width * params.factor)), max(1, round(height * params.factor)))]
    if params.width is not None and params.height is not None:
        return [(params.width, params.height)]
    if params.width is not None:
        return [(params.width, max(1, round(height * params.width / width)))]
    assert params.height is not None
    return [(max(1, round(width * params.height / height)), params.height)]


def resize(image: np.ndarray, params: ResizeParams) -> np.ndarray:
    """Area averaging when shrinking (no aliasing), bilinear when enlarging; on colour
    premultiplied by alpha, so transparent pixels lend their edges no colour."""
    ((width, height),) = resize_sizes(size_of(image), params)
    src_width, src_height = size_of(image)
    if (width, height) == (src_width, src_height):
        return image  # already that size (a JPEG shrunk on load to exactly it)
    shrinking = width <= src_width and height <= src_height
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return alpha.premultiplied(
        image, lambda pixels: cv2.resize(pixels, (width, height), interpolation=interpolation)
    )


def split_sizes(size: Size, params: SplitParams) -> list[Size]:
    """Left and top halves are floor(side / 2), right and bottom ones the rest."""
    width, height = size
    if width < 2 or height < 2:
        raise InvalidParameter(
            f"split needs an image of at least 2×2 pixels to make four quadrants, "
            f"got {width}×{height}"
        )
    left, top = width // 2, height // 2
    right, bottom = width - left, height - top
    return [(left, top), (right, top), (left, bottom), (right, bottom)]


def split(image: np.ndarray, params: SplitParams) -> list[np.ndarray]:
    """Top-left, top-right, bottom-left, bottom-right: copies, not views of the input."""
    split_sizes(size_of(image), params)
    height, width = image.shape[:2]
    x, y = width // 2, height // 2
    return [
        image[:y, :x].copy(),
        image[:y, x:].copy(),
        image[y:, :x].copy(),
        image[y:, x:].copy(),
    ]


def crop_box(size: Size, params: CropParams) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the region clipped to the image; refused when empty."""
    width, height = size
    if params.x >= width or params.y >= height:
        raise InvalidParameter(
            f"the region starts at x={params.x}, y={params.y}, outside the {width}×{height} image"
        )
    right = width if params.width is None else min(width, params.x + params.width)
    bottom = height if params.height is None else min(height, params.y + params.height)
    return params.x, params.y, right, bottom


def crop_sizes(size: Size, params: CropParams) -> list[Size]:
    left, top, right, bottom = crop_box(size, params)
    return [(right - left, bottom - top)]


def crop(image: np.ndarray, params: CropParams) -> np.ndarray:
    left, top, right, bottom = crop_box(size_of(image), params)
    return image[top:bottom, left:right].copy()


def rotate_sizes(size: Size, params: RotateParams) -> list[Size]:
    """Right angles swap or keep the sides; other angles give the rotated bounding box."""
    width, height = size
    turn = _turn(params.angle)
    if turn in (90, 270):
        return [(height, width)]
    if turn in (0, 180):
        return [(width, height)]
    cos, sin = abs(math.cos(math.radians(turn))), abs(math.sin(math.radians(turn)))
    result = (max(1, round(width * cos + height * sin)), max(1, round(width * sin + height * cos)))
    if max(width, height, *result) > MAX_WARP_SIDE:
        raise InvalidParameter(
            f"rotate by {params.angle:g}° works on images up to {MAX_WARP_SIDE:,} pixels a side "
            f"(only multiples of 90° go beyond); {width}×{height} would become "
            f"{result[0]}×{result[1]}"
        )
    return [result]


def rotate(image: np.ndarray, params: RotateParams) -> np.ndarray:
    """Right angles move pixels exactly; other angles interpolate bilinearly, on colour
    premultiplied by alpha, and fill the corners with the background."""
    ((width, height),) = rotate_sizes(size_of(image), params)
    turn = _turn(params.angle)
    if turn == 0:
        return image.copy()
    if turn in (90, 180, 270):
        code = {
            90: cv2.ROTATE_90_CLOCKWISE,
            180: cv2.ROTATE_180,
            270: cv2.ROTATE_90_COUNTERCLOCKWISE,
        }[int(turn)]
        return cv2.rotate(image, code)
    src_height, src_width = image.shape[:2]
    # OpenCV turns counter-clockwise for positive angles; centre the result on the new canvas
    matrix = cv2.getRotationMatrix2D(((src_width - 1) / 2, (src_height - 1) / 2), -turn, 1.0)
    matrix[0, 2] += (width - src_width) / 2
    matrix[1, 2] += (height - src_height) / 2
    blue, green, red, opacity = _background(image, params.background)

    def warp(pixels: np.ndarray, border: tuple[float, ...]) -> np.ndarray:
        return cv2.warpAffine(
            pixels,
            matrix,
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=border,
        )

    if opacity == 255 and alpha.is_opaque(image):
        if image.ndim == 2:
            return warp(image, (round(0.299 * red + 0.587 * green + 0.114 * blue),) * 4)
        return warp(image, (blue, green, red, opacity))
    opaque = alpha.is_opaque(image)
    if not alpha.has_alpha(image):
        image = alpha.with_alpha(image, np.full(image.shape[:2], 255, np.uint8))
    if opaque and opacity == 0:
        return _unpremultiply_rim(warp(image, (0, 0, 0, 0)))
    # premultiplied, as alpha.premultiply makes it: colour × alpha, alpha × 255
    border = (blue * opacity, green * opacity, red * opacity, opacity * 255)
    return alpha.unpremultiply(warp(alpha.premultiply(image), border))


def flip(image: np.ndarray, params: FlipParams) -> np.ndarray:
    return cv2.flip(image, {"horizontal": 1, "vertical": 0, "both": -1}[params.direction])


def autorotate(image: np.ndarray, params: AutorotateParams) -> np.ndarray:
    """Decoding already turns every image upright by its EXIF orientation; nothing is left to do."""
    return image


def _turn(angle: float) -> float:
    """The angle in [0, 360); a tiny negative angle modulo 360 rounds to 360.0, hence twice."""
    return angle % 360 % 360


def _unpremultiply_rim(turned: np.ndarray) -> np.ndarray:
    """An opaque image turned onto transparent black in 8 bits (3x faster than in 16): its
    colour is premultiplied already, since alpha was 255 everywhere, so only the rim the
    interpolation made partly transparent needs dividing by its alpha. Its colour is then
    within 128 / alpha levels of the 16-bit result (half a level of what is seen)."""
    found = cv2.findNonZero(cv2.inRange(cv2.extractChannel(turned, 3), 1, 254))
    if found is None:
        return turned
    cols, rows = found[:, 0, 0], found[:, 0, 1]
    rim = turned[rows, cols].astype(np.float32)
    colour = rim[:, :3] * (255 / rim[:, 3:])
    turned[rows, cols, :3] = np.clip(np.rint(colour), 0, 255)
    return turned


def _background(image: np.ndarray, colour: str | None) -> tuple[int, int, int, int]:
    """(blue, green, red, alpha) of the corners: the colour asked for, else transparent black
    on an image with alpha and opaque black on others."""
    if colour is None:
        return 0, 0, 0, 0 if alpha.has_alpha(image) else 255
    digits = colour.removeprefix("#")
    opacity = int(digits[6:8], 16) if len(digits) == 8 else 255
    return (*alpha.bgr_of(digits[:6]), opacity)


# --- fit -------------------------------------------------------------------------------------

FitMode = Literal["cover", "contain", "fill", "inside"]
MAX_DPR = 8
_FIT = re.compile(r"\s*(\d*)\s*[xX]\s*(\d*)\s*(?::\s*([a-z]+)\s*(?::\s*(.+?)\s*)?)?")


class FitParams(OpParams):
    """Fit the image to a box: cover, contain, fill or inside."""

    width: int | None = Field(
        None,
        ge=1,
        le=MAX_SIDE,
        description="Width of the box in pixels; none: the height alone sets the size and the "
        "width follows the aspect ratio (every mode then gives the same size, `inside` "
        "never more than the image's).",
    )
    height: int | None = Field(
        None,
        ge=1,
        le=MAX_SIDE,
        description="Height of the box in pixels; none: the width alone sets the size.",
    )
    mode: FitMode = Field(
        "cover",
        description="cover: fill the box, cropping what overflows (at `gravity`); contain: fit "
        "inside the box and letterbox the rest with `background`; fill: stretch to the box; "
        "inside: fit inside the box, no letterbox, never enlarged.",
    )
    gravity: str = Field(
        "center",
        pattern=focus.GRAVITY_PATTERN,
        description="Where cover keeps the image: center, north, south, east, west, northeast, "
        "northwest, southeast, southwest; face (every face whole when the box can hold them, "
        "else the largest centred; no face: smart); smart (the most interesting region: edges, "
        "saturation, skin); fp:X:Y, a focal point in fractions of width and height "
        "(fp:0.5:0.5 is the centre).",
    )
    dpr: float = Field(
        1,
        ge=1,
        le=MAX_DPR,
        description="Device pixel ratio: the box is multiplied by it, to the image's size at "
        "most (never less than the box itself). A `dpr=N` step anywhere in the chain "
        "multiplies it for every fit.",
    )
    background: str | None = Field(
        None,
        pattern=_HEX_COLOUR,
        description="contain: the letterbox's colour, #RRGGBB or #RRGGBBAA; none: the chain's "
        "`background` step when it has one, else transparent on an image with alpha and "
        "white on others.",
    )

    @model_validator(mode="before")
    @classmethod
    def _geometry(cls, data: Any) -> Any:
        """`fit=WxH[:mode[:gravity]]`, `fit=300x`, `fit=x200`: the string form's value."""
        if not _string_form(data, "width, height, mode, gravity"):
            return data
        text = data["geometry"]
        match = _FIT.fullmatch(text) if isinstance(text, str) else None
        if match is None or not (match[1] or match[2]):
            raise ValueError(
                "fit must be WIDTHxHEIGHT[:MODE[:GRAVITY]], e.g. 300x200, 300x, x200, "
                f"300x200:contain or 300x200:cover:face, got {text!r:.60}"
            )
        width, height, mode, gravity = match.groups()
        parsed: dict[str, Any] = {"width": width or None, "height": height or None}
        if mode is not None:
            parsed["mode"] = mode
        if gravity is not None:
            parsed["gravity"] = gravity
        return parsed

    @model_validator(mode="after")
    def _a_side(self) -> Self:
        if self.width is None and self.height is None:
            raise ValueError("give a width, a height or both")
        if self.mode != "cover" and self.gravity != "center":
            raise ValueError(f"gravity applies to cover crops, not to mode {self.mode}")
        return self


class DprParams(OpParams):
    """The device pixel ratio every fit box of the chain is multiplied by."""

    dpr: float = Field(
        ge=1,
        le=MAX_DPR,
        description=f"1 to {MAX_DPR}: every `fit` box of the chain is multiplied by it, to the "
        "image's size at most (`fit=150x100,dpr=2` gives 300×200).",
    )


def with_dpr(params: FitParams, dpr: float) -> FitParams:
    """A fit's params with its box multiplied by a chain's `dpr` step as well."""
    return params.model_copy(update={"dpr": min(MAX_DPR, params.dpr * dpr)})


@dataclass(frozen=True)
class FitPlan:
    """How a fit makes its result from an image: the size the image is scaled to (for cover:
    the window cut from the image first), and the size of the result."""

    scaled: Size  # the image's pixels after scaling (cover: the window's, i.e. the result)
    result: Size
    window: Size | None = None  # cover: the part of the image kept, in its pixels


def fit_box(size: Size, params: FitParams) -> tuple[int | None, int | None]:
    """The box times dpr, the factor held to the image's size (and never below 1)."""
    width, height = size
    factor = float(params.dpr)
    if params.width is not None:
        factor = min(factor, width / params.width)
    if params.height is not None:
        factor = min(factor, height / params.height)
    factor = max(1.0, factor)
    return (
        None if params.width is None else min(MAX_SIDE, round(params.width * factor)),
        None if params.height is None else min(MAX_SIDE, round(params.height * factor)),
    )


def fit_plan(size: Size, params: FitParams) -> FitPlan:
    width, height = size
    box_w, box_h = fit_box(size, params)
    if box_w is None or box_h is None:  # one side: the other follows the aspect ratio
        if box_w is not None:
            made = (box_w, _side(height, box_w / width))
        else:
            assert box_h is not None
            made = (_side(width, box_h / height), box_h)
        if params.mode == "inside" and made[0] > width:
            made = size
        return FitPlan(made, made)
    if params.mode == "fill":
        return FitPlan((box_w, box_h), (box_w, box_h))
    if params.mode == "cover":
        # the window: the largest part of the image with the box's aspect ratio
        if width * box_h > height * box_w:
            window = (min(width, max(1, round(height * box_w / box_h))), height)
        else:
            window = (width, min(height, max(1, round(width * box_h / box_w))))
        return FitPlan((box_w, box_h), (box_w, box_h), window)
    scale = min(box_w / width, box_h / height)
    if params.mode == "inside":
        scale = min(scale, 1.0)
    inner = (min(box_w, _side(width, scale)), min(box_h, _side(height, scale)))
    return FitPlan(inner, (box_w, box_h) if params.mode == "contain" else inner)


def fit_sizes(size: Size, params: FitParams) -> list[Size]:
    return [fit_plan(size, params).result]


def fit(image: np.ndarray, params: FitParams) -> np.ndarray:
    """Cover cuts the window at `gravity` and scales it to the box; the other modes scale the
    whole image (contain then letterboxes it). Scaling is `resize`'s, on colour premultiplied
    by alpha."""
    plan = fit_plan(size_of(image), params)
    if plan.window is not None:
        x, y = focus.origin(image, plan.window, params.gravity)
        image = image[y : y + plan.window[1], x : x + plan.window[0]]
    scaled = _scaled(image, plan.scaled)
    if plan.scaled == plan.result:
        return scaled
    return _letterbox(scaled, plan.result, params.background)


def _side(side: int, scale: float) -> int:
    return max(1, round(side * scale))


def _scaled(image: np.ndarray, size: Size) -> np.ndarray:
    if size_of(image) == size:
        return image.copy()
    return resize(image, ResizeParams(width=size[0], height=size[1]))


def _letterbox(image: np.ndarray, size: Size, colour: str | None) -> np.ndarray:
    """`image` centred on a canvas of `size` in `colour` (none: transparent on an image with
    alpha, white on others); a translucent colour gives the canvas alpha."""
    if colour is None:
        colour = "#ffffff00" if alpha.has_alpha(image) else "#ffffff"
    digits = colour.removeprefix("#")
    opacity = int(digits[6:8], 16) if len(digits) == 8 else 255
    blue, green, red = alpha.bgr_of(digits[:6])
    if opacity < 255 and not alpha.has_alpha(image):
        image = alpha.with_alpha(image, np.full(image.shape[:2], 255, np.uint8))
    if image.ndim == 2:
        fill: tuple[int, ...] = (round(0.299 * red + 0.587 * green + 0.114 * blue),)
    else:
        fill = (blue, green, red, opacity)[: image.shape[2]]
    canvas = np.empty((size[1], size[0], *image.shape[2:]), np.uint8)
    canvas[...] = fill
    height, width = image.shape[:2]
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    canvas[top : top + height, left : left + width] = image
    return canvas
