"""GET /api/v1/images: the faces surface's uploads, newest first, as the captions list does it
(limit 1-1000, offset, X-Total-Count, ?status=), each stored one with its faces, boxes and the
signed gallery paths its /faces event carried; on SQLite and PostgreSQL, embedded and on Redis."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from pixelmill.api import create_app
from pixelmill.config import Settings
from tests.conftest import KINDS
from tests.images import astronaut, encode, iou, photo
from tests.imaging.test_faces import ASTRONAUT_FACE
from tests.redis_server import SHARED_REDIS_URL

ASTRONAUT = encode(astronaut(), ".jpg", quality=95)
NO_FACE = encode(photo(300, 200, seed=2), ".png")


def upload(client: TestClient, data: bytes, name: str) -> str:
    response = client.post("/api/v1/images", files={"file": (name, data)})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_listed(client: TestClient, ids: list[str], timeout: float = 60) -> list[dict[str, Any]]:
    """The list once every one of `ids` is stored in it."""
    deadline = time.monotonic() + timeout
    while True:
        items: list[dict[str, Any]] = client.get("/api/v1/images").json()
        stored = {item["id"] for item in items if item["status"] == "stored"}
        if stored >= set(ids):
            return items
        assert not [item for item in items if item["status"] == "failed"], items
        assert time.monotonic() < deadline, items
        time.sleep(0.05)


@pytest.mark.parametrize("kind", KINDS)
def test_newest_first_paged_counted_and_checked(
    make_settings: Callable[..., Settings], database_url: Callable[[str], str], kind: str
) -> None:
    settings = make_settings(database_url=database_url(kind), run_workers=False)
    with TestClient(create_app(settings)) as client:  # nothing is processed: all stay queued
        ids = [upload(client, ASTRONAUT, f"photo {i}.jpg") for i in range(5)]
        listed = client.get("/api/v1/images")
        assert listed.status_code == 200
        assert listed.headers["X-Total-Count"] == "5"
        items = listed.json()
        assert [item["id"] for item in items] == ids[::-1]
        assert [item["filename"] for item in items] == [f"photo {i}.jpg" for i in range(5)][::-1]
        for item in items:
            assert item["status"] == "queued" and item["faces"] is None and item["boxes"] == []
            assert item["url"] == f"/api/v1/images/{item['id']}"
            assert item["meta_url"] == item["url"] + "/meta"
            assert item["images"] is None and item["stored_at"] is None
        page = client.get("/api/v1/images", params={"limit": 2, "offset": 1})
        assert [item["id"] for item in page.json()] == ids[::-1][1:3]
        assert page.headers["X-Total-Count"] == "5"
        past = client.get("/api/v1/images", params={"offset": 5})
        assert past.json() == [] and past.headers["X-Total-Count"] == "5"
        stored = client.get("/api/v1/images", params={"status": "stored"})
        assert stored.json() == [] and stored.headers["X-Total-Count"] == "0"
        queued = client.get("/api/v1/images", params={"status": "queued", "limit": 1000})
        assert len(queued.json()) == 5
        for bad in (
            {"limit": 0},
            {"limit": 1001},
            {"limit": "ten"},
            {"offset": -1},
            {"offset": 2**63},
            {"status": "nope"},
        ):
            refused = client.get("/api/v1/images", params=bad)
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.json()["detail"], bad
        # the routes beside it are still theirs
        assert client.get(f"/api/v1/images/{ids[0]}").status_code == 409
        assert client.get(f"/api/v1/images/{ids[0]}/meta").status_code == 409


def test_stored_items_carry_faces_boxes_and_the_events_signed_images(
    make_settings: Callable[..., Settings],
) -> None:
    with (
        TestClient(create_app(make_settings(url_keys="gallery-key"))) as client,
        client.websocket_connect("/faces") as feed,
    ):
        face = upload(client, ASTRONAUT, "astronaut.jpg")
        empty = upload(client, NO_FACE, "landscape.png")
        events = {event["id"]: event for event in (feed.receive_json() for _ in range(2))}
        items = {item["id"]: item for item in wait_listed(client, [face, empty])}

        item = items[face]
        assert item["faces"] == 1 and (item["width"], item["height"]) == (512, 512)
        [box] = item["boxes"]
        assert iou((box["x"], box["y"], box["width"], box["height"]), ASTRONAUT_FACE) > 0.5
        assert item["filename"] == "astronaut.jpg" and item["stored_at"] >= item["created_at"]
        assert items[empty]["faces"] == 0 and items[empty]["boxes"] == []
        assert (items[empty]["width"], items[empty]["height"]) == (300, 200)
        for id in (face, empty):  # what a page loaded from the list matches what it was sent live
            assert items[id]["images"] == events[id]["images"]
            assert items[id]["faces"] == events[id]["faces"]
        thumbnail = client.get(item["images"]["src"])
        assert thumbnail.status_code == 200
        assert Image.open(io.BytesIO(thumbnail.content)).size == (240, 240)
        assert client.get(item["meta_url"]).json()["faces"] == item["boxes"]


@pytest.mark.postgres
def test_on_redis_and_postgresql_the_list_shows_what_the_workers_stored(
    make_settings: Callable[..., Settings],
    database_url: Callable[[str], str],
    redis_prefix: str,
) -> None:
    settings = make_settings(
        redis_url=SHARED_REDIS_URL,
        redis_prefix=redis_prefix,
        database_url=database_url("postgresql"),
        run_workers=True,
    )
    with TestClient(create_app(settings)) as client:
        ids = [upload(client, ASTRONAUT, "a.jpg"), upload(client, NO_FACE, "b.png")]
        items = wait_listed(client, ids)
        assert [item["id"] for item in items] == ids[::-1]
        assert [item["faces"] for item in items] == [0, 1]
        assert client.get("/api/v1/images").headers["X-Total-Count"] == "2"
