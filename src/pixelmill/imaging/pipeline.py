"""Operation chains: read both spellings, check the whole chain, then run it.

A chain is a list whose items are either strings, `"name"` or `"name=value"` (the seed
style, where the value sets the operation's primary parameter), or objects,
`{"op": "name", "param": value, ...}`; `parse_text` reads the text form of that list (a JSON
array, or comma-separated `name=value` items). The order of work:

    parse_text(text)                    -> items        (text only: /v1/transform, the CLI)
    parse(items)                        -> steps        names and parameters, no pixels
    plan(steps, (w, h), max_pixels)     -> sizes        every image's size, no pixels
    run(steps, images, wanted)          -> images       the pixel work, stopped when unwanted
    output_options(steps)               -> format, quality for the encoder

Every problem is an InvalidParameter (422) naming the step's position in the chain as
written, the operation and the field. `run` makes exactly the sizes `plan` predicts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from pixelmill.errors import InvalidParameter, Stopped
from pixelmill.imaging.ops import OpParams, Size
from pixelmill.imaging.ops.color import GrayscaleParams
from pixelmill.imaging.ops.frames import FrameParams
from pixelmill.imaging.ops.frames import check as check_frame
from pixelmill.imaging.ops.geometry import (
    DprParams,
    FitParams,
    ResizeParams,
    fit_box,
    fit_plan,
    resize_sizes,
    with_dpr,
)
from pixelmill.imaging.ops.output import BackgroundParams, OutputOptions
from pixelmill.imaging.registry import Operation, known_names, lookup, markdown_table

__all__ = [
    "MAX_IMAGES",
    "MAX_STEPS",
    "OutputOptions",
    "Step",
    "gray_on_load",
    "operations_doc",
    "output_options",
    "params_error",
    "parse",
    "parse_text",
    "plan",
    "run",
    "shrink_on_load",
]

MAX_STEPS = 64
# Fan-outs multiply images: four levels of split, and all of them at most this many times
# the per-image pixel limit, bound the memory one chain can take.
MAX_IMAGES = 256
TOTAL_PIXELS_FACTOR = 4


@dataclass(frozen=True)
class Step:
    """One validated operation of a chain; `position` is its place in the chain as written."""

    op: Operation
    params: OpParams
    position: int | None = None

    def describe(self) -> dict[str, Any]:
        """The normalized object form, as responses echo it (unset options left out)."""
        return {"op": self.op.name, **self.params.model_dump(exclude_none=True)}


def parse_text(text: str) -> list[str | dict[str, Any]]:
    """The chain as text: a JSON array when it starts with `[`, else `name=value,name=value`."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items: list[str | dict[str, Any]] = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidParameter(
                f"operations are not valid JSON: {exc.msg} "
                f"at line {exc.lineno}, column {exc.colno} (character {exc.pos + 1})"
            ) from None
        except RecursionError:
            raise InvalidParameter("operations are not valid JSON: nested too deeply") from None
        return items
    if not stripped:
        raise InvalidParameter(
            "no operations given: write name=value items separated by commas, or a JSON array"
        )
    items = [item.strip() for item in stripped.split(",")]
    for position, item in enumerate(items, start=1):
        if not item:
            raise InvalidParameter(
                f"operation {position} is empty (two commas in a row, or a comma at an end)"
            )
    return items


def parse(items: Sequence[str | Mapping[str, Any]], max_steps: int = MAX_STEPS) -> list[Step]:
    """Validate a whole chain; raise InvalidParameter naming the first bad item."""
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidParameter(
            f"operations must be a list of strings and objects, got {type(items).__name__}"
        )
    if len(items) > max_steps:
        raise InvalidParameter(f"too many operations: {len(items)} (the limit is {max_steps})")
    steps = []
    for position, item in enumerate(items, start=1):
        step = _parse_item(item, position)
        if step is not None:
            steps.append(step)
    return _chain_wide(steps)


def _chain_wide(steps: list[Step]) -> list[Step]:
    """Steps that speak for the whole chain, wherever they stand, folded into every fit: the
    last `dpr` multiplies each box, the last `background` colours contain's letterbox (unless
    the fit names its own)."""
    dpr = [step.params.dpr for step in steps if isinstance(step.params, DprParams)]
    colour = [step.params.background for step in steps if isinstance(step.params, BackgroundParams)]
    if not dpr and not colour:
        return steps
    folded = []
    for step in steps:
        params = step.params
        if isinstance(params, FitParams):
            if dpr:
                params = with_dpr(params, dpr[-1])
            if colour and params.background is None:
                params = params.model_copy(update={"background": colour[-1]})
            step = Step(step.op, params, step.position)
        folded.append(step)
    return folded


