"""Output steps and the one output policy.

`format` and `quality` steps change no pixel; they say how to encode the result. `choose`
decides the encoding of every surface (`/v1/transform`, `/pipeline`, `pixelmill run`,
captions, faces) from three sources, in this order:

1. what the request itself names: a form field, a command-line option, an output file's
   extension, or the one format a surface stores (captions are JPEG);
2. the chain's output steps (`format=webp`, `quality=80`; the last of each wins);
3. the input: results are written in the input's format when pixelmill writes it
   (JPEG, PNG, WebP, AVIF, GIF), else as JPEG for an opaque phone photo (HEIC) and PNG for
   the rest (BMP, TIFF, anything with alpha); the format's default quality (90; AVIF 80,
   which looks like JPEG 90). An animation stays one when that format animates (GIF, WebP,
   AVIF); PNG and JPEG get its first frame.

`format=auto` (a step, or the format a request names) picks from the request's `Accept`
(`accept`): AVIF when it names image/avif, else WebP when it names image/webp, else JPEG, or
PNG when the image has alpha (GIF when it is an animation). The answer then depends on a
request header, so `Output.negotiated` is set and the caller must send `Vary: Accept`.

Two more output steps say what the encoder does beside the format: `background` (the colour a
format without alpha, JPEG, is laid over; white by default) and `strip` (false keeps the
input's EXIF, its orientation reset; by default no output carries EXIF).

When the request and the chain both name a format, or both a quality, and they differ, the
answer is a 422 saying so, never a silent pick of one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, field_validator

from pixelmill.errors import InvalidParameter
from pixelmill.imaging import codec
from pixelmill.imaging.ops import OpParams

AUTO: Literal["auto"] = "auto"
# one Literal, not a union with OutputFormat: pydantic then names every choice in one sentence
Asked = Literal["png", "jpeg", "webp", "gif", "avif", "auto"]


class FormatParams(OpParams):
    """The encoding of the result."""

    format: Asked = Field(
        description="png, jpeg (jpg is the same), webp, avif or gif; upper case is accepted. "
        "auto: AVIF when the request's Accept names image/avif, else WebP when it names "
        "image/webp, else JPEG (PNG when the image has alpha, GIF for an animation); the "
        "answer then carries `Vary: Accept`."
    )

    @field_validator("format", mode="before")
    @classmethod
    def _normalise(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return codec.ALIASES.get(value, value)
        return value


HEX_COLOUR = r"^#?([0-9a-fA-F]{6})$"


class BackgroundParams(OpParams):
    """The colour transparent pixels are laid over when the format has no alpha."""

    background: str = Field(
        pattern=HEX_COLOUR,
        description="#RRGGBB: the colour under transparent pixels in a format without alpha "
        "(JPEG); default white. Formats with alpha (PNG, WebP, AVIF, GIF) keep the transparency.",
    )


class StripParams(OpParams):
    """Whether the output leaves the input's metadata out."""

    strip: bool = Field(
        True,
        description="true (the default): the output carries no EXIF (GPS included); false "
        "keeps the input's EXIF, with its orientation reset to 1 (orientation is always "
        "applied to the pixels first).",
    )


class QualityParams(OpParams):
    """The quality of lossy encodings."""

    quality: int = Field(
        ge=1,
        le=100,
        description="JPEG, WebP and AVIF quality, 1 to 100; PNG (lossless) and GIF ignore it.",
    )


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """What the output steps of a chain ask for; None: nothing asked."""

    format: Asked | None = None
    quality: int | None = None
    background: str | None = None
    strip: bool | None = None


DEFAULT_BACKGROUND = "#ffffff"


@dataclass(frozen=True, slots=True)
class Output:
    """How a result is encoded: the format, the quality of lossy formats, the colour a
    format without alpha lays transparent pixels over, and whether EXIF is left out."""

    format: codec.Format
    quality: int = codec.DEFAULT_QUALITY
    background: str = DEFAULT_BACKGROUND
    strip: bool = True
    negotiated: bool = False  # picked from Accept (format=auto): send `Vary: Accept`


def choose(
    chain: OutputOptions,
    *,
    format: str | None = None,
    quality: int | None = None,
    input: codec.ImageInfo | None = None,
    asked_by: str = "the request",
    accept: str | None = None,
) -> Output:
    """The output for a request that names `format`/`quality` (None: nothing named), runs a
    chain whose output steps are `chain`, on an image whose header is `input`; `accept` is the
    request's Accept header, for `format=auto`."""
    named = _named(format)
    if named is not None and chain.format is not None and named != chain.format:
        raise InvalidParameter(
            f"{asked_by} asks for {named}, but the chain asks for format={chain.format}; "
            "name one of them"
        )
    if quality is not None and chain.quality is not None and quality != chain.quality:
        raise InvalidParameter(
            f"{asked_by} asks for quality {quality}, but the chain asks for "
            f"quality={chain.quality}; name one of them"
        )
    wanted = named or chain.format
    negotiated = wanted == AUTO
    fmt = (
        (negotiate(accept, input) if negotiated else None)
        or (codec.FORMATS[wanted] if wanted is not None and wanted != AUTO else None)
        or (codec.written_like(input) if input is not None else None)
        or codec.FORMATS["png"]
    )
    chosen_quality = quality if quality is not None else chain.quality
    return Output(
        fmt,
        fmt.default_quality if chosen_quality is None else chosen_quality,
        "#" + (chain.background or DEFAULT_BACKGROUND).removeprefix("#").lower(),
        chain.strip if chain.strip is not None else True,
        negotiated,
    )


def negotiate(accept: str | None, input: codec.ImageInfo | None) -> codec.Format:
    """`format=auto`: AVIF when `accept` names image/avif, else WebP when it names image/webp,
    else GIF for an animation, PNG for an image with alpha and JPEG for the rest."""
    for name in ("avif", "webp"):
        if accept is not None and names(accept, codec.FORMATS[name].media_type):
            return codec.FORMATS[name]
    if input is not None and input.frames > 1:
        return codec.FORMATS["gif"]
    return codec.FORMATS["png" if input is not None and input.alpha else "jpeg"]


def names(accept: str, media_type: str) -> bool:
    """Whether the Accept header names `media_type` itself (not through `image/*` or `*/*`,
    which every browser sends) with a q above 0."""
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() != media_type:
            continue
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def _named(format: str | None) -> Asked | None:
    """The format a request names, normalised (jpg is jpeg); a 422 for an unknown one."""
    if format is None:
        return None
    if format.strip().lower() == AUTO:
        return AUTO
    return codec.output_format(format).name
