"""The collage: gray, blur and grid per image, laid out on a black canvas.

`layout` places n images in ceil(sqrt(n)) columns, left to right and top to bottom; every
cell is as wide as the widest image and as tall as the tallest, each image at its cell's
top-left corner, with no resampling. `render_cell` is the fast path of the collage surface:
blur and grid in horizontal bands that line up with segment rows, so that each band can run
on its own thread and write straight into the canvas.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import Field, field_validator

from pixelmill.imaging import alpha
from pixelmill.imaging.ops import OpParams
from pixelmill.imaging.ops.blur import MAX_KERNEL, BlurParams, blur
from pixelmill.imaging.ops.color import to_bgr
from pixelmill.imaging.ops.grid import MAX_SEGMENT, GridParams, draw_grid

MapFn = Callable[[Callable[[tuple[int, int]], None], Iterable[tuple[int, int]]], Iterator[None]]


class CollageParams(OpParams):
    """`collage` lays the images out on one canvas; it takes no parameters."""


class CollageRequest(OpParams):
    """The parameters of `POST /process` and `pixelmill collage`."""

    kernel_size: int = Field(
        5, ge=1, le=MAX_KERNEL, description="Gaussian kernel side: an odd number from 1 to 255."
    )
    segment_size: int = Field(
        50, ge=1, le=MAX_SEGMENT, description="Segment side in pixels, at least 1."
    )
    brightness_threshold: float = Field(
        100.0, ge=0, le=255, description="Segments with a mean strictly above this get a frame."
    )
    frame_thickness: int = Field(2, ge=1, le=1000, description="Frame thickness in pixels.")

    @field_validator("kernel_size")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {value}")
        return value

    @property
    def blur(self) -> BlurParams:
        return BlurParams(kernel_size=self.kernel_size)

    @property
    def grid(self) -> GridParams:
        return GridParams(
            segment_size=self.segment_size,
            threshold=self.brightness_threshold,
            thickness=self.frame_thickness,
        )


@dataclass(frozen=True, slots=True)
class Layout:
    """Canvas size and the top-left corner (x, y) of each image."""

    width: int
    height: int
    corners: tuple[tuple[int, int], ...]


def layout(sizes: Sequence[tuple[int, int]]) -> Layout:
    """Grid placement for images of the given (width, height), in order."""
    if not sizes:
        raise ValueError("a collage needs at least one image")
    columns = math.ceil(math.sqrt(len(sizes)))
    rows = math.ceil(len(sizes) / columns)
    cell_w = max(w for w, _ in sizes)
    cell_h = max(h for _, h in sizes)
    corners = tuple(((i % columns) * cell_w, (i // columns) * cell_h) for i in range(len(sizes)))
    return Layout(columns * cell_w, rows * cell_h, corners)


def collage(images: Sequence[np.ndarray], params: CollageParams) -> np.ndarray:
    """Place the images (gray, colour, or colour with alpha laid over white) on a black BGR
    canvas."""
    plan = layout([(img.shape[1], img.shape[0]) for img in images])
    canvas = np.zeros((plan.height, plan.width, 3), np.uint8)
    for img, (x, y) in zip(images, plan.corners, strict=True):
        canvas[y : y + img.shape[0], x : x + img.shape[1]] = to_bgr(alpha.flatten(img))
    return canvas


def render_cell(
    gray: np.ndarray,
    out: np.ndarray,
    params: CollageRequest,
    *,
    bands: int = 1,
    map_fn: MapFn = map,
) -> None:
    """Blur `gray` and draw its grid into `out` (HxWx3 BGR), in `bands` segment-aligned bands.

    Each band is blurred with `radius` rows of real context above and below it, so the bands
    put together are exactly the whole image blurred at once.
    """
    height = gray.shape[0]
    blur_params, grid_params = params.blur, params.grid
    size = min(params.segment_size, max(gray.shape))
    radius = blur_params.radius

    def band(rows: tuple[int, int]) -> None:
        top, bottom = rows
        lo, hi = max(0, top - radius), min(height, bottom + radius)
        blurred = blur(gray[lo:hi], blur_params)[top - lo : bottom - lo]
        draw_grid(blurred, blurred, grid_params, out=out[top:bottom])

    for _ in map_fn(band, _bands(height, size, bands)):
        pass


def _bands(height: int, size: int, count: int) -> list[tuple[int, int]]:
    segment_rows = math.ceil(height / size)
    count = max(1, min(count, segment_rows))
    cuts = [round(i * segment_rows / count) * size for i in range(count + 1)]
    cuts[-1] = height
    return [(top, bottom) for top, bottom in itertools.pairwise(cuts) if top < bottom]
