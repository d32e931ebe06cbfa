"""Animations: every frame of an animated GIF, WebP or AVIF, with its timing, and back.

    count(img, data, stop)    frames and the largest canvas, from the headers only
    check(count, ...)         413 before any pixel when the frames are too many or too large
    read(data, name, ...)     Reader: the number of plays, then frame after frame
    encode(frames, ...)       an animated GIF, WebP or AVIF (a still GIF for one frame)

Frames come out composited as browsers show them (Pillow applies GIF disposal and WebP
blending as it seeks), upright, all of the first frame's size, as uint8 BGR, or BGRA when
the animation has transparency: the conventions of `codec.decode`'s "keep" mode. A frame's
duration is in milliseconds. The loop count is kept as the number of plays a viewer shows
(0: for ever): a GIF without a NETSCAPE block plays once, one whose block says n plays
n + 1 times, a WebP says the plays itself.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from pixelmill.errors import InvalidParameter, TooLarge, UnsupportedImage
from pixelmill.imaging import alpha

# Pillow's names of the formats whose files can hold several frames, and the output formats
# pixelmill writes animated.
READS_ANIMATED = frozenset({"GIF", "WEBP", "AVIF"})
WRITES_ANIMATED = frozenset({"gif", "webp", "avif"})
# At most this many frames: past it a file is refused whatever its size, since every frame
# costs time and memory beyond its pixels.
MAX_FRAMES = 10_000
# What Pillow may raise on a damaged frame (struct.error and IndexError: a cut header).
_DAMAGED = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
# EXIF orientation -> Pillow's transpose (as ImageOps.exif_transpose)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True, slots=True)
class Count:
    """What the headers say: frames (`at_least`: counting stopped there, there may be more),
    the largest canvas any frame needs, and whether the frames have transparency."""

    frames: int
    width: int
    height: int
    alpha: bool = False
    at_least: bool = False

    @property
    def pixels(self) -> int:
        return self.frames * self.width * self.height


def count(img: Image.Image, data: bytes, stop: int = MAX_FRAMES + 1) -> Count:
    """The frames of an opened image, from its headers only, counting no further than `stop`.

    GIF has no frame count: its blocks are walked here, skipping the pixel data, and the
    walk ends at `stop` (Pillow's `n_frames` walks the whole file, 30 µs a frame). WebP and
    AVIF state their count in the header.
    """
    width, height = img.size
    if img.format == "GIF":
        return _gif_count(data, stop, width, height)
    if img.format in READS_ANIMATED:
        frames = int(getattr(img, "n_frames", 1))
        return Count(min(frames, stop), width, height, "A" in img.mode, frames >= stop)
    return Count(1, width, height)


def check(found: Count, *, max_pixels: int, limit: int, name: str) -> None:
    """413 when an animation has more than MAX_FRAMES frames, a frame larger than
    `max_pixels`, or more than `limit` pixels in all its frames (max_animation_pixels)."""
    if found.frames < 2:
        return
    many = "at least " if found.at_least else ""
    size = f"{found.width}×{found.height}"
    if found.width * found.height > max_pixels:
        raise TooLarge(
            f"{name} has frames of {size} = {found.width * found.height:,} pixels; "
            f"the limit is {max_pixels:,} pixels"
        )
    if found.pixels > limit:
        raise TooLarge(
            f"{name} has {many}{found.frames:,} frames of {size} = {many}{found.pixels:,} "
            f"pixels; the limit for all frames of an animation is {limit:,} pixels "
            "(max_animation_pixels)"
        )
    if found.frames > MAX_FRAMES:
        raise TooLarge(f"{name} has more than {MAX_FRAMES:,} frames, the limit")


def stop_for(width: int, height: int, max_animation_pixels: int | None) -> int:
    """How far `count` needs to count to tell whether the limits hold (at least 2, so that
    an animation is always told from a still)."""
    if max_animation_pixels is None:
        return MAX_FRAMES + 1
    fitting = max_animation_pixels // max(1, width * height)
    return max(2, min(MAX_FRAMES, fitting) + 1)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame as shown, and how long it is shown, in milliseconds."""

    image: np.ndarray
    duration: int


class Reader:
    """An animation open for reading: its number of plays, then its frames one at a time
    (only one decoded frame is held at once)."""

    def __init__(self, data: bytes, name: str = "image", orientation: int = 1) -> None:
        self.name = name
        self._orientation = orientation
        try:
            self._img = Image.open(io.BytesIO(data), formats=sorted(READS_ANIMATED))
            self.format = self._img.format or "unknown"
            found = count(self._img, data) if self.format == "GIF" else None
        except _DAMAGED as exc:
            raise UnsupportedImage(f"{name} cannot be decoded: {exc}") from None
        self.size = self._img.size  # the first frame's, as `codec.sniff` read it
        self.alpha = found.alpha if found is not None else "A" in self._img.mode
        self.plays = _plays(self.format, self._img.info.get("loop"))

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._img.close()

    def frames(self, total: int) -> Iterator[Frame]:
        """The first `total` frames in order (`codec.sniff` counted them: ImageInfo.frames)."""
        for index in range(total):
            yield self.frame(index)

    def frame(self, index: int) -> Frame:
        """Frame `index`, composited over the frames before it (seeking back starts over)."""
        try:
            self._img.seek(index)
            shown = self._img.convert("RGBA" if self.alpha else "RGB")  # loads the frame
            duration = int(self._img.info.get("duration") or 0)
        except EOFError:
            raise UnsupportedImage(f"{self.name} has no frame {index}") from None
        except Image.DecompressionBombError:
            raise TooLarge(f"{self.name}: frame {index} is larger than the pixel limit") from None
        except _DAMAGED as exc:
            raise UnsupportedImage(f"{self.name}: frame {index} cannot be decoded: {exc}") from None
        if shown.size != self.size:  # a GIF frame reaching past the screen grows Pillow's canvas
            shown = shown.crop((0, 0, *self.size))
        if self._orientation in _TRANSPOSE:
            shown = shown.transpose(_TRANSPOSE[self._orientation])
        code = cv2.COLOR_RGBA2BGRA if self.alpha else cv2.COLOR_RGB2BGR
        return Frame(cv2.cvtColor(np.asarray(shown), code), duration)


def encode(
    frames: Sequence[np.ndarray],
    durations: Sequence[int],
    plays: int,
    fmt: str,
    *,
    quality: int = 90,
    avif_speed: int = 8,
) -> bytes:
    """Frames (gray, BGR or BGRA, all one size) as an animated `fmt` (gif, webp or avif);
    one frame makes a still.

    GIF: each frame gets its own palette of up to 256 colours: its own colours when it has
    no more, else Pillow's fast octree, each pixel the nearest (no dithering, which would
    flicker from frame to frame); alpha below 128 becomes the transparent index. WebP and
    AVIF: lossy at `quality`, as stills are (lossless WebP is 6 times larger for a filmed
    clip); AVIF at libaom speed `avif_speed`, and it loops for ever (Pillow writes no
    count). Durations are in milliseconds (GIF keeps hundredths of a second). The encoders
    merge a frame identical to the one before into it, adding the durations: what a viewer
    sees is the same.
    """
    if fmt not in WRITES_ANIMATED:
        raise InvalidParameter(f"{fmt} cannot hold an animation (use {sorted(WRITES_ANIMATED)})")
    if not frames or len(frames) != len(durations):
        raise InvalidParameter("an animation needs frames, and one duration for each")
    options: dict[str, Any] = {}
    if fmt == "gif":
        images = [_paletted(frame) for frame in frames]
        # a frame with transparency must not show the one before through it
        options["disposal"] = 2 if _has_alpha(frames[0]) else 1
        if plays != 1:
            options["loop"] = max(0, plays - 1)  # NETSCAPE's count is the repeats
    else:
        # lossy: no colour hidden under transparent pixels may bleed into the edges
        images = [_pil(alpha.fill_hidden(frame)) for frame in frames]
        options["quality"] = quality
        if fmt == "webp":
            options.update(loop=plays, lossless=False, method=4)
        else:
            options["speed"] = avif_speed
    first, *rest = images
    if rest:
        options.update(save_all=True, append_images=rest, duration=list(durations))
    elif fmt == "gif":
        options = {}  # a still: no timing, no loop
    buffer = io.BytesIO()
    first.save(buffer, fmt.upper(), **options)
    return buffer.getvalue()


def _plays(fmt: str, loop: Any) -> int:
    if fmt == "GIF":
        return 1 if loop is None else 0 if loop == 0 else int(loop) + 1
    return 0 if loop is None else int(loop)  # AVIF says nothing: for ever


def _has_alpha(image: np.ndarray) -> bool:
    return image.ndim == 3 and image.shape[2] == 4


def _pil(image: np.ndarray) -> Image.Image:
    if image.ndim == 2:
        return Image.fromarray(image)
    code = cv2.COLOR_BGRA2RGBA if _has_alpha(image) else cv2.COLOR_BGR2RGB
    return Image.fromarray(cv2.cvtColor(image, code))


TRANSPARENT_INDEX = 255


def _paletted(image: np.ndarray) -> Image.Image:
    """A GIF frame: a palette of its own; a transparent index when it has alpha."""
    if image.ndim == 2:
        return Image.fromarray(image)  # gray: Pillow writes a gray palette
    if not _has_alpha(image):
        return _palette_of(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), 256)
    clear = image[:, :, 3] < 128
    colour = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    colour[clear] = colour[~clear][0] if (~clear).any() else 0  # no colour of their own
    paletted = _palette_of(colour, TRANSPARENT_INDEX)
    indices = np.array(paletted)
    indices[clear] = TRANSPARENT_INDEX
    out = Image.fromarray(indices, "P")
    palette = paletted.getpalette() or []
    out.putpalette(palette[: 3 * TRANSPARENT_INDEX] + [0] * (768 - 3 * TRANSPARENT_INDEX))
    out.info["transparency"] = TRANSPARENT_INDEX
    return out


