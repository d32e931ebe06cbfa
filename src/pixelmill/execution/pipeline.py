"""Operation chains on images: server-side files (POST /pipeline, `pixelmill run`) and uploads
(POST /v1/transform).

Everything that can be checked without decoding is checked for every image before any worker
starts: the chain, the paths, the byte size, the header (format, pixel limit, frames) and the
size of every image the chain will make. Then each image goes to its own worker process, which
decodes it, runs the chain, encodes and (for files) writes the results atomically.

An animation (more than one frame) written in a format that animates runs the chain on each
frame, one frame decoded at a time, and keeps the durations and the loop count; a chain with
an operation that needs the whole image (`registry.FIRST_FRAME_ONLY`), or a format that
holds one image, works on the first frame; `frame=N` on frame N.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from pixelmill.errors import InvalidParameter, Stopped
from pixelmill.execution.pools import Pools, still_wanted
from pixelmill.imaging import animation, codec, pipeline
from pixelmill.imaging.ops import output
from pixelmill.imaging.ops.frames import FrameParams
from pixelmill.imaging.ops.output import Output
from pixelmill.imaging.pipeline import Step
from pixelmill.imaging.registry import FIRST_FRAME_ONLY
from pixelmill.storage.files import write_atomically

if TYPE_CHECKING:  # not at run time: the forkserver imports this module, and needs no settings
    from pixelmill.config import Settings

MAX_ANIMATION_PIXELS = 100_000_000  # the setting's default


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits a chain runs under (from the settings)."""

    max_bytes: int
    max_pixels: int
    max_output_pixels: int
    png_compression: int = 1
    max_animation_pixels: int = MAX_ANIMATION_PIXELS

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_pixels,
            max_output_pixels=settings.max_output_pixels,
            png_compression=settings.png_compression,
            max_animation_pixels=settings.max_animation_pixels,
        )


@dataclass(frozen=True, slots=True)
class Checked:
    """One input that passed every check: its bytes, header and the images it gives."""

    name: str
    data: bytes
    info: codec.ImageInfo
    sizes: tuple[tuple[int, int], ...]


# What runs beside the server on "hybrid" execution (pools.Pools.run's isolate=False): one
# frame of a format OpenCV decodes itself, its header checked. Everything else (HEIC, AVIF,
# TIFF, GIF, BMP, animations, profiles and palettes that Pillow converts) is decoded in an
# isolated worker process, where a crash in a native decoder costs only its request.
_BESIDE_SERVER = frozenset({"JPEG", "PNG", "WEBP"})


def isolated(info: codec.ImageInfo) -> bool:
    """Whether decoding this input should be kept apart from the server (`Pools.run`)."""
    return not (info.plain and info.format in _BESIDE_SERVER and info.frames == 1)


def numbered(target: Path, count: int) -> list[Path]:
    """The files one input writes: `target` itself, or `<stem>_<i><ext>` when it fans out."""
    if count == 1:
        return [target]
    return [target.with_name(f"{target.stem}_{i}{target.suffix}") for i in range(count)]


def check(name: str, data: bytes, steps: Sequence[Step], limits: Limits) -> Checked:
    """Size, header (frames included) and planned output sizes of one input; no decoding."""
    codec.check_bytes(len(data), limits.max_bytes, name)
    info = codec.sniff(
        data,
        max_pixels=limits.max_pixels,
        name=name,
        max_animation_pixels=limits.max_animation_pixels,
    )
    size = (info.width, info.height)
    sizes = pipeline.plan(steps, size, limits.max_output_pixels, frames=info.frames)
    return Checked(name, data, info, tuple(sizes))


def choose(
    item: Checked,
    steps: Sequence[Step],
    fmt: str | None,
    quality: int | None,
    asked_by: str,
    max_animation_pixels: int = MAX_ANIMATION_PIXELS,
    accept: str | None = None,
) -> Output:
    """The one output policy (`output.choose`) for a checked input, and a 422 before any
    pixel work when the format cannot hold the images the chain makes, or an animation's
    frames would hold more than `max_animation_pixels` in all. `accept`: the request's Accept
    header, for format=auto."""
    chosen = output.choose(
        pipeline.output_options(steps),
        format=fmt,
        quality=quality,
        input=item.info,
        asked_by=asked_by,
        accept=accept,
    )
    codec.check_encodable(item.sizes, chosen.format, item.name)
    frames = frames_run(item, steps, chosen.format)
    made = frames * sum(width * height for width, height in item.sizes)
    if frames > 1 and made > max_animation_pixels:
        width, height = item.sizes[0]
        raise InvalidParameter(
            f"{item.name}: the chain makes {frames:,} frames of {width}×{height} = {made:,} "
            f"pixels; the limit for all frames of an animation is {max_animation_pixels:,} "
            "pixels (max_animation_pixels)"
        )
    return chosen


def frames_run(item: Checked, steps: Sequence[Step], fmt: codec.Format) -> int:
    """How many frames the chain runs on: every frame of an animation written in a format
    that animates, when no step needs the whole image or picks a frame; else one."""
    if item.info.frames < 2 or fmt.name not in animation.WRITES_ANIMATED:
        return 1
    for step in steps:
        if isinstance(step.params, FrameParams) or step.op.name in FIRST_FRAME_ONLY:
            return 1
    return item.info.frames


