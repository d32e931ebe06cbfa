"""Shrink on load: a JPEG decoded already smaller when the chain starts by shrinking it."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from pixelmill.execution.pipeline import Limits, check, transform
from pixelmill.imaging import codec, pipeline
from pixelmill.imaging.ops.output import Output
from tests.images import encode, photo

LIMITS = Limits(max_bytes=10**8, max_pixels=10**8, max_output_pixels=10**8)


@pytest.mark.parametrize(
    ("chain", "size", "scale", "target"),
    [
        (["resize=0.5"], (1000, 800), 2, (500, 400)),
        (["resize=0.25", "grayscale"], (1000, 800), 4, (250, 200)),
        (["quality=80", "resize=0.1"], (1000, 800), 8, (100, 80)),
        (["resize=0.3"], (1000, 800), 2, (300, 240)),
        (["resize=0.5"], (1001, 801), 2, (500, 400)),
        ([{"op": "resize", "width": 120}], (1000, 800), 8, (120, 96)),
        (["resize=0.6"], (1000, 800), 1, None),
        (["resize=2"], (1000, 800), 1, None),
        (["grayscale", "resize=0.1"], (1000, 800), 1, None),
        ([], (1000, 800), 1, None),
    ],
)
def test_scale_and_exact_target(
    chain: list[object], size: tuple[int, int], scale: int, target: tuple[int, int] | None
) -> None:
    steps = pipeline.parse(chain)  # type: ignore[arg-type]
    chosen, rewritten = pipeline.shrink_on_load(steps, size, codec.JPEG_SCALES)
    assert chosen == scale
    if target is None:
        assert rewritten == steps
        return
    reduced = (-(-size[0] // scale), -(-size[1] // scale))
    assert pipeline.plan(rewritten, reduced, 10**9) == pipeline.plan(steps, size, 10**9) == [target]


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_codec_decodes_jpeg_at_a_fraction(scale: int) -> None:
    data = encode(photo(203, 101, seed=1), ".jpg")
    info = codec.sniff(data, max_pixels=10**6)
    image = codec.decode(data, info, "color", scale=scale)
    assert image.shape == (-(-101 // scale), -(-203 // scale), 3)


def test_only_jpeg_shrinks_on_load() -> None:
    data = encode(photo(40, 20))
    with pytest.raises(ValueError, match="PNG"):
        codec.decode(data, codec.sniff(data, max_pixels=10**6), scale=2)


def test_result_is_the_planned_size_and_close_to_the_full_decode() -> None:
    original = photo(1024, 768, seed=3)
    data = encode(original, ".jpg", quality=95)
    steps = pipeline.parse(["resize=0.25", "grayscale"])
    item = check("a.jpg", data, steps, LIMITS)
    (result,) = transform(item, steps, Output(codec.FORMATS["png"]), 1)
    fast = cv2.imdecode(np.frombuffer(result, np.uint8), cv2.IMREAD_UNCHANGED)
    full = codec.decode(data, item.info, "color")
    slow = pipeline.run(steps, [full])[0]
    assert fast.shape == slow.shape == (192, 256)
    assert np.abs(fast.astype(int) - slow.astype(int)).mean() < 2.0


@pytest.mark.parametrize(
    ("chain", "gray"),
    [
        (["grayscale"], True),
        (["resize=0.5", "grayscale", "blur=5"], True),
        (["quality=85", "resize=0.5", {"op": "resize", "width": 100}, "grayscale"], True),
        (["blur=5", "grayscale"], False),
        (["resize=0.5", "brightness=10", "grayscale"], False),
        (["resize=0.5"], False),
        ([], False),
    ],
)
def test_gray_on_load_when_the_chain_turns_gray_before_other_work(
    chain: list[object], gray: bool
) -> None:
    assert pipeline.gray_on_load(pipeline.parse(chain)) is gray  # type: ignore[arg-type]


@pytest.mark.parametrize("chain", [["resize=0.5", "grayscale", "blur=5"], ["grayscale"]])
def test_a_jpeg_decoded_straight_to_gray_is_close_to_the_colour_path(
    chain: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = photo(960, 720, seed=5)
    data = encode(original, ".jpg", quality=90)
    steps = pipeline.parse(chain)
    item = check("a.jpg", data, steps, LIMITS)
    decoded: list[np.ndarray] = []
    real_decode = codec.decode

    def recording_decode(*args: Any, **kwargs: Any) -> np.ndarray:
        decoded.append(real_decode(*args, **kwargs))
        return decoded[-1]

    monkeypatch.setattr(codec, "decode", recording_decode)
    (result,) = transform(item, steps, Output(codec.FORMATS["png"]), 1)
    monkeypatch.undo()
    assert [image.ndim for image in decoded] == [2]  # decoded to gray, no colour channels
    fast = cv2.imdecode(np.frombuffer(result, np.uint8), cv2.IMREAD_UNCHANGED)
    colour = codec.decode(data, item.info, "color")
    slow = pipeline.run(steps, [colour])[0]
    assert fast.shape == slow.shape
    difference = np.abs(fast.astype(int) - slow.astype(int))
    # luma straight from the JPEG differs from the luma of its RGB by rounding, but where
    # a colour falls outside RGB and the colour path clips it (a few saturated pixels)
    assert difference.mean() < 0.5
    assert (difference > 2).mean() < 0.005
