"""`GET /metrics`: request counts and latencies per route template, queues, workers, hub."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from tests.images import encode


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of NAME whose labels include LABELS."""
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(match[3])
    return None


def test_a_process_call_is_counted_and_timed(client: TestClient) -> None:
    image = encode(np.full((40, 40, 3), 128, np.uint8))
    files = [("image1", ("a.png", image)), ("image2", ("b.png", image))]
    assert client.post("/process", files=files).status_code == 200
    text = scrape(client)
    labels = {"method": "POST", "route": "/process", "status": "200"}
    assert (sample(text, "pixelmill_http_requests_total", **labels) or 0) >= 1
    # timed: a duration recorded in the histogram (no bound on it: the machine may be busy)
    count = sample(text, "pixelmill_http_request_duration_seconds_count", **labels)
    assert count and count == sample(
        text, "pixelmill_http_request_duration_seconds_bucket", le="+Inf", **labels
    )
    assert (sample(text, "pixelmill_http_request_duration_seconds_sum", **labels) or 0) > 0


def test_routes_are_templates_not_raw_paths(client: TestClient) -> None:
    client.get("/api/v1/images/12345")
    client.get("/no/such/page")
    text = scrape(client)
    assert "/12345" not in text
    assert sample(text, "pixelmill_http_requests_total", route="unmatched", status="404")
    templated = [line for line in text.splitlines() if 'route="/api/v1/images/{' in line]
    assert templated


def test_queues_workers_and_websockets(client: TestClient) -> None:
    text = scrape(client)
    assert sample(text, "pixelmill_queue_depth") is not None
    assert sample(text, "pixelmill_queue_pending") is not None
    assert sample(text, "pixelmill_queue_dead_letters") is not None
    assert sample(text, "pixelmill_workers_alive") is not None
    assert sample(text, "pixelmill_websocket_clients") == 0
    with client.websocket_connect("/faces"):
        assert sample(scrape(client), "pixelmill_websocket_clients") == 1
    assert sample(text, "pixelmill_pool_restarts_total") == 0


def test_every_app_has_its_own_registry(client: TestClient, make_settings: object) -> None:
    from pixelmill.api import create_app

    first = create_app(make_settings())  # type: ignore[operator]
    second = create_app(make_settings())  # type: ignore[operator]
    assert first.state.metrics.registry is not second.state.metrics.registry


MULTIPROCESS_SCRIPT = """
import sys
import time
from fastapi.testclient import TestClient
from pixelmill.api import create_app
from pixelmill.config import Settings

settings = Settings(data_dir=sys.argv[1] + "/data", results_dir=sys.argv[1] + "/results")
with TestClient(create_app(settings)) as client:
    client.get("/health")
    print(client.get("/metrics").text)
"""


def test_multiprocess_mode_sums_the_shared_directory(tmp_path: Path) -> None:
    # prometheus_client reads PROMETHEUS_MULTIPROC_DIR when imported: a fresh interpreter
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    for _ in range(2):  # two processes, one after the other, as two API workers would
        done = subprocess.run(
            [sys.executable, "-c", MULTIPROCESS_SCRIPT, str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert any(shared.iterdir())
    text = done.stdout
    assert sample(text, "pixelmill_http_requests_total", route="/health", status="200") == 2
    assert sample(text, "pixelmill_queue_depth") is not None


def test_images_are_counted_per_operation(client: TestClient) -> None:
    before = scrape(client)
    image = encode(np.full((40, 60, 3), 128, np.uint8))
    response = client.post(
        "/v1/transform", files={"file": ("a.png", image)}, data={"ops": "resize=0.5,grayscale"}
    )
    assert response.status_code == 200
    files = [("image1", ("a.png", image)), ("image2", ("b.png", image))]
    assert client.post("/process", files=files).status_code == 200
    after = scrape(client)
    for op, added in (("resize", 1), ("grayscale", 1), ("collage", 2)):
        was = sample(before, "pixelmill_images_processed_total", op=op) or 0
        assert sample(after, "pixelmill_images_processed_total", op=op) == was + added, op


def test_background_jobs_are_counted_and_timed(client: TestClient) -> None:
    image = encode(np.full((40, 60, 3), 90, np.uint8), ".jpg")
    accepted = client.post(
        "/api/images", files={"image": ("a.jpg", image)}, data={"description": "metrics"}
    )
    assert accepted.status_code == 202
    id = accepted.json()["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/api/images/{id}").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    text = scrape(client)
    for service in ("captioner", "storer"):
        done = sample(text, "pixelmill_jobs_total", service=service, outcome="done")
        assert done is not None and done >= 1, service
        count = sample(text, "pixelmill_job_duration_seconds_count", service=service)
        assert count is not None and count >= done
        assert sample(text, "pixelmill_job_duration_seconds_bucket", service=service, le="+Inf")
        assert (sample(text, "pixelmill_job_duration_seconds_sum", service=service) or 0) > 0
    assert sample(text, "pixelmill_jobs_total", service="faces", outcome="failed") == 0
