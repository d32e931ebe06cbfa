"""Bad input to POST /process: each gets a 4xx whose detail names the problem; never a 500.

The app in this module has small limits: 2 MiB per file, 8 MiB per request, 20 Mpx.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.images import encode, photo
from tests.imaging.test_codec import png_header_only

GOOD = encode(photo(64, 48, seed=1))
GOOD_JPEG = encode(photo(640, 480, seed=2), ".jpg")
TEXT = b"this is a plain text file that someone named photo.jpg\n" * 10
TRUNCATED_JPEG = GOOD_JPEG[: len(GOOD_JPEG) // 2]
BOMB = png_header_only(60_000, 60_000)
TOO_MANY_BYTES = b"\xff\xd8\xff\xe0" + b"\0" * (3 * 1024 * 1024)


def files(one: bytes | None = GOOD, two: bytes | None = GOOD, *more: bytes) -> list[Any]:
    parts = []
    if one is not None:
        parts.append(("image1", ("one.jpg", one, "image/jpeg")))
    if two is not None:
        parts.append(("image2", ("two.jpg", two, "image/jpeg")))
    parts += [("images", (f"{i}.png", data, "image/png")) for i, data in enumerate(more)]
    return parts


CASES = [
    # id, files, form, status, words the detail must hold
    ("even-kernel", files(), {"kernel_size": "4"}, 422, r"kernel_size.*odd.*4"),
    ("zero-kernel", files(), {"kernel_size": "0"}, 422, r"kernel_size.*greater than or equal to 1"),
    ("negative-kernel", files(), {"kernel_size": "-3"}, 422, r"kernel_size"),
    (
        "huge-kernel",
        files(),
        {"kernel_size": "257"},
        422,
        r"kernel_size.*less than or equal to 255",
    ),
    ("text-kernel", files(), {"kernel_size": "five"}, 422, r"kernel_size"),
    (
        "zero-segment",
        files(),
        {"segment_size": "0"},
        422,
        r"segment_size.*greater than or equal to 1",
    ),
    ("negative-segment", files(), {"segment_size": "-50"}, 422, r"segment_size"),
    ("threshold-below", files(), {"brightness_threshold": "-1"}, 422, r"brightness_threshold"),
    ("threshold-above", files(), {"brightness_threshold": "255.5"}, 422, r"brightness_threshold"),
    ("threshold-nan", files(), {"brightness_threshold": "nan"}, 422, r"brightness_threshold"),
    ("missing-image2", files(GOOD, None), {}, 422, r"image2"),
    ("missing-both", [], {"kernel_size": "5"}, 422, r"image1"),
    ("zero-byte-file", files(b""), {}, 422, r"image1 is empty"),
    ("text-named-jpg", files(GOOD, TEXT), {}, 415, r"image2 is not an image"),
    ("truncated-jpeg", files(TRUNCATED_JPEG), {}, 415, r"image1.*truncated"),
    ("60000x60000-png", files(BOMB), {}, 413, r"image1.*pixel limit|image1.*pixels"),
    ("file-over-byte-limit", files(TOO_MANY_BYTES), {}, 413, r"image1 is 3,145,732 bytes"),
    ("request-over-limit", files(GOOD, *[b"x" * (3 * 1024 * 1024)] * 3), {}, 413, r"request body"),
    ("17-images", files(GOOD, GOOD, *[GOOD] * 15), {}, 422, r"too many images: 17"),
    # cheapest check first: bad field (422) before size (413) before content (415)
    ("order-422-first", files(TEXT, TOO_MANY_BYTES), {"kernel_size": "2"}, 422, r"kernel_size"),
    ("order-413-before-415", files(TEXT, TOO_MANY_BYTES), {}, 413, r"image2 is 3,145,732"),
]


@pytest.mark.parametrize(
    ("parts", "form", "status", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_gets_a_clear_4xx(
    client: TestClient, parts: list[Any], form: dict[str, str], status: int, words: str
) -> None:
    response = client.post("/process", files=parts, data=form)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert re.search(words, str(detail)), detail
    assert "Traceback" not in response.text


def test_image_sent_as_a_text_field(client: TestClient) -> None:
    response = client.post("/process", data={"image1": "a.jpg", "image2": "b.jpg"})
    assert response.status_code == 422
    assert "image1" in str(response.json()["detail"])


def test_a_json_body_is_not_a_form(client: TestClient) -> None:
    response = client.post("/process", json={"image1": "x"})
    assert response.status_code == 422


def test_body_streamed_without_length_is_cut_at_the_limit(client: TestClient) -> None:
    def chunks() -> Any:
        for _ in range(10):
            yield b"-" * (1024 * 1024)

    headers = {"content-type": "multipart/form-data; boundary=xyz"}
    response = client.post("/process", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert "request body" in response.json()["detail"]


def test_still_healthy_and_working_after_all_of_them(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    response = client.post("/process", files=files(GOOD_JPEG, GOOD))
    assert response.status_code == 200
    assert response.content.startswith(b"\x89PNG")


def test_head_health_answers_like_get_without_a_body(client: TestClient) -> None:
    head, get = client.head("/health"), client.get("/health")
    assert head.status_code == get.status_code == 200
    assert head.content == b""


def test_a_plain_field_where_a_file_belongs_is_a_short_422_saying_so(client: TestClient) -> None:
    response = client.post(
        "/v1/transform", files={"file": ("", b"x" * 50_000)}, data={"ops": "grayscale"}
    )
    assert response.status_code == 422
    assert len(response.content) < 1000
    [error] = response.json()["detail"]
    assert error["msg"].startswith("expected a file: a form part with a file name")
    assert error["input"].endswith("... (50,000 in all)")
