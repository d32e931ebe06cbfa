"""OPERATIONS: every operation the engine offers, by the name users write.

An operation is a frozen params model and one pure function. Most map one image to one
image (or to several: a fan-out); a `combines` operation takes all the images of the chain
and returns one (the collage); an `output` operation changes no pixel but tells the caller
how to encode the result (format, quality). Operations that change the size have a size
function, so a chain can be planned on sizes alone. Adding an operation is one entry here
and one row in the test table; `markdown_table` renders the table for docs/operations.md
and the API's /docs.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic.fields import FieldInfo

from pixelmill.imaging import codec
from pixelmill.imaging.ops import OpParams, Size
from pixelmill.imaging.ops.blur import BlurParams, blur
from pixelmill.imaging.ops.caption import CaptionParams, caption, caption_sizes
from pixelmill.imaging.ops.collage import CollageParams, collage, layout
from pixelmill.imaging.ops.color import GrayscaleParams, grayscale
from pixelmill.imaging.ops.faces import MAX_DETECT_SIDE, FacesParams, faces, faces_sizes
from pixelmill.imaging.ops.frames import FrameParams, frame
from pixelmill.imaging.ops.geometry import (
    AutorotateParams,
    CropParams,
    DprParams,
    FitParams,
    FlipParams,
    ResizeParams,
    RotateParams,
    SplitParams,
    autorotate,
    crop,
    crop_sizes,
    fit,
    fit_sizes,
    flip,
    resize,
    resize_sizes,
    rotate,
    rotate_sizes,
    split,
    split_sizes,
)
from pixelmill.imaging.ops.grid import GridParams, grid
from pixelmill.imaging.ops.output import (
    BackgroundParams,
    FormatParams,
    QualityParams,
    StripParams,
)
from pixelmill.imaging.ops.sharpen import SharpenParams, sharpen
from pixelmill.imaging.ops.tone import (
    BrightnessParams,
    ContrastParams,
    ThresholdParams,
    brightness,
    contrast,
    threshold,
)

# The seed's spellings of "do not split"; any other value of a switch turns it on.
OFF = frozenset({"None", "false", "False"})


@dataclass(frozen=True)
class Operation:
    """One entry of the registry.

    `primary` is the parameter that `name=value` sets. An operation without one refuses a
    value, unless it has `off_values`: then it is a switch, whose off values drop the step
    and any other value keeps it. `size` maps (width, height) and the params to the sizes
    the operation makes (for a `combines` operation: the list of all sizes to a list of
    one); without it the size is unchanged.
    """

    name: str
    params: type[OpParams]
    apply: Callable[[Any, Any], Any] | None  # None: an output step, which changes no pixel
    summary: str
    primary: str | None = None
    aliases: tuple[str, ...] = ()
    off_values: frozenset[str] = field(default_factory=frozenset)
    combines: bool = False
    size: Callable[[Any, Any], list[Size]] | None = None

    @property
    def output(self) -> bool:
        """An output step (format, quality): it tells the encoder, not the pixels."""
        return self.apply is None


def _collage_size(sizes: list[Size], params: CollageParams) -> list[Size]:
    plan = layout(sizes)
    return [(plan.width, plan.height)]


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "resize",
            ResizeParams,
            resize,
            "Scale by a factor, or to a width and/or height (area averaging when shrinking, "
            "bilinear when enlarging).",
            primary="factor",
            size=resize_sizes,
        ),
        Operation(
            "fit",
            FitParams,
            fit,
            "Fit the image to a box of `width`×`height`: `cover` (the default) fills the box "
            "and crops what overflows at `gravity` (a compass point, `face`, `smart` or a "
            "focal point `fp:x:y`), `contain` fits inside and letterboxes the rest, `fill` "
            "stretches, `inside` fits inside and never enlarges. The string form is "
            "`fit=WxH[:mode[:gravity]]`: `fit=300x200`, `fit=300x`, `fit=x200`, "
            "`fit=300x200:contain`, `fit=300x200:cover:face`, `fit=300x200:cover:fp:0.9:0.5`. "
            "Scaling is `resize`'s (area averaging when shrinking); JPEGs are decoded "
            "already shrunk when a fit is the chain's first pixel work.",
            primary="geometry",
            size=fit_sizes,
        ),
        Operation(
            "split",
            SplitParams,
            split,
            "Make four quadrants of each image: top-left, top-right, bottom-left, "
            "bottom-right. Left and top halves are floor(side / 2) pixels, right and bottom "
            "ones the rest; images narrower or shorter than 2 pixels are refused.",
            aliases=("splitQuadrants",),
            off_values=OFF,
            size=split_sizes,
        ),
        Operation(
            "crop",
            CropParams,
            crop,
            "Cut out a region, clipped to the image; a region starting outside the image is "
            "refused. The string form takes ImageMagick geometry: `crop=WxH+X+Y` or `crop=WxH`.",
            primary="geometry",
            size=crop_sizes,
        ),
        Operation(
            "rotate",
            RotateParams,
            rotate,
            "Rotate clockwise by an angle in degrees; multiples of 90 are exact, other angles "
            "enlarge the canvas and fill the corners with the background (transparent on an "
            "image with alpha, black on others, unless `background` says otherwise).",
            primary="angle",
            size=rotate_sizes,
        ),
        Operation(
            "flip",
            FlipParams,
            flip,
            "Mirror horizontally (left-right), vertically (top-bottom) or both.",
            primary="direction",
        ),
        Operation(
            "autorotate",
            AutorotateParams,
            autorotate,
            "Accepted for compatibility and does nothing: decoding already turns every image "
            "upright by its EXIF orientation.",
            off_values=OFF,
        ),
        Operation(
            "grayscale",
            GrayscaleParams,
            grayscale,
            "Convert to gray (BT.601 luma): one channel, or four when the image has alpha.",
        ),
        Operation(
            "brightness",
            BrightnessParams,
            brightness,
            "Add levels (and optionally multiply first) on every colour channel, clipped to 0-255.",
            primary="offset",
        ),
        Operation(
            "contrast",
            ContrastParams,
            contrast,
            "Multiply the distance of every level from mid-gray (or from the mean).",
            primary="factor",
        ),
        Operation(
            "threshold",
            ThresholdParams,
            threshold,
            "Black and white: luma strictly above the value becomes 255, the rest 0 "
            "(one channel, or four when the image has alpha).",
            primary="value",
        ),
        Operation("blur", BlurParams, blur, "Gaussian blur.", primary="kernel_size"),
        Operation(
            "sharpen",
            SharpenParams,
            sharpen,
            "Unsharp mask: add back the difference between the image and its Gaussian blur.",
            primary="amount",
        ),
        Operation(
            "grid",
            GridParams,
            grid,
            "Red frames on segments brighter than the threshold.",
            primary="segment_size",
        ),
        Operation(
            "caption",
            CaptionParams,
            caption,
            "Write the text in white on a black band added below the image (`overlay`: laid "
            "over its bottom, keeping the size), wrapped by words to the image width; a word "
            "longer than a line is broken, line breaks are kept. The band is the lines (the "
            "font's ascent + descent each) plus the padding above and below. Gray stays "
            "gray. The comma-separated text form of a chain cannot carry a comma in the text: "
            "use the JSON form.",
            primary="text",
            size=caption_sizes,
        ),
        Operation(
            "faces",
            FacesParams,
            faces,
            "Find faces and draw a frame inside each face's box (green by default); the "
            "result is BGR. OpenCV's frontal-face Haar cascade (alt2) on the histogram-"
            "equalized gray image, or a YuNet ONNX model given by `model`; images longer than "
            f"{MAX_DETECT_SIDE:,} px are searched on a copy shrunk to that. The image is "
            "searched as decoded, upright by its EXIF orientation.",
            primary="min_size",
            size=faces_sizes,
        ),
        Operation(
            "collage",
            CollageParams,
            collage,
            "Lay all images out on one canvas, ceil(sqrt(n)) columns.",
            combines=True,
            size=_collage_size,
        ),
        Operation(
            "frame",
            FrameParams,
            frame,
            "Take one frame of an animation (GIF, WebP, AVIF), counting from 0, as it is shown "
            "(drawn over the frames before it); the rest of the chain works on that still. "
            "Wherever it stands in the chain, the frame is picked from the input; with several "
            "`frame` steps the last wins.",
            primary="index",
        ),
        Operation(
            "dpr",
            DprParams,
            None,
            "Device pixel ratio, anywhere in the chain: every `fit` box is multiplied by it, "
            "to the image's size at most (`fit=150x100,dpr=2` gives 300×200). Changes no "
            "pixel by itself.",
            primary="dpr",
        ),
        Operation(
            "format",
            FormatParams,
            None,
            "Output step: encode the result as png, jpeg, webp, avif or gif; `auto` picks from "
            "the request's Accept (AVIF, else WebP, else JPEG, PNG with alpha) and the answer "
            "carries `Vary: Accept`.",
            primary="format",
        ),
        Operation(
            "quality",
            QualityParams,
            None,
            "Output step: JPEG, WebP or AVIF quality of the result.",
            primary="quality",
        ),
        Operation(
            "background",
            BackgroundParams,
            None,
            "Output step: the colour transparent pixels are laid over in a format without "
            "alpha (JPEG); white by default.",
            primary="background",
        ),
        Operation(
            "strip",
            StripParams,
            None,
            "Output step: strip=false keeps the input's EXIF (orientation reset); by default "
            "outputs carry none.",
            primary="strip",
        ),
    )
}


def _formats_and_alpha() -> str:
    """What the output formats do with alpha, from the codec's format table."""

    def either(names: list[str]) -> str:
        spans = [f"`{name}`" for name in names]
        return " or ".join([", ".join(spans[:-1]), spans[-1]] if len(spans) > 1 else spans)

    keep = [name for name, fmt in codec.FORMATS.items() if fmt.alpha]
    flat = [name for name, fmt in codec.FORMATS.items() if not fmt.alpha]
    return (
        f"Written as {either(keep)}, the image keeps its alpha; as {either(flat)} (no alpha) "
        "it is laid over `background`, white by default."
    )