def plan(
    steps: Sequence[Step],
    size: Size,
    max_pixels: int,
    *,
    max_images: int = MAX_IMAGES,
    max_total_pixels: int | None = None,
    frames: int = 1,
) -> list[Size]:
    """The (width, height) of every image the chain makes from one image of `size` (one
    frame of an animation of `frames`: a `frame=N` step past them is refused).

    Refuses a step after which any image would be over `max_pixels` or under 1×1, the chain
    would hold more than `max_images` images, or all of them more than `max_total_pixels`
    (default: TOTAL_PIXELS_FACTOR × max_pixels). Only sizes are computed, nothing allocated.
    """
    total_limit = TOTAL_PIXELS_FACTOR * max_pixels if max_total_pixels is None else max_total_pixels
    sizes = [size]
    for index, step in enumerate(steps):
        if isinstance(step.params, FrameParams):
            try:
                check_frame(step.params, frames)
            except InvalidParameter as exc:
                raise InvalidParameter(f"{_where(step, index)}: {exc.detail}") from None
        if step.op.output or step.op.size is None:
            continue
        where = _where(step, index)
        try:
            if step.op.combines:
                sizes = step.op.size(sizes, step.params)
            else:
                sizes = [made for one in sizes for made in step.op.size(one, step.params)]
        except InvalidParameter as exc:
            raise InvalidParameter(f"{where}: {exc.detail}") from None
        _check_sizes(sizes, where, max_pixels, max_images, total_limit)
    return sizes


def run(
    steps: Sequence[Step],
    images: list[np.ndarray],
    wanted: Callable[[], bool] | None = None,
) -> list[np.ndarray]:
    """Apply the steps left to right; fan-outs replace an image by its parts in place.

    `wanted` is asked before every step after the first: when it answers False (the
    request's deadline passed, or its client left) the chain stops there with `Stopped`.
    """
    work = [(index, step, step.op.apply) for index, step in enumerate(steps) if step.op.apply]
    for done, (index, step, apply) in enumerate(work):
        if done and wanted is not None and not wanted():
            raise Stopped(
                f"the work was stopped before {_where(step, index)}, step {done + 1} of "
                f"{len(work)}: its time was up or its client had left"
            )
        try:
            if step.op.combines:
                images = [apply(images, step.params)]
                continue
            produced: list[np.ndarray] = []
            for image in images:
                result = apply(image, step.params)
                produced.extend(result if isinstance(result, list) else [result])
            images = produced
        except InvalidParameter as exc:
            raise InvalidParameter(f"{_where(step, index)}: {exc.detail}") from None
    return images


