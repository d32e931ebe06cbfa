"""Operation chains on images: server-side files (POST /pipeline, `pixelmill run`) and uploads
(POST /v1/transform).

Everything that can be checked without decoding is checked for every image before any worker
starts: the chain, the paths, the byte size, the header (format, pixel limit) and the size of
every image the chain will make. Then each image goes to its own worker process, which
decodes it, runs the chain, encodes and (for files) writes the results atomically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pixelmill.config import Settings
from pixelmill.errors import InvalidParameter
from pixelmill.execution.pools import Pools
from pixelmill.imaging import codec, pipeline
from pixelmill.imaging.pipeline import Step
from pixelmill.storage.files import write_atomically

EXTENSIONS: dict[str, codec.OutputFormat] = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".webp": "webp",
}
DEFAULT_QUALITY = 90


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits a chain runs under (from the settings)."""

    max_bytes: int
    max_pixels: int
    max_output_pixels: int
    png_compression: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_pixels,
            max_output_pixels=settings.max_output_pixels,
            png_compression=settings.png_compression,
        )


@dataclass(frozen=True, slots=True)
class Checked:
    """One input that passed every check: its bytes, header and the images it gives."""

    name: str
    data: bytes
    info: codec.ImageInfo
    sizes: tuple[tuple[int, int], ...]


def format_for(path: Path) -> codec.OutputFormat:
    """The output format a file name asks for, by its extension."""
    try:
        return EXTENSIONS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(EXTENSIONS)
        raise InvalidParameter(
            f"output {path.name!r}: unknown image extension {path.suffix!r} (use {known})"
        ) from None


def numbered(target: Path, count: int) -> list[Path]:
    """The files one input writes: `target` itself, or `<stem>_<i><ext>` when it fans out."""
    if count == 1:
        return [target]
    return [target.with_name(f"{target.stem}_{i}{target.suffix}") for i in range(count)]


def check(
    name: str,
    data: bytes,
    steps: Sequence[Step],
    limits: Limits,
    fmt: codec.OutputFormat | None = None,
) -> Checked:
    """Size, header and planned output sizes of one input (encodable as `fmt`, when given);
    no decoding."""
    codec.check_bytes(len(data), limits.max_bytes, name)
    info = codec.sniff(data, max_pixels=limits.max_pixels, name=name)
    sizes = pipeline.plan(steps, (info.width, info.height), limits.max_output_pixels)
    if fmt is not None:
        codec.check_encodable(sizes, fmt, name)
    return Checked(name, data, info, tuple(sizes))


def quality_of(steps: Sequence[Step], default: int = DEFAULT_QUALITY) -> int:
    options = pipeline.output_options(steps)
    return options.quality if options.quality is not None else default


# --- in worker processes -------------------------------------------------------------------


def transform(
    item: Checked, steps: Sequence[Step], fmt: codec.OutputFormat, quality: int, png_level: int
) -> list[bytes]:
    """Decode (JPEGs shrunk on load when the chain starts by shrinking, and decoded straight
    to gray when it turns gray before other work), run, encode."""
    scale, chain = 1, list(steps)
    mode: codec.Mode = "color"
    if item.info.format == "JPEG":
        size = (item.info.width, item.info.height)
        scale, chain = pipeline.shrink_on_load(steps, size, codec.JPEG_SCALES)
        mode = "gray" if pipeline.gray_on_load(chain) else "color"
    image = codec.decode(item.data, item.info, mode, item.name, scale=scale)
    results = pipeline.run(chain, [image])
    return [
        codec.encode(result, fmt, quality=quality, png_compression=png_level) for result in results
    ]


def transform_to_files(
    item: Checked,
    steps: Sequence[Step],
    target: Path,
    quality: int,
    png_level: int,
) -> list[Path]:
    """`transform`, written to `target` (numbered when the chain fans out), atomically."""
    encoded = transform(item, steps, format_for(target), quality, png_level)
    paths = numbered(target, len(encoded))
    for path, data in zip(paths, encoded, strict=True):
        write_atomically(path, data)
    return paths


def check_and_transform_file(
    source: Path,
    target: Path,
    steps: Sequence[Step],
    limits: Limits,
    quality: int,
    name: str | None = None,
) -> list[Path]:
    """Everything in the worker: read, check, transform, write (`name` in errors: the path)."""
    item = check_file(source, steps, limits, name, format_for(target))
    return transform_to_files(item, steps, target, quality, limits.png_compression)


def check_file(
    source: Path,
    steps: Sequence[Step],
    limits: Limits,
    name: str | None = None,
    fmt: codec.OutputFormat | None = None,
) -> Checked:
    """`check` of a file, its size taken from the file system before anything is read."""
    label = name or str(source)
    codec.check_bytes(source.stat().st_size, limits.max_bytes, label)
    return check(label, source.read_bytes(), steps, limits, fmt)


# --- in the API process --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileJob:
    """One input file and where its results go (both already confined to the files root)."""

    input: str
    source: Path
    target: Path


async def run_files(
    pools: Pools, jobs: Sequence[FileJob], steps: Sequence[Step], limits: Limits
) -> list[list[Path]]:
    """Check every job, then run them all in parallel; the files each one wrote, in order."""
    options = pipeline.output_options(steps)
    for job in jobs:
        fmt = format_for(job.target)
        if options.format is not None and options.format != fmt:
            raise InvalidParameter(
                f"output {job.target.name!r} is {fmt} by its extension, "
                f"but the chain asks for format={options.format}"
            )
    # Every input is checked before any is processed, a few at a time on the API process's
    # threads, keeping no bytes: each worker reads its own file again (from the page cache),
    # so no image crosses between processes and memory does not grow with the request.
    await asyncio.gather(
        *(
            pools.run_local(_check_only, job.source, steps, limits, job.input, job.target)
            for job in jobs
        )
    )
    quality = quality_of(steps)
    return list(
        await asyncio.gather(
            *(
                pools.run(
                    check_and_transform_file,
                    job.source,
                    job.target,
                    steps,
                    limits,
                    quality,
                    job.input,
                )
                for job in jobs
            )
        )
    )


def _check_only(
    source: Path, steps: Sequence[Step], limits: Limits, name: str, target: Path
) -> None:
    check_file(source, steps, limits, name, format_for(target))


async def run_upload(
    pools: Pools,
    name: str,
    data: bytes,
    steps: Sequence[Step],
    limits: Limits,
    fmt: codec.OutputFormat | None,
    quality: int | None,
) -> tuple[codec.OutputFormat, list[bytes]]:
    """Check one upload, run the chain in a worker; the format used and the encoded results."""
    item = check(name, data, steps, limits)
    options = pipeline.output_options(steps)
    chosen = fmt or options.format or input_format(item.info)
    codec.check_encodable(item.sizes, chosen, name)
    return chosen, await pools.run(
        transform,
        item,
        steps,
        chosen,
        quality or quality_of(steps),
        limits.png_compression,
    )


def input_format(info: codec.ImageInfo) -> codec.OutputFormat:
    """Encode results like the input where we can (JPEG, PNG, WebP); PNG otherwise."""
    return {"JPEG": "jpeg", "WEBP": "webp"}.get(info.format, "png")  # type: ignore[return-value]
