"""Output steps: `format` and `quality` change no pixel; they say how to encode the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from pixelmill.imaging.codec import OutputFormat
from pixelmill.imaging.ops import OpParams


class FormatParams(OpParams):
    """The encoding of the result."""

    format: OutputFormat = Field(
        description="png, jpeg (jpg is the same) or webp; upper case is accepted."
    )

    @field_validator("format", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return "jpeg" if value == "jpg" else value
        return value


class QualityParams(OpParams):
    """The quality of lossy encodings."""

    quality: int = Field(
        ge=1,
        le=100,
        description="JPEG and WebP quality, 1 to 100; PNG is lossless and ignores it.",
    )


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """What the output steps of a chain ask for; None: the caller's default."""

    format: OutputFormat | None = None
    quality: int | None = None


def keep(image: np.ndarray, params: OpParams) -> np.ndarray:
    """Output steps leave the pixels alone (the pipeline does not even call this)."""
    return image
