"""Fuzzing the codec with mutated JPEG, PNG, WebP, GIF, HEIC and AVIF bytes, and images
carrying ICC profiles or EXIF (hypothesis), in a process of its own so that a crash in a
native decoder shows as the process dying, and its peak memory can be read.

    python -m tests.imaging.fuzz_codec EXAMPLES MAX_PIXELS

Prints one JSON line: how many inputs were tried, how each ended (decoded, or the error
class), and the process's peak resident memory before and after the fuzzing. Anything but a
`PixelmillError` escaping `sniff` or `decode` fails it (a traceback, exit status 1).
"""

from __future__ import annotations

import io
import json
import resource
import sys
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from pixelmill.errors import PixelmillError
from pixelmill.imaging import codec


def seeds() -> dict[str, bytes]:
    """Small valid images of each format: the starting points of the mutations."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (48, 64, 3), np.uint8)
    pixels[::8] = 255
    image = Image.fromarray(pixels)
    out: dict[str, bytes] = {}
    for name, fmt, options in (
        ("jpeg", "JPEG", {"quality": 80}),
        ("jpeg-progressive", "JPEG", {"quality": 80, "progressive": True}),
        ("png", "PNG", {}),
        ("webp", "WEBP", {"quality": 80}),
        ("gif", "GIF", {}),
    ):
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        out[name] = buffer.getvalue()
    buffer = io.BytesIO()
    frames = [image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50)
    out["gif-animated"] = buffer.getvalue()
    # libheif and libavif parse boxes (sizes, item locations, properties) before any pixel
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.fromarray(pixels[:, :, 0]))
    out["heic"] = _saved(image, "HEIF", quality=60)
    out["heic-alpha"] = _saved(rgba, "HEIF", quality=60)
    out["avif"] = codec.encode(pixels[:, :, ::-1], "avif", quality=60)
    out["avif-alpha"] = _saved(rgba, "AVIF", quality=60)
    # LittleCMS parses the profile (a tag table of offsets and sizes) of every tagged image
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out["jpeg-icc"] = _saved(image, "JPEG", quality=80, icc_profile=profile)
    out["png-icc"] = _saved(image, "PNG", icc_profile=profile)
    # the EXIF block `strip=false` carries (orientation reset in place)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.5)}  # GPS
    out["jpeg-exif"] = _saved(image, "JPEG", quality=80, exif=exif.tobytes())
    return out


def _saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


SEEDS = seeds()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed with 1-8 mutations: byte flips, overwrites, inserts, deletions, truncation."""
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "header"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 256))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "header":  # the first 64 bytes hold sizes, chunk lengths, markers
            at = draw(st.integers(0, min(63, max(0, len(data) - 1))))
            data[at : at + 2] = draw(st.binary(min_size=2, max_size=2))
    return bytes(data)


def main(examples: int, max_pixels: int) -> None:
    outcomes: Counter[str] = Counter()
    for data in SEEDS.values():  # warm up: imports and decoders loaded before the baseline
        codec.decode(data, codec.sniff(data, max_pixels=max_pixels))
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutated(), st.sampled_from(["color", "gray", "keep"]), st.sampled_from([1, 2, 4, 8]))
    def fuzz(data: bytes, mode: str, scale: int) -> None:
        try:
            info = codec.sniff(data, max_pixels=max_pixels)
            if info.format != "JPEG":
                scale = 1
            image = codec.decode(data, info, mode, scale=scale)  # type: ignore[arg-type]
            exif = codec.exif_of(data)
            assert exif is None or exif[:4] in (b"MM\x00*", b"II*\x00")
        except PixelmillError as exc:
            assert 400 <= exc.status_code < 500, exc
            outcomes[type(exc).__name__] += 1
            return
        assert image.dtype == np.uint8
        assert image.shape[:2] == codec.reduced_size(info, scale)[::-1]
        outcomes["decoded"] += 1

    fuzz()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "examples": sum(outcomes.values()),
                "outcomes": dict(outcomes),
                "baseline_kb": baseline_kb,
                "peak_kb": peak_kb,
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
