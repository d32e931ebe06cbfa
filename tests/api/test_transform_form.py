"""POST /v1/transform reads its form in one pass over the body (api/uploads.read_form): the
upload arrives byte for byte however the body is cut, the fields mean what they meant with
FastAPI's File and Form parameters, and a form that is wrong is the same 4xx as before."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.api.badinput import MULTIPART, multipart
from tests.images import encode, photo

IMAGE = photo(64, 48, seed=7)
BOUNDARY = "pm-b"


def jpeg_with_comment(comment: bytes) -> bytes:
    """A JPEG of IMAGE with a COM segment right after SOI holding `comment`."""
    data = encode(IMAGE, ".jpg")
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return data[:2] + segment + data[2:]


def gray_of(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return image


def chunked(body: bytes, size: int) -> Iterator[bytes]:
    for at in range(0, len(body), size):
        yield body[at : at + size]


# What could pass for the boundary inside the file: a CR LF, the dashes, most of the boundary
TRICKY = b"\r\n--pm-\r\n--pm\r--p\r\n-" * 20


@pytest.mark.parametrize("chunk", [None, 1, 7, 4096])
def test_the_upload_arrives_whole_however_the_body_is_cut(
    client: TestClient, chunk: int | None
) -> None:
    data = jpeg_with_comment(TRICKY)
    parts = [("ops", None, b"grayscale"), ("format", None, b"png"), ("file", "x.jpg", data)]
    body = multipart(parts, BOUNDARY)
    content = body if chunk is None else chunked(body, chunk)
    response = client.post("/v1/transform", content=content, headers=MULTIPART)
    assert response.status_code == 200, response.text
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(gray_of(response.content), expected)


def test_the_file_first_or_last_and_the_last_of_a_field_wins(client: TestClient) -> None:
    data = encode(IMAGE)
    body = multipart(
        [
            ("file", "a.png", data),
            ("format", None, b"png"),
            ("ops", None, b"resize=0.5"),
            ("format", None, b"jpeg"),
        ],
        BOUNDARY,
    )
    response = client.post("/v1/transform", content=body, headers=MULTIPART)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert gray_of(response.content).shape[:2] == (24, 32)


def test_a_url_encoded_form_is_a_422_naming_the_missing_file(client: TestClient) -> None:
    response = client.post("/v1/transform", data={"ops": "grayscale"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "file"] and error["msg"] == "Field required"


def test_no_form_at_all_is_a_422_naming_both_fields(client: TestClient) -> None:
    response = client.post("/v1/transform", json={"ops": "grayscale"})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "file"], ["body", "ops"]]


def test_ops_sent_as_a_file_is_a_422(client: TestClient) -> None:
    files = {"file": ("a.png", encode(IMAGE)), "ops": ("ops.txt", b"grayscale")}
    response = client.post("/v1/transform", files=files)
    assert response.status_code == 422
    assert "ops" in str(response.json()["detail"])


@pytest.mark.parametrize(
    ("quality", "words"),
    [("abc", "valid integer"), ("101", "less than or equal to 100"), ("0", "greater than")],
)
def test_a_bad_quality_is_fastapis_422(client: TestClient, quality: str, words: str) -> None:
    files = {"file": ("a.png", encode(IMAGE))}
    form = {"ops": "grayscale", "format": "jpeg", "quality": quality}
    response = client.post("/v1/transform", files=files, data=form)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "quality"] and words in error["msg"]


def test_a_part_without_a_name_is_a_400(client: TestClient) -> None:
    body = b'--pm-b\r\nContent-Disposition: form-data; filename="a"\r\n\r\nabc\r\n--pm-b--\r\n'
    response = client.post("/v1/transform", content=body, headers=MULTIPART)
    assert response.status_code == 400
    assert "name" in response.json()["detail"]


def test_a_non_ascii_file_name_names_the_zip(client: TestClient) -> None:
    files = {"file": ("café.png", encode(IMAGE))}
    response = client.post("/v1/transform", files=files, data={"ops": "split=2x2"})
    assert response.status_code == 200, response.text
    assert "caf%C3%A9.zip" in response.headers["content-disposition"]


def test_the_documented_body_is_the_form_the_route_reads(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/transform"]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file", "ops"]
    assert list(schema["properties"]) == ["file", "ops", "format", "quality"]
    assert schema["properties"]["file"]["contentMediaType"] == "application/octet-stream"
    bounds = schema["properties"]["quality"]["anyOf"][0]
    assert (bounds["minimum"], bounds["maximum"]) == (1, 100)


def test_empty_fields_are_fields_not_given(client: TestClient) -> None:
    """A browser sends the form's empty boxes as empty strings (quality="", format=""): as with
    FastAPI's Form parameters they mean "not given", and an empty ops is "Field required"."""
    files = {"file": ("a.png", encode(IMAGE))}
    response = client.post(
        "/v1/transform", files=files, data={"ops": "grayscale", "format": "", "quality": ""}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"  # the input's format
    assert gray_of(response.content).ndim == 2
    response = client.post("/v1/transform", files=files, data={"ops": "", "quality": ""})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "ops"] and error["msg"] == "Field required"