def _palette_of(rgb: np.ndarray, colours: int) -> Image.Image:
    """RGB pixels on a palette of at most `colours`: exactly when they have no more colours
    than that (a GIF's own frames, flipped, cropped or turned), else Pillow's fast octree
    (1 ms a 480×270 frame, against 190 ms for median cut, whose error is a quarter lower)."""
    image = Image.fromarray(rgb)
    found = image.getcolors(colours)
    if found is None:
        return image.quantize(colours, method=Image.Quantize.FASTOCTREE)
    held = np.array([colour for _, colour in found], np.uint32)  # (r, g, b) rows
    keys = np.sort(held[:, 0] << 16 | held[:, 1] << 8 | held[:, 2])
    packed = rgb[..., 0].astype(np.uint32) << 16 | rgb[..., 1].astype(np.uint32) << 8 | rgb[..., 2]
    paletted = Image.fromarray(np.searchsorted(keys, packed).astype(np.uint8), "P")
    table = np.stack([keys >> 16, keys >> 8 & 255, keys & 255], -1).astype(np.uint8)
    paletted.putpalette(table.tobytes() + bytes(768 - table.size))
    return paletted


def _gif_count(data: bytes, stop: int, width: int, height: int) -> Count:
    """Walk a GIF's blocks as Pillow's reader does, counting image descriptors. The frames
    have transparency when the first one names a transparent index (Pillow's rule: later
    frames' transparent pixels show the ones before)."""
    size = len(data)
    frames, alpha, transparent = 0, False, False
    flags = data[10] if size > 10 else 0
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while pos < size and frames < stop:
        block = data[pos]
        pos += 1
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: a label, then sub-blocks
            if pos >= size:
                break
            label = data[pos]
            pos += 1
            if label == 0xF9 and pos + 1 < size and data[pos]:  # graphic control
                transparent = bool(data[pos + 1] & 1)
            pos = _skip_sub_blocks(data, pos)
        elif block == 0x2C:  # image descriptor: left, top, width, height, flags
            if pos + 9 > size:
                break
            left, top, w, h, image_flags = struct.unpack_from("<HHHHB", data, pos)
            pos += 9
            if image_flags & 0x80:
                pos += 3 << ((image_flags & 7) + 1)  # local colour table
            pos = _skip_sub_blocks(data, pos + 1)  # LZW code size, then the pixel data
            alpha = alpha or (frames == 0 and transparent)
            frames += 1
            # Pillow grows its canvas to hold a frame that reaches past the screen
            width, height = max(width, left + w), max(height, top + h)
        # any other byte is skipped, as Pillow does
    return Count(max(frames, 1), width, height, alpha, frames >= stop)


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    size = len(data)
    while pos < size:
        length = data[pos]
        pos += 1 + length
        if length == 0:
            break
    return pos
