"""Animations: frame counts from the headers, every frame as Pillow shows it, durations, loop
counts and transparency through decoding and encoding, and the limit on all frames.

The corpus files (tests/corpus/anim-*, made by make_animations.py) come with their answers
in animations.json. Frames are compared with Pillow's own: decoded frames exactly, resized
frames with Pillow's BOX resize (the same area average; its RGBA resize premultiplies, as
ours does) to 1 level, GIF output exactly where the frame has at most 256 colours, lossy
WebP output to a mean of 6 levels (its halved colour resolution smears hard edges).
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, features

from pixelmill.errors import InvalidParameter, TooLarge, UnsupportedImage
from pixelmill.imaging import animation, codec, pipeline

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ANSWERS: dict[str, dict[str, Any]] = json.loads((CORPUS / "animations.json").read_text())
LIMIT = 100_000_000


def pillow_frames(data: bytes, mode: str) -> list[tuple[np.ndarray, int]]:
    """Every frame as Pillow composites it (RGB or RGBA) and its duration."""
    out = []
    with Image.open(io.BytesIO(data)) as image:
        for index in range(image.n_frames):
            image.seek(index)
            frame = np.asarray(image.convert(mode))
            out.append((frame, int(image.info.get("duration") or 0)))
    return out


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """A BGR(A) array as RGB(A), as Pillow holds it."""
    return frame[..., [2, 1, 0, 3]] if frame.shape[2] == 4 else frame[..., ::-1]


def read_all(data: bytes) -> tuple[animation.Reader, list[animation.Frame]]:
    info = codec.sniff(data, max_pixels=LIMIT, max_animation_pixels=LIMIT)
    with animation.Reader(data) as reader:
        return reader, list(reader.frames(info.frames))


def many_frames_gif(frames: int, width: int, height: int) -> bytes:
    """A GIF whose screen is `width`×`height` and holds `frames` frames of one pixel each:
    small on disk, `frames` × `width` × `height` pixels once composited."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
    loop = b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    control = b"!\xf9\x04\x04\x02\x00\x00\x00"  # 20 ms, disposal 1
    pixel = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + loop + (control + pixel) * frames + b";"


# --- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_sniff_counts_the_frames_from_the_headers(name: str) -> None:
    answer = ANSWERS[name]
    info = codec.sniff((CORPUS / name).read_bytes(), max_pixels=LIMIT)
    assert (info.frames, info.width, info.height) == (
        answer["frames"],
        answer["width"],
        answer["height"],
    )


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_every_frame_is_read_as_pillow_shows_it_with_its_duration(name: str) -> None:
    answer = ANSWERS[name]
    data = (CORPUS / name).read_bytes()
    reader, frames = read_all(data)
    assert reader.plays == answer["plays"]
    assert reader.alpha == answer["alpha"]
    assert [frame.duration for frame in frames] == answer["durations"]
    expected = pillow_frames(data, "RGBA" if answer["alpha"] else "RGB")
    assert len(frames) == len(expected) == answer["frames"]
    for frame, (pixels, _) in zip(frames, expected, strict=True):
        assert frame.image.shape == (answer["height"], answer["width"], 4 if answer["alpha"] else 3)
        assert np.array_equal(to_rgb(frame.image), pixels)


def test_gif_frames_are_composited_over_the_ones_before() -> None:
    # Pillow stores frames after the first as the rectangle that changed: a frame read
    # alone would be that rectangle; composited, the colour bands are whole in every frame
    _, frames = read_all((CORPUS / "anim-gif-bands.gif").read_bytes())
    for frame in frames:
        assert tuple(frame.image[1, -1]) == (250, 250, 250)  # the white band, top right
        assert tuple(frame.image[1, 0]) == (200, 60, 30)  # the blue band (BGR), top left


def test_transparent_gif_frames_restore_the_background() -> None:
    # disposal 2: where the disc was in frame 0 is transparent again in frame 3
    _, frames = read_all((CORPUS / "anim-gif-transparent.gif").read_bytes())
    first, last = frames[0].image, frames[-1].image
    assert first[15, 4, 3] == 255 and last[15, 4, 3] == 0
    assert last[15, 36, 3] == 255


def test_a_frame_past_the_end_is_a_clear_error() -> None:
    data = (CORPUS / "anim-gif-once.gif").read_bytes()
    with animation.Reader(data, "clip") as reader, pytest.raises(UnsupportedImage) as refused:
        reader.frame(3)
    assert refused.value.detail == "clip has no frame 3"


