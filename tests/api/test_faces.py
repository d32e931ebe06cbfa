"""The faces surface in the embedded default: detection jobs, results, metadata, the feed."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.config import Settings
from tests.conftest import KINDS
from tests.images import astronaut, encode, iou, photo
from tests.imaging.test_codec import png_header_only
from tests.imaging.test_faces import ASTRONAUT_FACE

ASTRONAUT = encode(astronaut(), ".jpg", quality=95)


@pytest.fixture
def client(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings())) as test_client:
        yield test_client


def upload(
    client: TestClient, data: bytes, path: str = "/api/v1/images", field: str = "file"
) -> Any:
    return client.post(path, files={field: ("astronaut.jpg", data, "image/jpeg")})


def wait_meta(client: TestClient, id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/api/v1/images/{id}/meta")
        if response.status_code == 200:
            return dict(response.json())
        assert response.status_code == 409, response.text
        assert response.json()["status"] in ("queued", "processing"), response.json()
        assert time.monotonic() < deadline, "not processed in time"
        time.sleep(0.05)


def test_upload_detect_serve_and_meta(client: TestClient) -> None:
    response = upload(client, ASTRONAUT)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["url"] == f"/api/v1/images/{body['id']}"
    assert body["meta_url"] == body["url"] + "/meta"
    meta = wait_meta(client, body["id"])
    assert (meta["width"], meta["height"]) == (512, 512)
    assert meta["face_count"] == len(meta["faces"]) == 1
    box = meta["faces"][0]
    assert iou((box["x"], box["y"], box["width"], box["height"]), ASTRONAUT_FACE) > 0.5
    served = client.get(body["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(served.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (512, 512, 3)
    # the box is drawn on the face's outline: a vivid colour where the original is skin
    x, y, h = box["x"], box["y"], box["height"]
    edge = image[y + h // 2, x : x + 2].astype(int)
    assert np.ptp(edge, axis=-1).min() > 100


@pytest.mark.parametrize(("path", "field"), [("/image", "file"), ("/images", "image")])
def test_aliases_and_field_names(client: TestClient, path: str, field: str) -> None:
    response = upload(client, ASTRONAUT, path, field)
    assert response.status_code == 202, response.text
    assert wait_meta(client, response.json()["id"])["face_count"] == 1


def test_face_free_image_gives_no_faces(client: TestClient) -> None:
    response = upload(client, encode(photo(300, 200, seed=2), ".png"))
    meta = wait_meta(client, response.json()["id"])
    assert meta["faces"] == [] and meta["face_count"] == 0
    assert client.get(meta["url"]).headers["content-type"] == "image/png"


def test_unknown_id_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/images/00000000000000000000000000000000").status_code == 404
    assert client.get("/api/v1/images/00000000000000000000000000000000/meta").status_code == 404


def test_feed_gets_each_result_once_and_bad_input_disturbs_nobody(client: TestClient) -> None:
    with client.websocket_connect("/faces") as first, client.websocket_connect("/faces") as second:
        bad = [
            (upload(client, b"not an image at all"), 415, "not an image"),
            (upload(client, b""), 422, "empty"),
            (upload(client, png_header_only(60_000, 60_000)), 413, "pixel"),
            (client.post("/api/v1/images", data={"x": "1"}), 422, "file"),
        ]
        for response, status, words in bad:
            assert response.status_code == status, response.text
            assert words in str(response.json()["detail"])
        ids = [upload(client, ASTRONAUT).json()["id"] for _ in range(2)]
        for ws in (first, second):
            events = [ws.receive_json() for _ in ids]
            assert sorted(e["id"] for e in events) == sorted(ids)
            for event in events:
                assert event["faces"] == 1 and event["url"] == f"/api/v1/images/{event['id']}"


@pytest.mark.parametrize("kind", KINDS)
def test_the_clients_file_name_is_kept_as_a_clean_label(
    make_settings: Callable[..., Settings], database_url: Callable[[str], str], kind: str
) -> None:
    # A path, a NUL (PostgreSQL cannot store it) and 300 characters (the column holds 255)
    # are the client's business: the upload is taken, and the name kept as a label.
    name = "C:\\Users\\ана\\Фото\x00" + "я" * 300 + ".jpg"
    body = (
        (
            f'--b\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + ASTRONAUT
        + b"\r\n--b--\r\n"
    )
    settings = make_settings(database_url=database_url(kind))
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/api/v1/images",
            content=body,
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert response.status_code == 202, response.text
        meta = wait_meta(client, response.json()["id"])
    assert meta["filename"] == ("Фото" + "я" * 300)[:255]
    assert meta["face_count"] == 1