def shrink_on_load(
    steps: Sequence[Step], size: Size, scales: Sequence[int]
) -> tuple[int, list[Step]]:
    """The largest of `scales` a decoder may shrink by, and the chain to run on that image.

    When the chain's first pixel work is a resize or a fit that makes both sides at least that
    many times smaller, the image can be decoded already smaller (JPEG's DCT scaling, as
    libvips, imgproxy and thumbor do); the step then goes from the smaller image to exactly
    the size it would have made from the full one (a fit's box with its dpr already applied,
    contain's inner image and inside's result computed from the full size). Otherwise: scale 1
    and the chain unchanged.
    """
    for index, step in enumerate(steps):
        if step.op.output:
            continue
        if isinstance(step.params, ResizeParams):
            ((width, height),) = resize_sizes(size, step.params)
            exact = [Step(step.op, ResizeParams(width=width, height=height), step.position)]
        elif isinstance(step.params, FitParams):
            width, height, exact = _exact_fit(step, size)
        else:
            break
        for scale in sorted(scales, reverse=True):
            if -(-size[0] // scale) >= width and -(-size[1] // scale) >= height:
                return scale, [*steps[:index], *exact, *steps[index + 1 :]]
        break
    return 1, list(steps)


def _exact_fit(step: Step, size: Size) -> tuple[int, int, list[Step]]:
    """The size a fit scales the image to (cover: the whole image, as if it were scaled
    before the window is cut), and steps that make from any smaller decode what the fit
    makes from `size`."""
    params = step.params
    assert isinstance(params, FitParams)
    plan = fit_plan(size, params)
    box_w, box_h = fit_box(size, params)
    resize_op = lookup("resize")
    assert resize_op is not None
    if plan.window is not None:  # cover: the result is the box whatever the decode's size
        scale = plan.result[0] / plan.window[0]
        exact = params.model_copy(update={"width": box_w, "height": box_h, "dpr": 1})
        return (
            max(1, round(size[0] * scale)),
            max(1, round(size[1] * scale)),
            [Step(step.op, exact, step.position)],
        )
    width, height = plan.scaled
    resized = Step(resize_op, ResizeParams(width=width, height=height), step.position)
    if plan.scaled == plan.result:  # fill, inside, or one side given: a resize
        return width, height, [resized]
    boxed = params.model_copy(update={"width": box_w, "height": box_h, "dpr": 1})
    return width, height, [resized, Step(step.op, boxed, step.position)]


def gray_on_load(steps: Sequence[Step]) -> bool:
    """Whether the image may be decoded straight to gray: the chain's first pixel work, after
    any resizes and fits (but those whose `face` or `smart` gravity looks at colour), is
    `grayscale`.

    Resizing and the gray conversion are both weighted sums of pixels, so they commute up to
    rounding (the result differs by a level or two at most); a JPEG decoder makes gray from
    the luma it holds, skipping the colour channels' upsampling and conversion, in a third of
    the memory. `grayscale` stays in the chain, where a gray image passes it unchanged.
    """
    for step in steps:
        if step.op.output or isinstance(step.params, ResizeParams) or _blind_fit(step):
            continue
        return isinstance(step.params, GrayscaleParams)
    return False


def _blind_fit(step: Step) -> bool:
    """A fit that looks at no pixel to place its window (face and smart look at colour) and
    letterboxes, if at all, in a colour whose gray is the same either way."""
    return isinstance(step.params, FitParams) and step.params.gravity not in ("face", "smart")


def output_options(steps: Sequence[Step]) -> OutputOptions:
    """What the output steps ask for (format, quality, background, strip); the last of
    each wins."""
    asked: dict[str, Any] = {}
    for step in steps:
        if step.op.output and not isinstance(step.params, DprParams):
            asked.update(step.params.model_dump())
    return OutputOptions(**asked)


def params_error(exc: ValidationError, where: str) -> InvalidParameter:
    """A pydantic error turned into one readable sentence naming each bad field."""
    reasons = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # a rule about several fields: the message names them
            reasons.append(message)
            continue
        if "got" not in message:
            message += f" (got {_short(error.get('input'))})"
        name = ".".join(str(part) for part in error["loc"])
        reasons.append(f"{name}: {message}")
    return InvalidParameter(f"{where}: " + "; ".join(reasons))


def operations_doc() -> str:
    """The whole of docs/operations.md: how chains are written, then the operation table."""
    return "# Operations\n\n" + _INTRO + "\n" + markdown_table()


def _parse_item(item: str | Mapping[str, Any], position: int) -> Step | None:
    if isinstance(item, str):
        name, has_value, value = (part.strip() for part in item.partition("="))
        op = _operation(name, position)
        if has_value and value in op.off_values:
            return None
        if not has_value or not value or (op.primary is None and op.off_values):
            raw: dict[str, Any] = {}  # a bare name, or a switch turned on
        elif op.primary is None:
            raise InvalidParameter(
                f"operation {position} ({name}) takes no value, got {_short(value)}"
            )
        else:
            raw = {op.primary: value}
    elif isinstance(item, Mapping):
        raw = dict(item)
        name = raw.pop("op", None)
        if not isinstance(name, str):
            raise InvalidParameter(f'operation {position} has no "op" naming the operation')
        op = _operation(name, position)
    else:
        raise InvalidParameter(
            f"operation {position} must be a string or an object, got {type(item).__name__}"
        )
    try:
        params = op.params.model_validate(raw)
    except ValidationError as exc:
        raise params_error(exc, f"operation {position} ({name})") from None
    return Step(op, params, position)


def _operation(name: str, position: int) -> Operation:
    op = lookup(name)
    if op is None:
        raise InvalidParameter(
            f"operation {position}: unknown operation {_short(name)} (known: {known_names()})"
        )
    return op


def _where(step: Step, index: int) -> str:
    return f"operation {step.position or index + 1} ({step.op.name})"


def _check_sizes(
    sizes: list[Size], where: str, max_pixels: int, max_images: int, total_limit: int
) -> None:
    for width, height in set(sizes):
        if width < 1 or height < 1:
            raise InvalidParameter(
                f"{where}: the result would be {width}×{height} pixels; "
                "every image must be at least 1×1"
            )
        if width * height > max_pixels:
            raise InvalidParameter(
                f"{where}: the result would be {width}×{height} = {width * height:,} pixels; "
                f"the limit is {max_pixels:,}"
            )
    if len(sizes) > max_images:
        raise InvalidParameter(
            f"{where}: the chain would hold {len(sizes):,} images; the limit is {max_images:,}"
        )
    total = sum(width * height for width, height in sizes)
    if total > total_limit:
        raise InvalidParameter(
            f"{where}: the {len(sizes):,} images would hold {total:,} pixels in all; "
            f"the limit for all images of a chain at once is {total_limit:,}"
        )


def _short(value: Any, limit: int = 60) -> str:
    """repr() cut to `limit` characters: error messages echo what the user sent, not all of it."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_INTRO = f"""\
An operation chain is a list of steps run left to right. Each step is written one of two ways:

- **`name=value`** (the seed style): the value sets the operation's primary parameter
  (`resize=2`, `blur=5`, `crop=200x100+10+20`); a bare `name` runs it with its defaults
  (`grayscale`, `split`).
- **An object** naming the operation in `op` and any parameters by name:
  `{{"op": "resize", "width": 640}}`, `{{"op": "rotate", "angle": 30, "background": "#ffffff"}}`.

`POST /pipeline` takes the chain as a JSON list that may mix both spellings;
`POST /v1/transform` and `pixelmill run --ops` take it as text: a JSON array, or `name=value`
items separated by commas (`resize=0.5,grayscale,format=webp`). Names are case-sensitive.

`split` is a switch: `split=None`, `split=false` and `split=False` drop the step; any other
value, or a bare `split`, splits. It is a fan-out: each image is replaced in place by its four
quadrants, so after two splits image i = 4·q1 + q2.

**Output steps** (`format`, `quality`) change no pixel; they tell the caller how to encode the
result. They may stand anywhere in the chain; the last of each wins. `dpr` too stands
anywhere and speaks for the whole chain: it multiplies every `fit` box; and a `background`
step also colours the letterbox of a `fit` in `contain` mode that names no colour itself.

**Fitting to a box** (`fit=WxH[:mode[:gravity]]`) is planned like any other step: its result
size is known before decoding. With a JPEG whose first pixel work is a `resize` or a `fit`
that shrinks both sides at least twice, the JPEG is decoded already at 1/2, 1/4 or 1/8 of its
size, then scaled to exactly the size the full decode would have given.

**Animations** (GIF, WebP, AVIF): a chain runs on every frame, and the result keeps the
frames, their durations and the loop count, written as GIF, WebP or AVIF (the input's format
unless the request names another; PNG and JPEG get the first frame). `split`, `collage`,
`faces`, `caption` and `grid` work on the first frame only, and make a still; `frame=N`
picks frame N (from 0) and the chain runs on that still. All the frames of an animation, in
and out, count against `max_animation_pixels` (frames × width × height).

The whole chain is checked before any pixel is decoded: names, parameters, and the size of
every intermediate and final image. Each image must be within the pixel limit and at least
1×1; a chain may hold at most {MAX_IMAGES} images at a time (four levels of `split`), and all
of them together at most {TOTAL_PIXELS_FACTOR} times the pixel limit. A problem is a 422
naming the step's position, the operation and the field.

Images are 8-bit gray, colour, or colour with alpha (straight, not premultiplied); operations
keep the channels unless they are about them (`grayscale` and `threshold` make colour gray;
`grid`, `faces` and `collage` make gray colour). Each operation below says what it does with
alpha. In short: geometry carries it; `resize`, `blur`, `sharpen` and `rotate` by an angle
that is not a right one work on colour premultiplied by alpha, so the colour hidden under
transparent pixels never bleeds into the edges; tone operations leave it as it is
(`grayscale` and `threshold` keep four channels, the colour ones equal); `grid`, `caption`,
`faces` and `collage` draw opaque: the image is laid over white first and the result has no
alpha. A format without alpha (JPEG) lays the result over `background`, white by default.
"""
