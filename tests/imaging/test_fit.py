"""`fit=WxH[:mode[:gravity]]` and `dpr`: what each mode and gravity keeps, on pixels."""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from pixelmill.errors import InvalidParameter
from pixelmill.execution.pipeline import Limits, check, choose, transform
from pixelmill.imaging import codec, pipeline
from pixelmill.imaging.ops.output import Output
from tests.images import encode, photo

LIMITS = Limits(max_bytes=10**8, max_pixels=10**8, max_output_pixels=10**8)
BLUE, GREEN, RED = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def thirds(width: int = 300, height: int = 100) -> np.ndarray:
    """Blue left third, green middle, red right third."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 3] = BLUE
    image[:, width // 3 : 2 * width // 3] = GREEN
    image[:, 2 * width // 3 :] = RED
    return image


def fitted(item: str | dict[str, Any], image: np.ndarray) -> np.ndarray:
    steps = pipeline.parse([item])
    (result,) = pipeline.run(steps, [image])
    assert [(result.shape[1], result.shape[0])] == pipeline.plan(
        steps, (image.shape[1], image.shape[0]), 10**8
    )
    return result


def colour_of(image: np.ndarray) -> tuple[int, ...]:
    return tuple(int(v) for v in np.median(image.reshape(-1, image.shape[-1]), axis=0))


@pytest.mark.parametrize(
    ("item", "kept"),
    [
        ("fit=100x100:cover:west", BLUE),
        ("fit=100x100:cover:center", GREEN),
        ("fit=100x100", GREEN),
        ("fit=100x100:cover:east", RED),
        ("fit=100x100:cover:fp:0.9:0.5", RED),
        ("fit=100x100:cover:fp:0.1:0.5", BLUE),
        ({"op": "fit", "width": 100, "height": 100, "gravity": "northwest"}, BLUE),
        ({"op": "fit", "width": 50, "height": 50, "mode": "cover", "gravity": "southeast"}, RED),
    ],
)
def test_cover_keeps_the_part_gravity_names(item: str | dict[str, Any], kept: tuple[int]) -> None:
    result = fitted(item, thirds())
    assert result.shape[:2] in ((100, 100), (50, 50))
    assert np.array_equal(result, np.broadcast_to(np.array(kept, np.uint8), result.shape))


def test_north_and_south_on_a_tall_image() -> None:
    tall = np.ascontiguousarray(thirds().transpose(1, 0, 2))  # blue top, red bottom
    assert colour_of(fitted("fit=100x100:cover:north", tall)) == BLUE
    assert colour_of(fitted("fit=100x100:cover:south", tall)) == RED


def test_contain_letterboxes_with_background() -> None:
    result = fitted("fit=200x200:contain", thirds())  # 300x100 -> 200x67 on 200x200
    assert result.shape == (200, 200, 3)
    assert (result[:60] == 255).all() and (result[-60:] == 255).all()  # white bands
    assert colour_of(result[90:110, :60]) == BLUE and colour_of(result[90:110, -60:]) == RED
    black = fitted({"op": "fit", "width": 200, "height": 200, "mode": "contain",
                    "background": "#000000"}, thirds())  # fmt: skip
    assert (black[:60] == 0).all()
    steps = pipeline.parse(["fit=200x200:contain", "background=#ff0000"])  # the chain's step
    (chained,) = pipeline.run(steps, [thirds()])
    assert colour_of(chained[:60]) == RED


def test_contain_on_alpha_letterboxes_transparent() -> None:
    image = np.dstack([thirds(), np.full((100, 300), 255, np.uint8)])
    result = fitted("fit=200x200:contain", image)
    assert result.shape == (200, 200, 4)
    assert (result[:60, :, 3] == 0).all() and (result[90:110, :, 3] == 255).all()


def test_inside_never_enlarges_and_fill_stretches() -> None:
    image = thirds(300, 100)
    assert fitted("fit=600x600:inside", image).shape == (100, 300, 3)
    assert fitted("fit=150x150:inside", image).shape == (50, 150, 3)
    assert fitted("fit=600x:inside", image).shape == (100, 300, 3)
    stretched = fitted("fit=90x90:fill", image)
    assert stretched.shape == (90, 90, 3)
    assert colour_of(stretched[:, :25]) == BLUE and colour_of(stretched[:, -25:]) == RED
    assert fitted("fit=600x600:contain", image).shape == (600, 600, 3)  # contain enlarges


def test_one_side_keeps_the_aspect_ratio() -> None:
    assert fitted("fit=150x", thirds()).shape == (50, 150, 3)
    assert fitted("fit=x50", thirds()).shape == (50, 150, 3)


def test_alpha_is_scaled_premultiplied_and_frames_fit_alike() -> None:
    image = np.zeros((100, 300, 4), np.uint8)
    image[..., :3] = RED  # hidden under alpha 0
    image[:, 100:200] = (*BLUE, 255)
    result = fitted("fit=30x10:fill", image)
    visible = result[..., 3] > 0
    assert (result[visible][:, 2] < 8).all()  # no red bleeds into the blue's edge


@pytest.mark.parametrize(
    "bad",
    ["fit=abc", "fit=x", "fit=0x10", "fit=10x10:sideways", "fit=10x10:cover:up",
     "fit=10x10:contain:north", "fit=10x10:cover:fp:1.5:0.5", "dpr=0.5", "dpr=9"],
)  # fmt: skip
def test_bad_fits_are_refused_naming_the_step(bad: str) -> None:
    with pytest.raises(InvalidParameter, match=r"operation 1 \((fit|dpr)\)"):
        pipeline.parse([bad])


@pytest.mark.parametrize(
    ("chain", "size", "made"),
    [
        (["fit=150x100", "dpr=2"], (1000, 800), (300, 200)),
        (["dpr=2", "fit=150x100"], (1000, 800), (300, 200)),
        (["fit=150x100", "dpr=2"], (200, 300), (200, 133)),  # to the source's size at most
        (["fit=150x100", "dpr=2"], (100, 50), (150, 100)),  # never below the box
        (["fit=150x", "dpr=1.5"], (1000, 800), (225, 180)),
        (["fit=150x100:inside", "dpr=3"], (1000, 800), (375, 300)),  # in 450x300
    ],
)
def test_dpr_multiplies_every_box(
    chain: list[str], size: tuple[int, int], made: tuple[int, int]
) -> None:
    assert pipeline.plan(pipeline.parse(chain), size, 10**8) == [made]


def test_dpr_changes_no_pixel_and_no_output_option() -> None:
    steps = pipeline.parse(["dpr=2", "format=webp"])
    assert pipeline.output_options(steps).format == "webp"
    image = photo(20, 10)
    assert np.array_equal(pipeline.run(steps, [image])[0], image)


@pytest.mark.parametrize(
    ("chain", "scale", "target"),
    [
        (["fit=150x100"], 4, (150, 100)),
        (["fit=150x100:contain"], 8, (150, 100)),
        (["fit=150x100:inside"], 8, (125, 100)),
        (["fit=150x100:fill"], 4, (150, 100)),
        (["fit=300x"], 2, (300, 240)),
        (["quality=80", "fit=100x100:cover:face"], 8, (100, 100)),
        (["fit=150x100", "dpr=2"], 2, (300, 200)),
        (["fit=900x700"], 1, None),
        (["blur=3", "fit=100x100"], 1, None),
    ],
)
def test_shrink_on_load_for_fits(
    chain: list[str], scale: int, target: tuple[int, int] | None
) -> None:
    size = (1000, 800)
    steps = pipeline.parse(chain)
    chosen, rewritten = pipeline.shrink_on_load(steps, size, codec.JPEG_SCALES)
    assert chosen == scale
    if target is None:
        assert rewritten == steps
        return
    reduced = (-(-size[0] // scale), -(-size[1] // scale))
    assert pipeline.plan(rewritten, reduced, 10**9) == pipeline.plan(steps, size, 10**9) == [target]


@pytest.mark.parametrize(
    "chain", [["fit=240x160"], ["fit=240x160:contain"], ["fit=240x160:inside"], ["fit=240x"]]
)
def test_a_fit_shrunk_on_load_is_close_to_the_full_decode(chain: list[str]) -> None:
    data = encode(photo(1600, 1200, seed=4), ".jpg", quality=95)
    steps = pipeline.parse(chain)
    item = check("a.jpg", data, steps, LIMITS)
    assert pipeline.shrink_on_load(steps, (1600, 1200), codec.JPEG_SCALES)[0] > 1
    (result,) = transform(item, steps, Output(codec.FORMATS["png"]), 1)
    fast = cv2.imdecode(np.frombuffer(result, np.uint8), cv2.IMREAD_UNCHANGED)
    full = codec.decode(data, item.info, "color")
    slow = pipeline.run(steps, [full])[0]
    assert fast.shape == slow.shape
    assert np.abs(fast.astype(int) - slow.astype(int)).mean() < 2.0


def test_a_fit_decodes_a_jpeg_at_an_eighth(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(photo(3000, 2000, seed=6), ".jpg", quality=90)
    steps = pipeline.parse(["fit=300x200:cover:smart"])
    item = check("a.jpg", data, steps, LIMITS)
    decoded: list[tuple[int, ...]] = []
    real_decode = codec.decode

    def recording_decode(*args: Any, **kwargs: Any) -> np.ndarray:
        image = real_decode(*args, **kwargs)
        decoded.append(image.shape)
        return image

    monkeypatch.setattr(codec, "decode", recording_decode)
    (result,) = transform(item, steps, Output(codec.FORMATS["png"]), 1)
    assert decoded == [(250, 375, 3)]
    assert cv2.imdecode(np.frombuffer(result, np.uint8), cv2.IMREAD_UNCHANGED).shape == (
        200,
        300,
        3,
    )


def test_an_animation_is_fitted_frame_by_frame() -> None:
    frames = [Image.fromarray(np.full((60, 90, 3), level, np.uint8)) for level in (40, 120, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    steps = pipeline.parse(["fit=30x30:cover:west"])
    item = check("a.gif", buffer.getvalue(), steps, LIMITS)
    out = choose(item, steps, None, None, "test")
    (result,) = transform(item, steps, out, 1)
    with Image.open(io.BytesIO(result)) as gif:
        assert gif.n_frames == 3 and gif.size == (30, 30)
        levels = []
        for index in range(3):
            gif.seek(index)
            levels.append(int(np.asarray(gif.convert("L")).mean()))
    assert all(abs(level - want) <= 2 for level, want in zip(levels, (40, 120, 200), strict=True))
