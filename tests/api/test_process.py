"""POST /process over HTTP: the collage's pixels, its file on disk, its content type."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.images import blocks, encode, expected_cell, expected_collage, photo


def decode_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def post(client: TestClient, images: list[bytes], **form: object) -> object:
    files = [("image1", ("a.png", images[0])), ("image2", ("b.png", images[1]))]
    files += [("images", (f"{i}.png", data)) for i, data in enumerate(images[2:])]
    return client.post("/process", files=files, data={k: str(v) for k, v in form.items()})


def test_two_images_give_the_collage_and_the_same_file(
    client: TestClient, module_dirs: Path
) -> None:
    a = blocks(100, 150, 50, [[200, 20, 200], [20, 200, 20]])
    b = photo(150, 100, seed=5)
    response = post(
        client, [encode(a), encode(b)], kernel_size=5, segment_size=50, brightness_threshold=100
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    collage = decode_png(response.content)
    gray_b = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY)
    expected = expected_collage([expected_cell(a, 5, 50, 100), expected_cell(gray_b, 5, 50, 100)])
    assert collage.shape == (100, 300, 3)
    assert np.array_equal(collage, expected)
    saved = module_dirs / "results" / "final_collage.png"
    assert saved.read_bytes() == response.content


@pytest.mark.parametrize("count", [3, 4, 5, 16])
def test_more_images_fill_a_grid_in_order(client: TestClient, count: int) -> None:
    sizes = [(40 + 7 * i, 30 + 5 * (i % 3)) for i in range(count)]
    images = [photo(w, h, seed=i) for i, (w, h) in enumerate(sizes)]
    response = post(
        client, [encode(img) for img in images], segment_size=9, brightness_threshold=120
    )
    assert response.status_code == 200, response.text
    cells = [expected_cell(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 5, 9, 120) for img in images]
    assert np.array_equal(decode_png(response.content), expected_collage(cells))


def test_images_of_different_sizes_keep_their_size(client: TestClient) -> None:
    small, large = photo(30, 90, seed=1), photo(120, 40, seed=2)
    response = post(client, [encode(small), encode(large)], segment_size=1000)
    collage = decode_png(response.content)
    assert collage.shape == (90, 240, 3)
    assert np.all(collage[:, 30:120] == 0)  # right of the narrow image: black
    assert np.all(collage[40:, 120:] == 0)  # below the short image: black


def test_jpeg_inputs_follow_their_stored_luma(client: TestClient) -> None:
    images = [photo(200, 120, seed=8), photo(200, 120, seed=9)]
    jpegs = [encode(img, ".jpg") for img in images]
    response = post(client, jpegs, segment_size=25, brightness_threshold=110)
    cells = [
        expected_cell(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_GRAYSCALE), 5, 25, 110)
        for j in jpegs
    ]
    assert np.array_equal(decode_png(response.content), expected_collage(cells))


def test_defaults_are_those_of_the_spec(client: TestClient) -> None:
    images = [photo(160, 110, seed=3), photo(160, 110, seed=4)]
    response = post(client, [encode(img) for img in images])
    cells = [expected_cell(cv2.cvtColor(i, cv2.COLOR_BGR2GRAY), 5, 50, 100) for i in images]
    assert np.array_equal(decode_png(response.content), expected_collage(cells))


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "image/png"),
        ("", "image/png"),
        ("*/*", "image/png"),
        ("application/octet-stream", "application/octet-stream"),
        ("image/png, */*", "image/png"),
        ("application/octet-stream, image/png", "image/png"),  # a tie: PNG
        ("application/octet-stream, image/png;q=0", "application/octet-stream"),
        ("image/png;q=0.5, application/octet-stream;q=0.1", "image/png"),
        ("image/png;q=0.1, application/octet-stream;q=0.5", "application/octet-stream"),
        ("image/*;q=0.2, */*", "application/octet-stream"),  # image/* is the one PNG matches
        ("application/*", "application/octet-stream"),
        ("IMAGE/PNG;Q=0, Application/Octet-Stream", "application/octet-stream"),
        ("image/png;q=oops, application/octet-stream;q=0.1", "application/octet-stream"),
        ("text/html", "image/png"),  # neither: the default, not a 406
    ],
)
def test_the_media_type_is_the_one_accept_ranks_highest(
    client: TestClient, accept: str | None, media_type: str
) -> None:
    images = [encode(photo(20, 20)), encode(photo(20, 20, seed=1))]
    files = {"image1": ("a.png", images[0]), "image2": ("b.png", images[1])}
    headers = {} if accept is None else {"Accept": accept}
    response = client.post("/process", files=files, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    decode_png(response.content)  # PNG bytes either way


def test_health_reports_each_component(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    execution = client.app.state.pools.execution  # type: ignore[attr-defined]
    assert body["components"]["workers"] == {
        "status": "ok",
        "detail": "ok",
        "execution": execution,
        # the fixture's process_workers=2: hybrid's isolated pool takes its size too
        "processes": {"processes": 2, "threads": 0, "hybrid": 2}[execution],
        "threads": 2,
        "restarts": 0,
    }
    assert body["components"]["results_dir"]["status"] == "ok"


def test_docs_and_openapi_with_examples(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    form = schema["paths"]["/process"]["post"]["requestBody"]["content"]["multipart/form-data"]
    ref = form["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = schema["components"]["schemas"][ref]["properties"]
    assert fields["kernel_size"]["examples"] == [5]
    assert "odd" in fields["kernel_size"]["description"]
    assert {"image1", "image2", "images", "segment_size", "brightness_threshold"} <= set(fields)


def test_docs_hold_the_operation_table(client: TestClient) -> None:
    description = client.get("/openapi.json").json()["info"]["description"]
    for name in ("resize", "splitQuadrants", "blur", "crop", "rotate", "threshold", "quality"):
        assert f"`{name}`" in description
