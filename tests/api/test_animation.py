"""Animated GIF and WebP on every surface (`/v1/transform`, `/pipeline`, `pixelmill run`): the
frames, durations and loop count a user gets back, the first frame where the output holds
one image, `frame=N`, and the limit on all frames checked before anything is decoded.

Resized frames are compared with Pillow's BOX resize of Pillow's own frames (the same area
average), to 1 level: the corpus GIFs' frames keep at most 256 colours once halved, so the
GIF written holds them exactly.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pixelmill.api import create_app
from pixelmill.config import Settings
from pixelmill.errors import Stopped
from pixelmill.execution import pipeline as execution
from pixelmill.imaging import pipeline
from tests.imaging.test_animation import many_frames_gif

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
ANSWERS: dict[str, dict[str, Any]] = json.loads((CORPUS / "animations.json").read_text())
BANDS = (CORPUS / "anim-gif-bands.gif").read_bytes()
RGBA_WEBP = (CORPUS / "anim-webp-rgba.webp").read_bytes()


def transform(client: TestClient, data: bytes, ops: str, **form: str) -> httpx.Response:
    return client.post("/v1/transform", files={"file": ("clip", data)}, data={"ops": ops, **form})


def frames_of(data: bytes) -> tuple[Image.Image, list[tuple[np.ndarray, int]]]:
    """The image as Pillow opens it, and every frame (RGB or RGBA) with its duration."""
    image = Image.open(io.BytesIO(data))
    alpha = "A" in image.mode or "transparency" in image.info
    frames = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        pixels = np.asarray(image.convert("RGBA" if alpha else "RGB")).astype(int)
        frames.append((pixels, int(image.info.get("duration") or 0)))
    image.seek(0)
    return image, frames


def halved(data: bytes) -> list[np.ndarray]:
    """Pillow's own frames, each resized to half with its area average (BOX)."""
    _, frames = frames_of(data)
    out = []
    for pixels, _ in frames:
        image = Image.fromarray(pixels.astype(np.uint8))
        size = (image.width // 2, image.height // 2)
        out.append(np.asarray(image.resize(size, Image.Resampling.BOX)).astype(int))
    return out


# --- /v1/transform ------------------------------------------------------------------------------


def test_a_resized_gif_keeps_every_frame_its_duration_and_loop(client: TestClient) -> None:
    response = transform(client, BANDS, "resize=0.5")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/gif"
    image, frames = frames_of(response.content)
    assert (image.format, image.size, image.info["loop"]) == ("GIF", (24, 16), 0)
    assert [duration for _, duration in frames] == ANSWERS["anim-gif-bands.gif"]["durations"]
    for (ours, _), theirs in zip(frames, halved(BANDS), strict=True):
        assert np.abs(ours - theirs).max() <= 1


def test_a_gif_asked_as_webp_is_an_animated_webp(client: TestClient) -> None:
    response = transform(client, BANDS, "resize=0.5", format="webp", quality="100")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp"
    image, frames = frames_of(response.content)
    assert (image.format, image.n_frames, image.info["loop"]) == ("WEBP", 6, 0)
    assert [duration for _, duration in frames] == [40, 60, 80, 100, 120, 140]
    for (ours, _), theirs in zip(frames, halved(BANDS), strict=True):
        # lossy WebP halves the colour resolution: on a 24×16 picture of hard colour edges
        # even a still WebP of the frame is 9 levels off on average; ours no further
        buffer = io.BytesIO()
        Image.fromarray(theirs.astype(np.uint8)).save(buffer, "WEBP", quality=100)
        still = np.asarray(Image.open(buffer).convert("RGB")).astype(int)
        assert np.abs(ours - theirs).mean() <= np.abs(still - theirs).mean() + 1


def test_an_animated_webp_keeps_its_alpha_and_loop_count(client: TestClient) -> None:
    response = transform(client, RGBA_WEBP, "flip=horizontal,brightness=10")
    assert response.status_code == 200, response.text
    image, frames = frames_of(response.content)
    assert (image.format, image.n_frames, image.info["loop"]) == ("WEBP", 4, 2)
    assert [duration for _, duration in frames] == [50, 100, 150, 200]
    _, originals = frames_of(RGBA_WEBP)
    for (ours, _), (theirs, _) in zip(frames, originals, strict=True):
        assert np.abs(ours[..., 3] - theirs[:, ::-1, 3]).max() <= 1  # alpha flipped, kept


def test_a_transparent_gif_stays_transparent(client: TestClient) -> None:
    data = (CORPUS / "anim-gif-transparent.gif").read_bytes()
    response = transform(client, data, "rotate=180")
    assert response.status_code == 200, response.text
    image, frames = frames_of(response.content)
    assert image.n_frames == 4 and image.info["loop"] == 3  # 4 plays, as the input
    _, originals = frames_of(data)
    for (ours, _), (theirs, _) in zip(frames, originals, strict=True):
        assert np.array_equal(ours[..., 3], theirs[::-1, ::-1, 3])
        assert (ours[..., 3] == 0).any()


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_a_format_of_one_image_gets_the_first_frame(client: TestClient, fmt: str) -> None:
    response = transform(client, BANDS, "resize=0.5", format=fmt)
    assert response.status_code == 200, response.text
    image, frames = frames_of(response.content)
    assert image.format == fmt.upper() and getattr(image, "n_frames", 1) == 1
    difference = np.abs(frames[0][0] - halved(BANDS)[0])
    if fmt == "png":
        assert difference.max() <= 1
    else:  # JPEG smears a 24×16 picture's hard edges, yet it is the first frame's picture
        assert difference.mean() <= np.abs(frames[0][0] - halved(BANDS)[3]).mean() / 2


def test_frame_picks_one_frame_as_a_still(client: TestClient) -> None:
    response = transform(client, BANDS, "frame=2")
    assert response.status_code == 200, response.text
    image, frames = frames_of(response.content)
    assert image.format == "GIF" and getattr(image, "n_frames", 1) == 1
    _, originals = frames_of(BANDS)
    assert np.array_equal(frames[0][0], originals[2][0])


def test_a_frame_the_input_does_not_have_is_a_422_naming_the_count(client: TestClient) -> None:
    response = transform(client, BANDS, "resize=0.5,frame=6")
    assert response.status_code == 422
    assert response.json()["detail"] == (
        "operation 2 (frame): there is no frame 6: the image has 6 frames (0 to 5)"
    )


def test_an_operation_on_the_whole_image_works_on_the_first_frame(client: TestClient) -> None:
    response = transform(client, BANDS, "grid=8")
    assert response.status_code == 200, response.text
    image, _ = frames_of(response.content)
    assert image.format == "GIF" and getattr(image, "n_frames", 1) == 1


def test_a_gif_claiming_10000_frames_is_a_413_fast_in_bounded_memory(
    client: TestClient,
) -> None:
    data = many_frames_gif(10_000, 200, 200)  # 230 kB that composite to 400,000,000 pixels
    tracemalloc.start()
    began = time.perf_counter()
    try:
        response = transform(client, data, "resize=0.5")
        seconds = time.perf_counter() - began
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert (
        "limit for all frames of an animation is 100,000,000 pixels" in (response.json()["detail"])
    )
    assert seconds < 2
    assert peak < 10 * len(data)  # the upload's few copies; no frame was decoded


def test_a_chain_making_too_many_animation_pixels_is_a_422(
    make_settings: Callable[..., Settings],
) -> None:
    # 6 frames of 48×32 = 9,216 pixels in; twice the size: 36,864 out
    with TestClient(create_app(make_settings(max_animation_pixels=20_000))) as client:
        assert transform(client, BANDS, "resize=0.5").status_code == 200
        response = transform(client, BANDS, "resize=2")
        assert response.status_code == 422
        assert "the chain makes 6 frames of 96×64 = 36,864 pixels" in response.json()["detail"]
        # one frame only: not an animation, not held to the limit
        assert transform(client, BANDS, "resize=2", format="png").status_code == 200


# --- /pipeline and pixelmill run ----------------------------------------------------------------


@pytest.fixture(scope="module")
def files(module_dirs: Path) -> Path:
    root = module_dirs / "data" / "files"
    root.mkdir(parents=True, exist_ok=True)
    (root / "bands.gif").write_bytes(BANDS)
    (root / "alpha.webp").write_bytes(RGBA_WEBP)
    return root


@pytest.mark.parametrize(
    ("source", "output", "fmt", "frames", "loop"),
    [
        ("bands.gif", "anim/bands.gif", "GIF", 6, 0),
        ("bands.gif", "anim/bands.webp", "WEBP", 6, 0),
        ("alpha.webp", "anim/alpha.gif", "GIF", 4, 1),  # WebP's 2 plays: 1 repeat in GIF
    ],
)
def test_pipeline_writes_animations(
    client: TestClient, files: Path, source: str, output: str, fmt: str, frames: int, loop: int
) -> None:
    response = client.post(
        "/pipeline",
        json={"images": [{"input": source, "output": output}], "operations": ["resize=0.5"]},
    )
    assert response.status_code == 200, response.text
    image, written = frames_of((files / output).read_bytes())
    assert (image.format, image.n_frames, image.info["loop"]) == (fmt, frames, loop)
    durations = ANSWERS["anim-gif-bands.gif" if source == "bands.gif" else "anim-webp-rgba.webp"]
    assert [duration for _, duration in written] == durations["durations"]


def test_pixelmill_run_writes_an_animated_gif(tmp_path: Path) -> None:
    (tmp_path / "x.gif").write_bytes(BANDS)
    result = subprocess.run(
        [sys.executable, "-m", "pixelmill", "run", "--ops", "resize=0.5", "--out", "out", "x.gif"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    image, frames = frames_of((tmp_path / "out" / "x.gif").read_bytes())
    assert (image.n_frames, image.size) == (6, (24, 16))
    assert [duration for _, duration in frames] == [40, 60, 80, 100, 120, 140]
    for (ours, _), theirs in zip(frames, halved(BANDS), strict=True):
        assert np.abs(ours - theirs).max() <= 1


def test_a_gif_asked_as_avif_is_an_animated_avif(client: TestClient) -> None:
    response = transform(client, BANDS, "resize=0.5", format="avif")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/avif"
    image, frames = frames_of(response.content)
    assert (image.format, image.n_frames) == ("AVIF", 6)
    assert [duration for _, duration in frames] == [40, 60, 80, 100, 120, 140]
    # and an animated AVIF comes back as one, in AVIF
    again = transform(client, response.content, "flip")
    assert again.status_code == 200, again.text
    image, frames = frames_of(again.content)
    assert (image.format, image.n_frames) == ("AVIF", 6)
    assert [duration for _, duration in frames] == [40, 60, 80, 100, 120, 140]


def test_an_animation_stops_between_frames_once_unwanted(monkeypatch: pytest.MonkeyPatch) -> None:
    steps = pipeline.parse(["resize=0.5"])
    item = execution.check("clip.gif", BANDS, steps, execution.Limits(10**7, 10**7, 10**7))
    out = execution.choose(item, steps, None, None, "the test")
    asked = []

    def wanted() -> bool:
        asked.append(True)
        return len(asked) < 3

    monkeypatch.setattr(execution, "still_wanted", wanted)
    # asked before each frame after the first: frames 2 and 3 still wanted, frame 4 not
    with pytest.raises(Stopped, match="stopped before frame 4 of 6"):
        execution.transform(item, steps, out, 1)
