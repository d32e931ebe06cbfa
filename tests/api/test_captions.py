"""The captions surface in the embedded default: SQLite, in-process queues and workers."""

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
from tests.images import encode, photo

PHOTO = photo(320, 240, seed=11)
JPEG = encode(PHOTO, ".jpg", quality=95)


def post(
    client: TestClient, description: str | None, data: bytes = JPEG, field: str = "image"
) -> Any:
    form = {} if description is None else {"description": description}
    return client.post("/api/images", files={field: ("photo.jpg", data, "image/jpeg")}, data=form)


def wait_stored(
    client: TestClient, ids: list[str], timeout: float = 60
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        items = {i["id"]: i for i in client.get("/api/images", params={"limit": 1000}).json()}
        if all(items.get(id, {}).get("status") == "stored" for id in ids):
            return items
        assert time.monotonic() < deadline, {id: items.get(id) for id in ids}
        time.sleep(0.05)


@pytest.fixture
def app_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Factory: a running app on this test's folders (settings overrides as keywords)."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(make_settings(**overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def test_accept_caption_store_and_serve(app_client: Callable[..., TestClient]) -> None:
    client = app_client()
    response = post(client, "Hello world, and Привет мир")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and len(body["id"]) >= 8
    assert body["received_at"].endswith(("+00:00", "Z"))

    items = wait_stored(client, [body["id"]])
    item = items[body["id"]]
    assert item["description"] == "Hello world, and Привет мир"
    assert item["received_at"].replace("Z", "+00:00")[:19] == body["received_at"][:19]

    served = client.get(f"/api/images/{body['id']}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(served.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 320 and image.shape[0] > 240  # the band is below the image
    # the original pixels above the band: JPEG twice (95, then 90) on a noisy photo, ~7 levels
    assert np.abs(image[:236].astype(int) - PHOTO[:236].astype(int)).mean() < 10
    band = image[244:]
    assert band.mean() < 60 and band.max() > 200  # black band with white text


def test_list_is_newest_first_with_filters_and_total(app_client: Callable[..., TestClient]) -> None:
    client = app_client(run_workers=False)  # nothing gets processed: all stay queued
    ids = [post(client, f"picture {i}").json()["id"] for i in range(5)]
    listed = client.get("/api/images")
    assert listed.headers["X-Total-Count"] == "5"
    assert [i["id"] for i in listed.json()] == ids[::-1]
    assert all(i["status"] == "queued" for i in listed.json())
    page = client.get("/api/images", params={"limit": 2, "offset": 1})
    assert [i["id"] for i in page.json()] == ids[::-1][1:3]
    assert page.headers["X-Total-Count"] == "5"
    stored = client.get("/api/images", params={"status": "stored"})
    assert stored.json() == [] and stored.headers["X-Total-Count"] == "0"
    for bad in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"status": "nope"}):
        assert client.get("/api/images", params=bad).status_code == 422


def test_queued_is_409_and_unknown_is_404(app_client: Callable[..., TestClient]) -> None:
    client = app_client(run_workers=False)
    id = post(client, "waiting").json()["id"]
    pending = client.get(f"/api/images/{id}")
    assert pending.status_code == 409
    assert pending.json()["status"] == "queued" and "queued" in pending.json()["detail"]
    assert client.get("/api/images/0123456789abcdef").status_code == 404


@pytest.mark.parametrize(
    ("description", "data", "field", "status", "words"),
    [
        (None, JPEG, "image", 422, "description"),
        ("", JPEG, "image", 422, "description"),
        ("x" * 201, JPEG, "image", 422, "201 characters; the limit is 200"),
        ("ok", b"", "image", 422, "empty"),
        ("ok", b"this is not a picture", "image", 415, "not an image"),
        ("ok", JPEG, "picture", 422, "image"),
        (
            "tall",
            encode(np.zeros((65_530, 1, 3), np.uint8), ".png"),
            "image",
            422,
            "holds at most 65535 pixels a side",
        ),
    ],
)
def test_bad_uploads(
    app_client: Callable[..., TestClient],
    description: str | None,
    data: bytes,
    field: str,
    status: int,
    words: str,
) -> None:
    client = app_client(run_workers=False)
    response = post(client, description, data, field)
    assert response.status_code == status, response.text
    assert words in str(response.json()["detail"])
    assert client.get("/api/images").headers["X-Total-Count"] == "0"  # nothing half-accepted


def test_file_field_and_200_cyrillic_characters(app_client: Callable[..., TestClient]) -> None:
    client = app_client()
    text = ("Съешь же ещё этих мягких французских булок, да выпей чаю. " * 4)[:200]
    response = post(client, text, field="file")
    assert response.status_code == 202, response.text
    item = wait_stored(client, [response.json()["id"]])[response.json()["id"]]
    assert item["description"] == text


def test_accepted_jobs_survive_a_restart(app_client: Callable[..., TestClient]) -> None:
    first = app_client(run_workers=False)
    ids = [post(first, f"before restart {i}").json()["id"] for i in range(3)]
    first.__exit__(None, None, None)  # the server stops with the jobs still queued
    second = app_client()
    items = wait_stored(second, ids)
    assert {items[id]["description"] for id in ids} == {f"before restart {i}" for i in range(3)}


def test_health_lists_database_queue_and_services(app_client: Callable[..., TestClient]) -> None:
    client = app_client()
    deadline = time.monotonic() + 10
    while (body := client.get("/health").json())["status"] != "ok":
        assert time.monotonic() < deadline, body
        time.sleep(0.05)
    components = body["components"]
    assert components["database"]["status"] == "ok"
    assert components["queue"] == {"status": "ok", "kind": "embedded"}
    assert components["captioner"]["alive"] >= 1 and components["storer"]["alive"] >= 1
