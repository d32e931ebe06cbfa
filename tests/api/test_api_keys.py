"""Optional API keys: 401 without a right key, open paths stay open, `?api_key=` on /faces."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from pixelmill.api import create_app
from pixelmill.config import Settings
from tests.images import encode, photo

KEY = "s3cret-key"
IMAGE = encode(photo(32, 32))


def collage(client: TestClient, headers: dict[str, str]) -> int:
    files = [("image1", ("a.png", IMAGE)), ("image2", ("b.png", IMAGE))]
    return client.post("/process", files=files, headers=headers).status_code


@pytest.fixture
def keyed(make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(api_keys=f"other-key, {KEY}"))) as client:
        yield client


def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXELMILL_API_KEYS", "one,two ,")
    assert Settings().api_key_list == ["one", "two"]
    monkeypatch.setenv("PIXELMILL_API_KEYS", "")
    assert Settings().api_key_list == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}],
    ids=["none", "wrong-x-api-key", "wrong-bearer", "no-scheme"],
)
def test_without_the_right_key_401(keyed: TestClient, headers: dict[str, str]) -> None:
    assert collage(keyed, headers) == 401
    response = keyed.get("/api/v1/images/1/meta", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "headers", [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}], ids=["x-api-key", "bearer"]
)
def test_with_the_right_key_200(keyed: TestClient, headers: dict[str, str]) -> None:
    assert collage(keyed, headers) == 200
    assert keyed.get("/api/v1/images/1/meta", headers=headers).status_code == 404


@pytest.mark.parametrize(
    "path", ["/health", "/", "/static/app.css", "/metrics", "/docs", "/openapi.json"]
)
def test_open_paths_need_no_key(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_the_websocket_takes_the_key_as_a_query_parameter(keyed: TestClient) -> None:
    with keyed.websocket_connect(f"/faces?api_key={KEY}") as websocket:
        websocket.close()
    with pytest.raises(WebSocketDisconnect) as refused, keyed.websocket_connect("/faces"):
        pass
    assert refused.value.code == 1008
    with pytest.raises(WebSocketDisconnect), keyed.websocket_connect("/faces?api_key=wrong"):
        pass


def test_no_keys_no_checks(client: TestClient) -> None:
    assert collage(client, {}) == 200
