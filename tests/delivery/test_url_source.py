"""url/ sources through /img: a listed upstream is served with its ETag in ours, a changed
upstream gives a new result, a host off the list is never contacted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from tests.delivery.conftest import decode, delivery_settings, signed, url_source
from tests.images import encode
from tests.server import free_port


class Upstream(ThreadingHTTPServer):
    """Serves `image` at /a.png with `etag`; counts the requests it gets."""

    image = b""
    etag = '"v1"'
    requests = 0


class Handler(BaseHTTPRequestHandler):
    server: Upstream

    def do_GET(self) -> None:
        self.server.requests += 1
        if self.path != "/a.png":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.server.image)))
        self.send_header("ETag", self.server.etag)
        self.end_headers()
        self.wfile.write(self.server.image)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream(("127.0.0.1", 0), Handler)
    server.image = encode(np.full((60, 80, 3), 40, np.uint8))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_listed_upstream_is_served_and_versioned_by_its_etag(
    tmp_path: Path, upstream: Upstream
) -> None:
    port = upstream.server_address[1]
    settings = delivery_settings(tmp_path, source_hosts=f"127.0.0.1:{port}")
    source = url_source(f"http://127.0.0.1:{port}/a.png")
    with TestClient(create_app(settings)) as client:
        path = signed("resize=0.5", source)
        first = client.get(path)
        assert first.status_code == 200, first.text
        assert decode(first.content).shape[:2] == (30, 40)
        assert client.get(path).headers["x-cache"] == "hit"
        upstream.image = encode(np.full((60, 80, 3), 220, np.uint8))
        upstream.etag = '"v2"'
        second = client.get(path)
        assert second.headers["x-cache"] == "miss"
        assert second.headers["etag"] != first.headers["etag"]
        assert decode(second.content).mean() == pytest.approx(220, abs=1)
        missing = client.get(signed("_", url_source(f"http://127.0.0.1:{port}/nope.png")))
        assert missing.status_code == 404
        metrics = client.get("/metrics").text
        assert 'pixelmill_upstream_fetch_duration_seconds_count{outcome="ok"}' in metrics


def test_a_host_off_the_list_is_never_contacted(tmp_path: Path, upstream: Upstream) -> None:
    port = upstream.server_address[1]
    settings = delivery_settings(tmp_path, source_hosts=f"127.0.0.1:{free_port()}")
    with TestClient(create_app(settings)) as client:
        response = client.get(signed("_", url_source(f"http://127.0.0.1:{port}/a.png")))
        assert response.status_code == 403
        assert "PIXELMILL_SOURCE_HOSTS" in response.json()["detail"]
        bad = client.get(signed("_", "url/not+base64url!"))
        assert bad.status_code == 422
    assert upstream.requests == 0
