"""HEAD on every GET route: the GET's status and headers without a body; 405s name HEAD too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pixelmill.api import create_app
from pixelmill.api.head import HeadAsGetMiddleware
from pixelmill.config import Settings
from pixelmill.delivery.signing import sign
from tests.images import encode, photo

JPEG = encode(photo(160, 120, seed=3), ".jpg", quality=90)
# files under the mounts, which are not routes of their own
FILES = ["/static/app.css", "/static/favicon.svg", "/docs/static/swagger-ui.css"]
VARYING = {"/metrics"}  # its body counts the requests, this GET among them
URL_KEY = "head-test-key"
# the delivery routes, on a real file under the files root, signed
SIGNED = {
    "/img/{signature}/{options}/{source:path}": ("fit=40x30", "local/photo.jpg"),
    "/info/{signature}/{source:path}": ("info", "local/photo.jpg"),
}
# routes whose GET has no 200 to give here: compared on their 404 (a letter that is not
# there, a UI page that is not there) instead
NOT_FOUND = {
    "/api/admin/dead-letters/{stream}/{id}": "/api/admin/dead-letters/captions:in/1-1",
    "/ui/{rest:path}": "/ui/nowhere",
}


@pytest.fixture(scope="module")
def client(module_dirs: Any) -> Iterator[TestClient]:
    """The app with a URL signing key and a photo under its files root."""
    settings = Settings(
        data_dir=module_dirs / "data", results_dir=module_dirs / "results", url_keys=URL_KEY
    )
    settings.files_root_path.mkdir(parents=True, exist_ok=True)
    (settings.files_root_path / "photo.jpg").write_bytes(JPEG)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def get_paths(app: FastAPI) -> list[str]:
    """The path of every GET route, those of included routers too."""
    # FastAPI 0.16x keeps an included router as one entry of app.routes; older ones copy it
    flatten: Any = getattr(fastapi.routing, "iter_route_contexts", iter)
    return sorted({route.path for route in flatten(app.routes) if "GET" in (route.methods or ())})


def wait_done(client: TestClient, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while client.get(path).status_code == 409:  # queued or processing
        assert time.monotonic() < deadline, f"{path} not done in time"
        time.sleep(0.05)


def fill(client: TestClient, path: str) -> str:
    """PATH with its `{id}` that of a real image (a caption, or a faces upload), or its
    signature, options and source those of a signed delivery URL."""
    if path in NOT_FOUND:
        return NOT_FOUND[path]
    if path in SIGNED:
        options, source = SIGNED[path]
        signed = f"{options}/{source}"
        if options == "info":
            return f"/info/{sign(URL_KEY, signed)}/{source}"
        return f"/img/{sign(URL_KEY, signed)}/{signed}"
    if "{id}" not in path:
        return path
    if path.startswith("/api/images/"):
        answer = client.post(
            "/api/images",
            files={"image": ("photo.jpg", JPEG, "image/jpeg")},
            data={"description": "head"},
        )
    else:
        answer = client.post("/api/v1/images", files={"file": ("photo.jpg", JPEG, "image/jpeg")})
    assert answer.status_code == 202, answer.text
    url = path.replace("{id}", answer.json()["id"])
    wait_done(client, url)
    return url


def test_head_answers_like_get_on_every_get_route(client: TestClient) -> None:
    paths = get_paths(client.app)  # type: ignore[arg-type]
    assert {"/", "/health", "/metrics", "/api/images", "/api/images/{id}", "/docs"} <= set(paths)
    assert "/api/v1/images/{id}/meta" in paths
    wrong: list[str] = []
    for path in [*paths, *FILES]:
        url = fill(client, path)
        get, head = client.get(url), client.head(url)
        if get.status_code != (404 if path in NOT_FOUND else 200):
            wrong.append(f"{url}: GET {get.status_code}, the table wants another status to compare")
            continue
        seen = {
            "status": head.status_code,
            "content-type": head.headers.get("content-type"),
            "content-length": path in VARYING or head.headers.get("content-length"),
            "body": head.content,
        }
        wanted = {
            "status": get.status_code,
            "content-type": get.headers.get("content-type"),
            "content-length": path in VARYING or get.headers.get("content-length"),
            "body": b"",
        }
        if seen != wanted:
            wrong.append(f"{url}: HEAD {seen}, GET {wanted}")
        if path in VARYING and not int(head.headers["content-length"]):
            wrong.append(f"{url}: HEAD without a Content-Length")
    assert not wrong, "\n".join(wrong)


def test_a_405_names_head_wherever_it_names_get(client: TestClient) -> None:
    for path in ["/health", "/docs", "/api/images"]:
        answer = client.delete(path)
        assert answer.status_code == 405, path
        allowed = {method.strip() for method in answer.headers["allow"].split(",")}
        assert {"GET", "HEAD"} <= allowed, (path, allowed)
        assert answer.json()["detail"]


def test_head_on_a_route_without_get_is_405(client: TestClient) -> None:
    answer = client.head("/v1/transform")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert answer.content == b""


def test_metrics_count_a_head_as_a_head_of_its_route(client: TestClient) -> None:
    client.head("/health")
    metrics = client.get("/metrics").text
    assert 'pixelmill_http_requests_total{method="HEAD",route="/health",status="200"}' in metrics


def test_the_middleware_itself_drops_the_body() -> None:
    """Servers drop a HEAD's body too; the app does not count on it (nor does a test client)."""

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse(f"{request.method} hello")

    app = HeadAsGetMiddleware(Starlette(routes=[Route("/", hello, methods=["GET"])]))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "HEAD",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "scheme": "http",
        "server": ("testserver", 80),
        "http_version": "1.1",
    }
    anyio.run(app, scope, receive, send)
    start, *body = sent
    assert start["status"] == 200
    assert dict(start["headers"])[b"content-length"] == b"9"  # "GET hello"
    assert [message["body"] for message in body] == [b""]
    assert scope["method"] == "HEAD"  # put back for the middlewares outside
