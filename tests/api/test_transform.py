"""POST /v1/transform: one upload, any chain, the result in the format asked for."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pixelmill.api import create_app
from pixelmill.config import Settings
from tests.images import encode, photo

IMAGE = photo(120, 80, seed=4)


def post(client: TestClient, ops: str, data: bytes | None = None, **form: str):  # type: ignore[no-untyped-def]
    files = {"file": ("pic.png", encode(IMAGE) if data is None else data)}
    return client.post("/v1/transform", files=files, data={"ops": ops, **form})


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image


@pytest.mark.parametrize(
    "ops",
    [
        "resize=0.5,grayscale,blur=5",
        '["resize=0.5", "grayscale", {"op": "blur", "kernel_size": 5}]',
    ],
)
def test_chain_in_both_spellings(client: TestClient, ops: str) -> None:
    response = post(client, ops)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"  # the input's format
    result = decode(response.content)
    small = cv2.resize(IMAGE, (60, 40), interpolation=cv2.INTER_AREA)
    expected = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
    assert np.array_equal(result, expected)


def test_format_and_quality(client: TestClient) -> None:
    best = post(client, "grayscale", format="jpeg", quality="95")
    worst = post(client, "grayscale", format="jpg", quality="5")
    assert best.headers["content-type"] == worst.headers["content-type"] == "image/jpeg"
    assert best.content[:3] == b"\xff\xd8\xff"
    assert len(worst.content) < len(best.content)
    webp = post(client, "resize=0.5,format=webp")
    assert webp.headers["content-type"] == "image/webp"
    assert decode(webp.content).shape[:2] == (40, 60)


def test_jpeg_input_gives_jpeg(client: TestClient) -> None:
    response = post(client, "grayscale", data=encode(IMAGE, ".jpg"))
    assert response.headers["content-type"] == "image/jpeg"


def test_split_returns_a_zip_of_quadrants(client: TestClient) -> None:
    response = post(client, "split")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        assert names == [f"pic_{i}.png" for i in range(4)]
        quadrants = [decode(archive.read(name)) for name in names]
    assert np.array_equal(quadrants[0], IMAGE[:40, :60])
    assert np.array_equal(quadrants[3], IMAGE[40:, 60:])


@pytest.mark.parametrize(
    ("filename", "disposition"),
    [
        ("pic.png", 'attachment; filename="pic.zip"'),
        (
            "фото.jpg",
            "attachment; filename=\"____.zip\"; filename*=UTF-8''%D1%84%D0%BE%D1%82%D0%BE.zip",
        ),
        (
            "semi;colon.png",
            "attachment; filename=\"semi_colon.zip\"; filename*=UTF-8''semi%3Bcolon.zip",
        ),
    ],
)
def test_the_zip_is_named_after_any_upload_name(
    client: TestClient, filename: str, disposition: str
) -> None:
    files = {"file": (filename, encode(IMAGE))}
    response = client.post("/v1/transform", files=files, data={"ops": "split"})
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == disposition
    stem = filename.rsplit(".", 1)[0]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == [f"{stem}_{i}.png" for i in range(4)]


@pytest.mark.parametrize(
    ("ops", "form", "status", "words"),
    [
        ("sharpen=x", {}, 422, "sharpen"),
        ("nope", {}, 422, "unknown operation"),
        ("resize=0.5,,grayscale", {}, 422, "2"),
        ("[not json", {}, 422, "JSON"),
        ("grayscale", {"format": "bmp"}, 422, "format"),
        ("grayscale", {"quality": "0"}, 422, "quality"),
        ("resize=100,resize=100", {}, 422, "the limit is"),
    ],
)
def test_bad_requests(
    client: TestClient, ops: str, form: dict[str, str], status: int, words: str
) -> None:
    response = post(client, ops, **form)
    assert response.status_code == status, response.text
    assert words in str(response.json()["detail"])


def test_bad_files(client: TestClient) -> None:
    assert post(client, "grayscale", data=b"").status_code == 422
    assert post(client, "grayscale", data=b"plain text, not a picture").status_code == 415
    missing = client.post("/v1/transform", data={"ops": "grayscale"})
    assert missing.status_code == 422


OP_WORDS = [
    "resize",
    "split",
    "blur",
    "crop",
    "rotate",
    "flip",
    "grayscale",
    "threshold",
    "sharpen",
    "brightness",
    "contrast",
    "grid",
    "format",
    "quality",
    "collage",
    "nope",
]
VALUES = ["", "0", "1", "2", "0.5", "-1", "3", "90", "255", "1e9", "nan", "x", "4x4+1+1", "webp"]


@given(
    items=st.lists(
        st.builds(
            lambda n, v: n if v is None else f"{n}={v}",
            st.sampled_from(OP_WORDS),
            st.none() | st.sampled_from(VALUES),
        ),
        max_size=5,
    )
)
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_any_chain_is_a_200_or_a_422_never_a_500(client: TestClient, items: list[str]) -> None:
    response = post(client, ",".join(items), data=SMALL)
    assert response.status_code in (200, 422), (items, response.text)
    if response.status_code == 422:
        assert response.json()["detail"]
    else:
        assert response.content


SMALL = encode(photo(24, 16, seed=1))


def test_the_operation_limit_is_a_setting(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings(max_operations=3))) as small:
        image = encode(photo(40, 30, seed=8))
        three = small.post(
            "/v1/transform", files={"file": ("a.png", image)}, data={"ops": "grayscale,flip,flip"}
        )
        assert three.status_code == 200
        four = small.post(
            "/v1/transform",
            files={"file": ("a.png", image)},
            data={"ops": "grayscale,flip,flip,flip"},
        )
        assert four.status_code == 422
        assert four.json()["detail"] == "too many operations: 4 (the limit is 3)"
        piped = small.post("/pipeline", json={"images": [], "operations": ["flip"] * 4})
        assert piped.status_code == 422 and "the limit is 3" in piped.json()["detail"]


@pytest.mark.parametrize(
    ("ops", "form", "words"),
    [
        ("grayscale", {"format": "webp"}, "1×20000 image, and WEBP holds at most 16383"),
        ('[{"op": "resize", "width": 1, "height": 70000}]', {"format": "jpeg"}, "JPEG holds"),
    ],
)
def test_a_result_the_format_cannot_hold_is_422_before_any_work(
    client: TestClient, ops: str, form: dict[str, str], words: str
) -> None:
    tall = encode(np.zeros((20_000, 1, 3), np.uint8))
    response = post(client, ops, data=tall, **form)
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert post(client, "grayscale", data=tall, format="png").status_code == 200