# --- operations on each frame -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["anim-gif-bands.gif", "anim-webp-rgba.webp"])
def test_resize_of_each_frame_matches_pillow(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    _, frames = read_all(data)
    steps = pipeline.parse(["resize=0.5"])
    mode = "RGBA" if frames[0].image.shape[2] == 4 else "RGB"
    for frame, (pixels, _) in zip(frames, pillow_frames(data, mode), strict=True):
        (ours,) = pipeline.run(steps, [frame.image])
        image = Image.fromarray(pixels)
        size = (image.width // 2, image.height // 2)
        theirs = np.asarray(image.resize(size, Image.Resampling.BOX)).astype(int)
        got = to_rgb(ours).astype(int)
        if mode == "RGBA":  # colour where it is seen: premultiplied, as Pillow resizes it
            assert np.abs(got[..., 3] - theirs[..., 3]).max() <= 1
            got = got[..., :3] * got[..., 3:] // 255
            theirs = theirs[..., :3] * theirs[..., 3:] // 255
        assert np.abs(got - theirs).max() <= 1


# --- writing ------------------------------------------------------------------------------------


def reread(data: bytes) -> tuple[Image.Image, list[tuple[np.ndarray, int]]]:
    image = Image.open(io.BytesIO(data))
    alpha = "A" in image.mode or "transparency" in image.info
    return image, pillow_frames(data, "RGBA" if alpha else "RGB")


def test_gif_keeps_frames_durations_loop_and_pixels() -> None:
    data = (CORPUS / "anim-gif-bands.gif").read_bytes()
    reader, frames = read_all(data)
    durations = [frame.duration for frame in frames]
    written = animation.encode([f.image for f in frames], durations, reader.plays, "gif")
    image, again = reread(written)
    assert image.format == "GIF" and image.info["loop"] == 0
    assert [duration for _, duration in again] == [40, 60, 80, 100, 120, 140]
    for frame, (pixels, _) in zip(frames, again, strict=True):
        assert np.array_equal(to_rgb(frame.image), pixels)  # at most 256 colours: exact


@pytest.mark.parametrize(("plays", "netscape"), [(0, 0), (1, None), (4, 3)])
def test_gif_loop_count_is_the_number_of_plays(plays: int, netscape: int | None) -> None:
    frames = [np.full((8, 8, 3), value, np.uint8) for value in (0, 128, 255)]
    image = Image.open(io.BytesIO(animation.encode(frames, [50] * 3, plays, "gif")))
    assert image.info.get("loop") == netscape
    with animation.Reader(animation.encode(frames, [50] * 3, plays, "gif")) as reader:
        assert reader.plays == plays


def test_gif_transparency_is_one_bit() -> None:
    _, frames = read_all((CORPUS / "anim-webp-rgba.webp").read_bytes())
    images = [frame.image for frame in frames]
    written = animation.encode(images, [100] * len(images), 0, "gif")
    image, again = reread(written)
    assert image.n_frames == len(images)
    for ours, (pixels, _) in zip(images, again, strict=True):
        shown = ours[..., 3] >= 128
        assert np.array_equal(pixels[..., 3] == 255, shown)
        assert np.array_equal(pixels[..., 3] == 0, ~shown)
        assert np.array_equal(to_rgb(ours)[shown][:, :3], pixels[shown][:, :3])


def test_webp_keeps_frames_durations_loop_and_alpha() -> None:
    data = (CORPUS / "anim-webp-rgba.webp").read_bytes()
    reader, frames = read_all(data)
    images = [frame.image for frame in frames]
    durations = [frame.duration for frame in frames]
    written = animation.encode(images, durations, reader.plays, "webp", quality=90)
    image, again = reread(written)
    assert image.format == "WEBP" and image.n_frames == 4 and image.info["loop"] == 2
    assert [duration for _, duration in again] == [50, 100, 150, 200]
    for ours, (pixels, _) in zip(images, again, strict=True):
        expected = to_rgb(ours).astype(int)
        assert np.abs(pixels[..., 3].astype(int) - expected[..., 3]).max() <= 1
        # lossy WebP halves the colour resolution (4:2:0): hard colour edges of a 40×30
        # picture smear by a pixel, so the mean is over the pixels seen, and flat parts
        # (the disc's centre) are near exact
        seen = expected[..., 3] > 0
        assert np.abs(pixels.astype(int)[seen][:, :3] - expected[seen][:, :3]).mean() <= 6
        centre = tuple(int(v) for v in np.argwhere(expected[..., 0] == 220).mean(0).round())
        assert np.abs(pixels[centre].astype(int) - expected[centre]).max() <= 6


def test_gray_frames_are_written() -> None:
    frames = [np.full((6, 9), value, np.uint8) for value in (10, 120, 240)]
    for fmt in ("gif", "webp"):
        image, again = reread(animation.encode(frames, [30] * 3, 0, fmt, quality=100))
        assert image.n_frames == 3
        assert [int(pixels[0, 0, 0]) for pixels, _ in again] == pytest.approx([10, 120, 240], abs=3)


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif_is_written_animated() -> None:
    frames = [np.full((16, 16, 3), (value, 60, 200), np.uint8) for value in (0, 128, 255)]
    written = animation.encode(frames, [40, 80, 120], 0, "avif", quality=80)
    image, again = reread(written)
    assert image.format == "AVIF" and image.n_frames == 3
    assert [duration for _, duration in again] == [40, 80, 120]
    assert [int(pixels[8, 8, 2]) for pixels, _ in again] == pytest.approx([0, 128, 255], abs=6)


def test_a_format_that_holds_one_image_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="png cannot hold an animation"):
        animation.encode([np.zeros((2, 2, 3), np.uint8)] * 2, [10, 10], 0, "png")


def test_a_still_gif_has_no_timing() -> None:
    data = codec.encode(np.zeros((4, 4, 3), np.uint8), "gif")
    image = Image.open(io.BytesIO(data))
    assert image.format == "GIF" and getattr(image, "n_frames", 1) == 1
    assert "loop" not in image.info


# --- counting and limits ------------------------------------------------------------------------


def gif_variants() -> dict[str, bytes]:
    """GIFs whose blocks the frame count must walk as Pillow does."""
    rgb = [Image.new("RGB", (12, 10), colour) for colour in ("red", "lime", "blue")]
    out = {}
    for name, options in {
        "plain": {},
        "comment": {"comment": b"x" * 300},
        "local-palettes": {"optimize": False},
        "interlaced": {"interlace": True},
    }.items():
        buffer = io.BytesIO()
        rgb[0].save(buffer, "GIF", save_all=True, append_images=rgb[1:], **options)
        out[name] = buffer.getvalue()
    out["many"] = many_frames_gif(300, 20, 20)
    return out


@pytest.mark.parametrize(("name", "data"), sorted(gif_variants().items()))
def test_gif_count_agrees_with_pillow(name: str, data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        found = animation.count(image, data)
        assert found.frames == image.n_frames
    assert not found.at_least


def test_a_frame_reaching_past_the_screen_counts_at_its_full_size() -> None:
    data = bytearray(many_frames_gif(3, 20, 20))
    last = data.rindex(b",")
    struct.pack_into("<HHHH", data, last + 1, 0, 0, 3000, 3000)  # the third frame: 3000×3000
    with pytest.raises(TooLarge, match="frames of 3000×3000 = 9,000,000 pixels"):
        codec.sniff(bytes(data), max_pixels=5_000_000, max_animation_pixels=LIMIT)


def test_a_gif_claiming_10000_frames_is_refused_from_its_headers_fast_in_little_memory() -> None:
    data = many_frames_gif(10_000, 200, 200)  # 230 kB; 400,000,000 pixels composited
    tracemalloc.start()
    began = time.perf_counter()
    try:
        with pytest.raises(TooLarge) as refused:
            codec.sniff(data, max_pixels=LIMIT, max_animation_pixels=LIMIT)
        seconds = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "at least 2,501 frames of 200×200" in refused.value.detail
    assert "limit for all frames of an animation is 100,000,000 pixels" in refused.value.detail
    assert seconds < 0.5
    assert peak < 2_000_000  # the bytes are held already; counting adds next to nothing


def test_more_frames_than_the_frame_limit_are_refused() -> None:
    data = many_frames_gif(animation.MAX_FRAMES + 1, 1, 1)
    with pytest.raises(TooLarge, match="more than 10,000 frames"):
        codec.sniff(data, max_pixels=LIMIT, max_animation_pixels=LIMIT)
    assert codec.sniff(many_frames_gif(10_000, 1, 1), max_pixels=LIMIT).frames == 10_000


def test_a_still_is_not_held_to_the_animation_limit() -> None:
    info = codec.sniff(many_frames_gif(1, 200, 200), max_pixels=LIMIT, max_animation_pixels=10)
    assert info.frames == 1


# --- frame=N ------------------------------------------------------------------------------------


def test_frame_is_checked_against_the_frame_count_before_decoding() -> None:
    steps = pipeline.parse(["resize=0.5", "frame=6"])
    with pytest.raises(InvalidParameter, match=r"operation 2 \(frame\): there is no frame 6: "):
        pipeline.plan(steps, (48, 32), LIMIT, frames=6)
    assert pipeline.plan(pipeline.parse(["frame=5"]), (48, 32), LIMIT, frames=6) == [(48, 32)]
    with pytest.raises(InvalidParameter, match=r"the image has 1 frame \(0\)"):
        pipeline.plan(pipeline.parse(["frame=1"]), (48, 32), LIMIT)


MEASURE_RSS = """
import resource, sys
from pixelmill.errors import TooLarge
from pixelmill.imaging import codec
from tests.imaging.test_animation import many_frames_gif
data = many_frames_gif(10_000, 200, 200)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    codec.sniff(data, max_pixels=100_000_000, max_animation_pixels=100_000_000)
except TooLarge:
    pass
else:
    sys.exit("not refused")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_refusing_the_10000_frame_gif_adds_next_to_nothing_to_the_peak_rss() -> None:
    # in a fresh process, where the peak resident size is this check's alone: Pillow's own
    # allocations (which tracemalloc does not see) count too
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", MEASURE_RSS], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) < 5_000  # kB