# What each operation does with the alpha of an image that has it (HxWx4 BGRA, straight
# alpha), for the docs; tests/imaging/test_alpha.py checks each claim and that none is missing.
ALPHA: dict[str, str] = {
    "resize": "Resized with the colour: both are averaged with the colour premultiplied by "
    "alpha, so the colour hidden under transparent pixels never shows along the edges.",
    "fit": "Scaled with the colour, as `resize` does (premultiplied, no fringe); cover's "
    "crop keeps the window's alpha; contain's letterbox is transparent on an image with alpha "
    "(unless `background` names a colour), so it stays transparent in PNG, WebP and AVIF and "
    "turns white (or `background`) in JPEG. `face` and `smart` look at the image laid over "
    "white.",
    "split": "Kept: each quadrant has its part of the alpha, unchanged.",
    "crop": "Kept: the region's alpha, unchanged.",
    "rotate": "Turned with the colour: exactly for multiples of 90. Other angles interpolate "
    "premultiplied colour (no dark fringes) and fill the uncovered corners with `background`, "
    "transparent by default; a background with alpha below ff gives a gray or colour image "
    "an alpha channel.",
    "flip": "Mirrored with the colour, unchanged.",
    "autorotate": "Kept (nothing changes).",
    "grayscale": "Kept, unchanged: an image with alpha stays four-channel (BGRA), its three "
    "colour channels equal to the luma.",
    "brightness": "Kept, unchanged; only the colour channels change.",
    "contrast": "Kept, unchanged; `pivot=mean` is the mean luma of what is seen, each pixel "
    "weighed by its alpha.",
    "threshold": "Kept, unchanged: an image with alpha stays four-channel (BGRA), its three "
    "colour channels 0 or 255.",
    "blur": "Blurred with the colour, which is blurred premultiplied by alpha: edges fade "
    "out keeping their colour, with no fringe of the colour hidden under transparent pixels.",
    "sharpen": "Kept, unchanged; the blur it subtracts is taken from the visible pixels only "
    "(premultiplied colour), so transparent neighbours add no halo.",
    "grid": "Dropped: the image is laid over white first (transparent parts count as white "
    "for the threshold) and the result is opaque colour.",
    "caption": "Dropped: the image is laid over white first and the result is opaque colour "
    "(a gray image stays gray).",
    "faces": "Dropped: faces are searched and framed on the image laid over white; the result "
    "is opaque colour.",
    "collage": "Dropped: each image is laid over white, on the black canvas.",
    "frame": "Kept: the frame is decoded with its transparency, as the animation shows it.",
    "format": _formats_and_alpha(),
    "dpr": "None: it changes no pixel (only the size fits make).",
    "quality": "None: it changes no pixel.",
    "background": "The colour a format without alpha lays transparent pixels over.",
    "strip": "None: it changes no pixel.",
}

