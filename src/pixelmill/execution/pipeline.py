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
from pixelmill.execution.pools import Pools, still_wanted
from pixelmill.imaging import codec, pipeline
from pixelmill.imaging.ops import output
from pixelmill.imaging.ops.output import Output
from pixelmill.imaging.pipeline import Step
from pixelmill.storage.files import write_atomically


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


def numbered(target: Path, count: int) -> list[Path]:
    """The files one input writes: `target` itself, or `<stem>_<i><ext>` when it fans out."""
    if count == 1:
        return [target]
    return [target.with_name(f"{target.stem}_{i}{target.suffix}") for i in range(count)]


def check(name: str, data: bytes, steps: Sequence[Step], limits: Limits) -> Checked:
    """Size, header and planned output sizes of one input; no decoding."""
    codec.check_bytes(len(data), limits.max_bytes, name)
    info = codec.sniff(data, max_pixels=limits.max_pixels, name=name)
    sizes = pipeline.plan(steps, (info.width, info.height), limits.max_output_pixels)
    return Checked(name, data, info, tuple(sizes))


def choose(
    item: Checked, steps: Sequence[Step], fmt: str | None, quality: int | None, asked_by: str
) -> Output:
    """The one output policy (`output.choose`) for a checked input, and a 422 before any
    pixel work when the format cannot hold the images the chain makes."""
    chosen = output.choose(
        pipeline.output_options(steps),
        format=fmt,
        quality=quality,
        input=item.info,
        asked_by=asked_by,
    )
    codec.check_encodable(item.sizes, chosen.format, item.name)
    return chosen


# --- in worker processes -------------------------------------------------------------------


def transform(item: Checked, steps: Sequence[Step], out: Output, png_level: int) -> list[bytes]:
    """Decode (JPEGs shrunk on load when the chain starts by shrinking, and decoded straight
    to gray when it turns gray before other work; a gray input stays gray), run, encode;
    stopped between steps when the request no longer wants it."""
    scale, chain = 1, list(steps)
    mode: codec.Mode = "keep"
    if item.info.format == "JPEG":
        size = (item.info.width, item.info.height)
        scale, chain = pipeline.shrink_on_load(steps, size, codec.JPEG_SCALES)
        if pipeline.gray_on_load(chain):
            mode = "gray"
    image = codec.decode(item.data, item.info, mode, item.name, scale=scale)
    results = pipeline.run(chain, [image], still_wanted)
    exif = None if out.strip else codec.exif_of(item.data)
    return [
        codec.encode(
            result,
            out.format.name,
            quality=out.quality,
            png_compression=png_level,
            background=out.background,
            exif=exif,
        )
        for result in results
    ]


def check_and_transform_file(
    source: Path,
    target: Path,
    steps: Sequence[Step],
    limits: Limits,
    name: str | None = None,
    fmt: str | None = None,
    asked_by: str | None = None,
    add_extension: bool = False,
) -> list[Path]:
    """Everything in the worker: read, check, transform, write atomically (numbered when
    the chain fans out). `fmt`: the format the request names (None: none), `asked_by` says
    who (default: the output file); `add_extension`: `target` is a name without extension,
    to which the chosen format's is added. `name` in errors: the path."""
    item = check_file(source, steps, limits, name)
    out = choose(item, steps, fmt, None, asked_by or f"output {target.name!r}")
    if add_extension:
        target = target.with_name(target.name + out.format.extension)
    encoded = transform(item, steps, out, limits.png_compression)
    paths = numbered(target, len(encoded))
    for path, data in zip(paths, encoded, strict=True):
        write_atomically(path, data)
    return paths


def check_file(
    source: Path, steps: Sequence[Step], limits: Limits, name: str | None = None
) -> Checked:
    """`check` of a file, its size taken from the file system before anything is read."""
    label = name or str(source)
    codec.check_bytes(source.stat().st_size, limits.max_bytes, label)
    return check(label, source.read_bytes(), steps, limits)


# --- in the API process --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileJob:
    """One input file and where its results go (both already confined to the files root)."""

    input: str
    source: Path
    target: Path

    @property
    def format(self) -> str:
        """The format the output's extension names (a 422 for an unknown extension)."""
        return codec.format_for_path(self.target).name


async def run_files(
    pools: Pools, jobs: Sequence[FileJob], steps: Sequence[Step], limits: Limits
) -> list[list[Path]]:
    """Check every job, then run them all in parallel; the files each one wrote, in order."""
    # Every input is checked before any is processed, a few at a time on the API process's
    # threads, keeping no bytes: each worker reads its own file again (from the page cache),
    # so no image crosses between processes and memory does not grow with the request.
    formats = [job.format for job in jobs]
    await asyncio.gather(
        *(
            pools.run_local(_check_only, job.source, steps, limits, job.input, job.target, fmt)
            for job, fmt in zip(jobs, formats, strict=True)
        )
    )
    return list(
        await asyncio.gather(
            *(
                pools.run(
                    check_and_transform_file, job.source, job.target, steps, limits, job.input, fmt
                )
                for job, fmt in zip(jobs, formats, strict=True)
            )
        )
    )


def _check_only(
    source: Path, steps: Sequence[Step], limits: Limits, name: str, target: Path, fmt: str
) -> None:
    choose(check_file(source, steps, limits, name), steps, fmt, None, f"output {target.name!r}")


async def run_upload(
    pools: Pools,
    name: str,
    data: bytes,
    steps: Sequence[Step],
    limits: Limits,
    fmt: str | None,
    quality: int | None,
) -> tuple[Output, list[bytes]]:
    """Check one upload, run the chain in a worker; the output chosen and the results."""
    item = check(name, data, steps, limits)
    out = choose(item, steps, fmt, quality, "the request's format and quality fields")
    return out, await pools.run(transform, item, steps, out, limits.png_compression)
