"""The segment grid: mean brightness per segment, red frames on the bright ones.

Segments are `segment_size` squares from the top-left corner; the last column and row may be
narrower or shorter and are segments too. A segment is marked when the mean of its luma is
strictly greater than the threshold; a marked segment gets a pure red frame drawn inside its
own bounds (`thickness` px, or the whole segment when it is thinner than two frames).
The frames are opaque, so an image with alpha is laid over white first (its transparent
parts count as white) and the result is BGR.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from pixelmill.imaging import alpha
from pixelmill.imaging.ops import OpParams
from pixelmill.imaging.ops.color import to_bgr, to_gray

RED_BGR = (0, 0, 255)
MAX_SEGMENT = 2**31 - 1


class GridParams(OpParams):
    """Mark bright segments with red frames."""

    segment_size: int = Field(50, ge=1, le=MAX_SEGMENT, description="Segment side in pixels.")
    threshold: float = Field(
        100.0, ge=0, le=255, description="Segments whose mean is strictly above this are framed."
    )
    thickness: int = Field(2, ge=1, le=1000, description="Frame thickness in pixels.")


def segment_sums(gray: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum and pixel count of every segment, as (rows, cols) arrays.

    From OpenCV's integral image: four lookups per segment, 5x faster than summing the
    segments with numpy; exact (32-bit integers while the whole image's sum fits, else
    float64, exact for integers below 2**53).
    """
    height, width = gray.shape
    rows = np.arange(0, height, size)
    cols = np.arange(0, width, size)
    counts = np.outer(np.diff(rows, append=height), np.diff(cols, append=width))
    if gray.dtype != np.uint8:
        sums = np.add.reduceat(np.add.reduceat(gray, rows, axis=0, dtype=np.uint64), cols, 1)
        return sums, counts
    exact_in_int32 = height * width * 255 < 2**31
    integral = cv2.integral(gray, sdepth=cv2.CV_32S if exact_in_int32 else cv2.CV_64F)
    corners = integral[np.append(rows, height)][:, np.append(cols, width)].astype(np.int64)
    sums = corners[1:, 1:] - corners[:-1, 1:] - corners[1:, :-1] + corners[:-1, :-1]
    return sums, counts


def marked_segments(gray: np.ndarray, size: int, threshold: float) -> np.ndarray:
    """Boolean (rows, cols): segments whose mean brightness is strictly above `threshold`."""
    sums, counts = segment_sums(gray, size)
    means: np.ndarray = sums / counts
    return means > threshold


def frame_mask(shape: tuple[int, int], size: int, marked: np.ndarray, thickness: int) -> np.ndarray:
    """Boolean HxW: the frame pixels of the marked segments."""
    row_segment, row_edge = _edges(shape[0], size, thickness)
    col_segment, col_edge = _edges(shape[1], size, thickness)
    inside_marked = marked[row_segment][:, col_segment]
    mask: np.ndarray = inside_marked & (row_edge[:, None] | col_edge[None, :])
    return mask


def draw_grid(
    luma: np.ndarray, canvas: np.ndarray, params: GridParams, out: np.ndarray | None = None
) -> np.ndarray:
    """Frames computed from `luma` (gray), drawn on `canvas` (gray or BGR) into `out` (BGR)."""
    size = min(params.segment_size, max(luma.shape))
    marked = marked_segments(luma, size, params.threshold)
    if out is None:
        out = to_bgr(canvas).copy()
    elif canvas.ndim == 2 and canvas.dtype == np.uint8 and canvas.size:
        _gray_into(canvas, out)
    else:
        out[...] = to_bgr(canvas)
    if marked.any():
        _draw_frames(out, size, marked, params.thickness)
    return out


def _gray_into(gray: np.ndarray, out: np.ndarray) -> None:
    """Gray to BGR straight into `out` (a view, rows may be strided): OpenCV writes it in
    place, 50x faster than numpy's broadcast copy of one channel to three."""
    result = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR, dst=out)
    if not np.shares_memory(result, out):  # OpenCV could not use `out` as it is
        out[...] = result


def _draw_frames(out: np.ndarray, size: int, marked: np.ndarray, thickness: int) -> None:
    """Paint the frame pixels of the marked segments red (the pixels `frame_mask` selects),
    one segment row at a time with slices: a few numpy calls per row of segments instead of
    a boolean mask over every pixel."""
    height, width = out.shape[:2]
    col_segment, col_edge = _edges(width, size, thickness)
    for row, marks in enumerate(marked):
        if not marks.any():
            continue
        top = row * size
        bottom = min(height, top + size)
        columns = marks[col_segment]  # pixels of this row's marked segments
        edge = min(thickness, bottom - top)
        out[top : top + edge, columns] = RED_BGR
        out[max(top, bottom - thickness) : bottom, columns] = RED_BGR
        sides = np.flatnonzero(columns & col_edge)
        if sides.size and bottom - top > 2 * thickness:
            out[top + thickness : bottom - thickness, sides] = RED_BGR


def grid(image: np.ndarray, params: GridParams) -> np.ndarray:
    flat = alpha.flatten(image)
    return draw_grid(to_gray(flat), flat, params)


def _edges(length: int, size: int, thickness: int) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel along one axis: its segment index, and whether it lies on a frame."""
    index = np.arange(length)
    segment = index // size
    offset = index - segment * size
    segment_length = np.minimum(size, length - segment * size)
    return segment, (offset < thickness) | (offset >= segment_length - thickness)