# --- in worker processes -------------------------------------------------------------------


def transform(item: Checked, steps: Sequence[Step], out: Output, png_level: int) -> list[bytes]:
    """Decode, run, encode; stopped between steps (and frames) when the request no longer
    wants it. An animation runs frame by frame (`frames_run`) into one animated result."""
    if frames_run(item, steps, out.format) > 1:
        return [_animate(item, steps, out)]
    image, chain = _decode(item, steps)
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


def _decode(item: Checked, steps: Sequence[Step]) -> tuple[np.ndarray, list[Step]]:
    """The image to run on, and the chain to run: the frame a `frame=N` step picks (the last
    one), or the image, JPEGs shrunk on load when the chain starts by shrinking and decoded
    straight to gray when it turns gray before other work (a gray input stays gray)."""
    picked = [step.params.index for step in steps if isinstance(step.params, FrameParams)]
    if picked and item.info.frames > 1:
        with animation.Reader(item.data, item.name, item.info.orientation) as reader:
            return reader.frame(picked[-1]).image, list(steps)
    scale, chain = 1, list(steps)
    mode: codec.Mode = "keep"
    if item.info.format == "JPEG":
        size = (item.info.width, item.info.height)
        scale, chain = pipeline.shrink_on_load(steps, size, codec.JPEG_SCALES)
        if pipeline.gray_on_load(chain):
            mode = "gray"
    return codec.decode(item.data, item.info, mode, item.name, scale=scale), chain


def _animate(item: Checked, steps: Sequence[Step], out: Output) -> bytes:
    """Every frame through the chain, one decoded at a time, then encoded animated."""
    results: list[np.ndarray] = []
    durations: list[int] = []
    total = item.info.frames
    with animation.Reader(item.data, item.name, item.info.orientation) as reader:
        for index, frame in enumerate(reader.frames(total)):
            if index and not still_wanted():
                raise Stopped(
                    f"the work was stopped before frame {index + 1} of {total}: its time was "
                    "up or its client had left"
                )
            (result,) = pipeline.run(steps, [frame.image], still_wanted)
            results.append(result)
            durations.append(frame.duration)
        plays = reader.plays
    return animation.encode(
        results, durations, plays, out.format.name, quality=out.quality, avif_speed=codec.AVIF_SPEED
    )


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
    out = choose(
        item, steps, fmt, None, asked_by or f"output {target.name!r}", limits.max_animation_pixels
    )
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
    infos = await asyncio.gather(
        *(
            pools.run_local(_check_only, job.source, steps, limits, job.input, job.target, fmt)
            for job, fmt in zip(jobs, formats, strict=True)
        )
    )
    return list(
        await asyncio.gather(
            *(
                pools.run(
                    check_and_transform_file,
                    *(job.source, job.target, steps, limits, job.input, fmt),
                    isolate=isolated(info),
                )
                for job, fmt, info in zip(jobs, formats, infos, strict=True)
            )
        )
    )


def _check_only(
    source: Path, steps: Sequence[Step], limits: Limits, name: str, target: Path, fmt: str
) -> codec.ImageInfo:
    item = check_file(source, steps, limits, name)
    choose(item, steps, fmt, None, f"output {target.name!r}", limits.max_animation_pixels)
    return item.info


async def run_upload(
    pools: Pools,
    name: str,
    data: bytes,
    steps: Sequence[Step],
    limits: Limits,
    fmt: str | None,
    quality: int | None,
    accept: str | None = None,
) -> tuple[Output, list[bytes]]:
    """Check one upload, run the chain in a worker; the output chosen (from the request's
    `accept` for format=auto) and the results."""
    asked_by = "the request's format and quality fields"
    args = (name, data, steps, limits, fmt, quality, asked_by, accept)
    if pools.runs_in_process(isolate=False):
        # "processes": the header (ICC profile, a GIF's frames) and the plan off the event
        # loop, every transform in a worker process
        item, out, results = await pools.run_local(_upload_here, *args, "none")
    else:
        # on threads the check and the transform are one job, one hop off the event loop: an
        # input safe beside the server is done in it; any other goes on to a worker process
        everything = not pools.runs_in_process(isolate=True)
        here = "all" if everything else "plain"
        item, out, results = await pools.run(_upload_here, *args, here, isolate=False)
    if results is not None:
        return out, results
    results = await pools.run(
        transform, item, steps, out, limits.png_compression, isolate=isolated(item.info)
    )
    return out, results


def _upload_here(
    name: str,
    data: bytes,
    steps: Sequence[Step],
    limits: Limits,
    fmt: str | None,
    quality: int | None,
    asked_by: str,
    accept: str | None,
    transform_here: Literal["none", "plain", "all"],
) -> tuple[Checked, Output, list[bytes] | None]:
    """Check and choose, then transform here when `transform_here` lets this input be
    decoded here ("plain": one `isolated` does not keep apart); None for results that are a
    worker process's to make."""
    item = check(name, data, steps, limits)
    out = choose(item, steps, fmt, quality, asked_by, limits.max_animation_pixels, accept)
    if transform_here == "all" or (transform_here == "plain" and not isolated(item.info)):
        return item, out, transform(item, steps, out, limits.png_compression)
    return item, out, None
