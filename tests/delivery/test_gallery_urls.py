"""The server signs the galleries' image URLs itself: each stored caption in the list, and
each faces event on the websocket, carries signed /img paths (thumbnail at 1x and 2x with
format=auto, and the full image) that this server then serves."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from pixelmill.api import create_app
from pixelmill.config import Settings
from tests.images import astronaut, encode, photo


def stored_item(client: TestClient) -> dict[str, Any]:
    accepted = client.post(
        "/api/images",
        files={"image": ("a.png", encode(photo(640, 480, seed=5)))},
        data={"description": "gallery"},
    )
    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + 60
    while True:
        (item,) = [i for i in client.get("/api/images").json() if i["id"] == accepted.json()["id"]]
        if item["status"] == "stored":
            return dict(item)
        assert time.monotonic() < deadline, item
        time.sleep(0.05)


def size_of(client: TestClient, path: str) -> tuple[int, int]:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.text[:200])
    return Image.open(io.BytesIO(answer.content)).size


def test_captions_list_carries_signed_gallery_paths(
    make_settings: Callable[..., Settings],
) -> None:
    with TestClient(create_app(make_settings(url_keys="gallery-key,old-key"))) as client:
        item = stored_item(client)
        images = item["images"]
        one, two = (part.rsplit(" ", 1)[0] for part in images["srcset"].split(", "))
        assert images["src"] == one and "/fit=320x240:inside,format=auto/captions/" in one
        assert "dpr=2" in two and "/_/captions/" in images["full"]
        width, height = size_of(client, one)
        assert height == 240 and width <= 320
        double = size_of(client, two)  # rounded on its own: a pixel either way
        assert double[1] == height * 2 and abs(double[0] - width * 2) <= 1
        assert size_of(client, images["full"])[0] == 640
        # a path signed for another source is refused: the signature covers the source
        other = images["src"].replace(item["id"], "0" * len(item["id"]))
        assert client.get(other).status_code == 403


def test_faces_events_carry_signed_gallery_paths(
    make_settings: Callable[..., Settings],
) -> None:
    with (
        TestClient(create_app(make_settings(url_keys="gallery-key"))) as client,
        client.websocket_connect("/faces") as feed,
    ):
        answer = client.post(
            "/api/v1/images", files={"file": ("a.jpg", encode(astronaut(), ".jpg"))}
        )
        assert answer.status_code == 202, answer.text
        event = feed.receive_json()
        assert event["id"] == answer.json()["id"]
        images = event["images"]
        assert "/fit=320x240:inside,format=auto/faces/" in images["src"]
        assert size_of(client, images["src"]) == (240, 240)  # the 512x512 photo, inside 320x240
        assert size_of(client, images["full"]) == (512, 512)


def test_without_url_keys_nothing_is_signed(make_settings: Callable[..., Settings]) -> None:
    with TestClient(create_app(make_settings())) as client:
        assert stored_item(client)["images"] is None
