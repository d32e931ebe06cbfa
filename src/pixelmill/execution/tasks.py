"""Work that runs inside worker processes, and the shared canvas it writes into.

Large arrays do not travel through pickling: the API process allocates the collage canvas
in shared memory, each worker decodes its image and renders its cell straight into it, and
only the compressed input bytes and a few numbers cross the process boundary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from pixelmill.execution.pools import band_threads
from pixelmill.imaging import codec
from pixelmill.imaging.ops.collage import CollageRequest, render_cell


@dataclass(frozen=True, slots=True)
class CanvasRef:
    """How a worker finds the shared canvas: the segment's name and the array's shape."""

    name: str
    shape: tuple[int, int, int]


@contextmanager
def shared_canvas(width: int, height: int) -> Iterator[tuple[CanvasRef, np.ndarray]]:
    """A black HxWx3 uint8 canvas in shared memory, removed on exit; views must not outlive it."""
    shape = (height, width, 3)
    segment = shared_memory.SharedMemory(create=True, size=max(1, height * width * 3))
    try:
        yield CanvasRef(segment.name, shape), np.ndarray(shape, np.uint8, buffer=segment.buf)
    finally:
        _close(segment)
        segment.unlink()


@contextmanager
def attach(ref: CanvasRef) -> Iterator[np.ndarray]:
    """A worker's view of the canvas; the view must not outlive the block."""
    segment = shared_memory.SharedMemory(name=ref.name)
    try:
        yield np.ndarray(ref.shape, np.uint8, buffer=segment.buf)
    finally:
        _close(segment)


def _close(segment: shared_memory.SharedMemory) -> None:
    # A view may still be alive (an exception holds its frame); the mapping goes with it.
    with suppress(BufferError):
        segment.close()


def render_collage_cell(
    canvas: CanvasRef,
    corner: tuple[int, int],
    data: bytes,
    info: codec.ImageInfo,
    params: CollageRequest,
    name: str,
) -> None:
    """Decode one image to gray and render its blurred, framed cell into the canvas."""
    gray = codec.decode(data, info, "gray", name)
    count, threads = band_threads()
    x, y = corner
    with attach(canvas) as array:
        cell = array[y : y + info.height, x : x + info.width]
        if threads is None:
            render_cell(gray, cell, params)
        else:
            render_cell(gray, cell, params, bands=count, map_fn=threads.map)
        del cell, array