# Operations that work on the whole image or on several images at once: on an animation they
# work on its first frame and make a still. Every other operation works on each frame.
FIRST_FRAME_ONLY = frozenset({"split", "collage", "faces", "caption", "grid"})
# What each operation does with an animation, where there is more to say than "each frame".
FRAMES: dict[str, str] = {
    **{
        name: "Works on the first frame only; the result is a still."
        for name in sorted(FIRST_FRAME_ONLY)
    },
    "frame": "Picks the frame before any other step; a frame the input does not have is a "
    "422 naming the frame count, before anything is decoded.",
    "fit": "Each frame is fitted to the same box. `face` and `smart` look at each frame, so "
    "on an animation whose subject moves the window moves with it; a compass point or a "
    "focal point keeps it still.",
    "format": "GIF, WebP and AVIF keep an animation: every frame and its duration, and the "
    "loop count (AVIF always loops: Pillow writes no count); PNG and JPEG get its first frame.",
}

_BY_NAME: dict[str, Operation] = {
    name: op for op in OPERATIONS.values() for name in (op.name, *op.aliases)
}


def lookup(name: str) -> Operation | None:
    """The operation called `name` (or one of its aliases), or None."""
    return _BY_NAME.get(name)


def known_names() -> str:
    """Every operation name, aliases in brackets, for error messages."""
    return ", ".join(
        op.name + (f" ({', '.join(op.aliases)})" if op.aliases else "")
        for op in sorted(OPERATIONS.values(), key=lambda op: op.name)
    )


