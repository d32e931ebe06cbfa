"""`frame=N`: one frame of an animation.

The frame is picked where the image is decoded (only frames 0 to N are read), so the step
itself changes no pixel; `check` refuses a frame the input does not have from the frame
count in its headers, before anything is decoded.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from pixelmill.errors import InvalidParameter
from pixelmill.imaging.ops import OpParams

MAX_INDEX = 9_999  # animation.MAX_FRAMES - 1: no input has more frames


class FrameParams(OpParams):
    """Which frame of an animation."""

    index: int = Field(
        ge=0,
        le=MAX_INDEX,
        description="The frame, counting from 0; the result is a still. A still image has "
        "frame 0 only.",
    )


def check(params: FrameParams, frames: int) -> None:
    """422 when the input has no frame `params.index`."""
    if params.index >= frames:
        have = "1 frame (0)" if frames == 1 else f"{frames:,} frames (0 to {frames - 1:,})"
        raise InvalidParameter(f"there is no frame {params.index}: the image has {have}")


def frame(image: np.ndarray, params: FrameParams) -> np.ndarray:
    """The image decoded already is the frame asked for."""
    return image
