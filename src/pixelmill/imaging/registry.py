"""OPERATIONS: every operation the engine offers, by the name users write.

An operation is a frozen params model and one pure function. Most map one image to one
image (or to several: a fan-out); a `combines` operation takes all the images of the chain
and returns one (the collage). Adding an operation is one entry here and one row in the
test table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pixelmill.imaging.ops import OpParams
from pixelmill.imaging.ops.blur import BlurParams, blur
from pixelmill.imaging.ops.collage import CollageParams, collage
from pixelmill.imaging.ops.color import GrayscaleParams, grayscale
from pixelmill.imaging.ops.grid import GridParams, grid


@dataclass(frozen=True)
class Operation:
    """One entry of the registry."""

    name: str
    params: type[OpParams]
    apply: Callable[[Any, Any], Any]
    summary: str
    primary: str | None = None  # the parameter that "name=value" sets
    aliases: tuple[str, ...] = ()
    off_values: frozenset[str] = field(default_factory=frozenset)  # "name=value" that skips it
    combines: bool = False


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("grayscale", GrayscaleParams, grayscale, "Convert to one-channel gray."),
        Operation("blur", BlurParams, blur, "Gaussian blur.", primary="kernel_size"),
        Operation(
            "grid",
            GridParams,
            grid,
            "Red frames on segments brighter than the threshold.",
            primary="segment_size",
        ),
        Operation(
            "collage",
            CollageParams,
            collage,
            "Lay all images out on one canvas, ceil(sqrt(n)) columns.",
            combines=True,
        ),
    )
}

_BY_NAME: dict[str, Operation] = {
    name: op for op in OPERATIONS.values() for name in (op.name, *op.aliases)
}


def lookup(name: str) -> Operation | None:
    """The operation called `name` (or one of its aliases), or None."""
    return _BY_NAME.get(name)