def markdown_table() -> str:
    """The operation table as Markdown: an overview, then every parameter of each operation."""
    lines = [
        "| operation | aliases | `name=value` sets | what it does |",
        "|---|---|---|---|",
    ]
    for op in OPERATIONS.values():
        aliases = ", ".join(f"`{alias}`" for alias in op.aliases)
        lines.append(f"| `{op.name}` | {aliases} | {_value_meaning(op)} | {_cell(op.summary)} |")
    for op in OPERATIONS.values():
        # a plain heading: ReDoc shows a code span in a heading as a literal <code> tag
        lines += ["", f"## {op.name}", "", op.summary]
        notes = [f"- {label}: {texts[op.name]}" for label, texts in _NOTES if op.name in texts]
        lines += ["", *notes] if notes else []
        if op.aliases:
            lines += ["", "Also called " + ", ".join(f"`{a}`" for a in op.aliases) + "."]
        fields = op.params.model_fields
        if not fields:
            lines += ["", "No parameters."]
            continue
        lines += [
            "",
            "| parameter | type | default | range | description |",
            "|---|---|---|---|---|",
        ]
        for name, info in fields.items():
            lines.append(
                f"| `{name}` | {_type_name(info.annotation)} | {_default(info)} "
                f"| {_range(info)} | {_cell(info.description or '')} |"
            )
    return "\n".join(lines) + "\n"


# Per-operation notes under each summary: (label, texts by operation name).
_NOTES: tuple[tuple[str, dict[str, str]], ...] = (("Alpha", ALPHA), ("Animation", FRAMES))


def _value_meaning(op: Operation) -> str:
    if op.primary is not None:
        return f"`{op.primary}`"
    if op.off_values:
        offs = ", ".join(f"`{value}`" for value in sorted(op.off_values))
        return f"on/off: {offs} drop the step"
    return "(takes no value)"


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return "one of " + ", ".join(f"`{value}`" for value in typing.get_args(annotation))
    if isinstance(annotation, types.UnionType):
        names = [_type_name(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        return " or ".join(names)
    plain: dict[Any, str] = {int: "integer", float: "number", str: "string", bool: "boolean"}
    return plain.get(annotation) or str(getattr(annotation, "__name__", annotation))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default is None:
        return "none"
    return f"`{_number(info.default)}`"


def _range(info: FieldInfo) -> str:
    """ "0.05 < x ≤ 100" from the field's bounds (pydantic keeps them as ge/gt/le/lt objects)."""
    low = high = ""
    for item in info.metadata:
        if getattr(item, "pattern", None):
            return _cell(f"matches `{item.pattern}`")
        for bound, text in (("ge", "{} ≤ "), ("gt", "{} < "), ("le", " ≤ {}"), ("lt", " < {}")):
            value = getattr(item, bound, None)
            if value is None:
                continue
            if bound in ("ge", "gt"):
                low = text.format(_number(value))
            else:
                high = text.format(_number(value))
    return f"{low}x{high}" if low or high else ""


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
