"""Image operations, one module per family; each is a frozen params model plus pure functions.

Arrays are uint8: HxW gray, HxWx3 BGR or HxWx4 BGRA. An operation never writes into its
input. Operations that change the size also have a size function, `(width, height)` +
params -> the sizes of the images they would make, so a chain can be checked before any
pixel is decoded; `apply` uses the same function, so the two cannot disagree.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

Size = tuple[int, int]  # (width, height)


class OpParams(BaseModel):
    """Base of every operation's parameters: immutable, unknown names refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def size_of(image: np.ndarray) -> Size:
    """(width, height) of an array."""
    return int(image.shape[1]), int(image.shape[0])
