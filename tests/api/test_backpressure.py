"""Back-pressure: a bound on the CPU work in flight (429 past it), a deadline on each request's
work (503, its unstarted jobs dropped), and a deadline on a stalled request body (408)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from pixelmill.api import create_app
from pixelmill.config import Settings
from tests.images import encode, photo
from tests.server import running_server

SMALL = encode(photo(64, 48, seed=3), ".jpg")
# A chain that takes seconds on any machine: a 255-pixel kernel over 24 megapixels, twice.
HEAVY = encode(np.full((4000, 6000, 3), 128, np.uint8), ".png")
HEAVY_OPS = ["blur=255", "blur=255"]


def transform(client: TestClient, data: bytes = SMALL, ops: str = "grayscale") -> object:
    return client.post("/v1/transform", files={"file": ("a.jpg", data)}, data={"ops": ops})


def test_past_the_bound_the_answer_is_429_with_retry_after(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(max_in_flight=2))
    with TestClient(app) as client:
        pools = app.state.pools
        assert client.portal is not None
        held: list[AbstractAsyncContextManager[None]] = []

        async def take_a_place() -> None:
            place = pools.admit()
            await place.__aenter__()
            held.append(place)

        for _ in range(2):
            client.portal.call(take_a_place)
        answers = [
            transform(client),
            client.post("/process", files={"image1": ("a", SMALL), "image2": ("b", SMALL)}),
            client.post("/ocr", files={"file": ("a.jpg", SMALL)}),
            client.post("/pipeline", json={"images": [], "operations": ["grayscale"]}),
        ]
        for response in answers:
            assert response.status_code == 429, response.text  # type: ignore[attr-defined]
            assert response.headers["Retry-After"] == "1"  # type: ignore[attr-defined]
            assert "busy" in response.json()["detail"]  # type: ignore[attr-defined]
        # what needs no CPU work is still answered
        assert client.get("/health").status_code == 200
        metrics = client.get("/metrics").text
        assert "pixelmill_work_in_flight 2.0" in metrics
        assert "pixelmill_work_refused_total 4.0" in metrics

        for place in held:
            client.portal.call(place.__aexit__, None, None, None)
        response = transform(client)
        assert response.status_code == 200  # type: ignore[attr-defined]
        assert response.headers["content-type"] == "image/jpeg"  # type: ignore[attr-defined]
        assert app.state.pools.in_flight == 0


def test_work_past_the_deadline_is_a_503_and_its_waiting_jobs_are_dropped(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(processing_timeout_seconds=1.0)
    root = settings.files_root_path
    root.mkdir(parents=True)
    (root / "big.png").write_bytes(HEAVY)
    images = [{"input": "big.png", "output": f"out/{i}.png"} for i in range(8)]
    app = create_app(settings)
    with TestClient(app) as client:
        response = client.post("/pipeline", json={"images": images, "operations": HEAVY_OPS})
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "1"
        assert "processing limit of 1 s" in response.json()["detail"]

        # The jobs already running finish; those still waiting never start.
        deadline = time.monotonic() + 120
        while client.portal.call(app.state.pools.ping, 1.0) != "ok":  # type: ignore[union-attr]
            assert time.monotonic() < deadline
        time.sleep(0.5)
        written = list((root / "out").glob("*.png")) if (root / "out").exists() else []
        assert len(written) < len(images), written
        assert app.state.pools.timeouts == 1
        assert app.state.pools.in_flight == 0
        assert transform(client).status_code == 200  # type: ignore[attr-defined]


def test_a_stalled_body_gets_408_a_slow_steady_one_is_served(tmp_path: Path) -> None:
    env = {"PIXELMILL_REQUEST_BODY_TIMEOUT_SECONDS": "0.5", "PIXELMILL_PROCESS_WORKERS": "1"}
    with running_server(tmp_path, env=env) as url:
        port = int(url.rsplit(":", 1)[1])
        head = (
            b"POST /v1/transform HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n"
        )
        # stalled: the headers promise 100 kB, one line comes, then nothing
        started = time.monotonic()
        answer = _exchange(port, [head % 100_000, b"--b\r\n"])
        assert answer.startswith(b"HTTP/1.1 408"), answer
        assert b"stalled: no data for 0.5 s" in answer
        assert time.monotonic() - started >= 0.4  # it did wait for the body first

        # slow but steady: 4 pieces 0.3 s apart (1.2 s in all, each within the deadline)
        body = (
            b'--b\r\nContent-Disposition: form-data; name="ops"\r\n\r\ngrayscale\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + SMALL + b"\r\n--b--\r\n"
        )
        quarter = len(body) // 4 + 1
        pieces = [body[i : i + quarter] for i in range(0, len(body), quarter)]
        answer = _exchange(port, [head % len(body), *pieces], pause=0.3)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert b"content-type: image/jpeg" in answer.lower()


def _exchange(port: int, pieces: list[bytes], pause: float = 0.0) -> bytes:
    """Send `pieces` over one connection, `pause` seconds apart; read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        for i, piece in enumerate(pieces):
            if i > 1 and pause:
                time.sleep(pause)
            sock.sendall(piece)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer
