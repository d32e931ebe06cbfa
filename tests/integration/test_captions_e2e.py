"""End to end: 50 captions through the whole pipeline, with the API and the workers as
separate processes on the real Redis and PostgreSQL, and the same in the embedded default."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from tests.integration.deployment import Deployment, description

pytestmark = pytest.mark.slow


@pytest.fixture(
    params=[
        pytest.param("redis+postgresql", marks=[pytest.mark.redis, pytest.mark.postgres]),
        "embedded",
    ]
)
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: Callable[[str], str]
) -> Iterator[Deployment]:
    if request.param == "embedded":
        deployment = Deployment(tmp_path, {})
        deployment.start_api()
    else:
        prefix = request.getfixturevalue("redis_prefix")
        env = {
            "PIXELMILL_REDIS_URL": "redis://127.0.0.1:6379/0",
            "PIXELMILL_REDIS_PREFIX": prefix,
            "PIXELMILL_DATABASE_URL": database_url("postgresql"),
        }
        deployment = Deployment(tmp_path, env)
        deployment.start_worker("captioner")
        deployment.start_worker("storer")
        deployment.start_worker("faces")  # /health is 200 only with every service alive
        deployment.start_api()  # healthy once both workers beat
    yield deployment
    deployment.stop_all()


def test_fifty_captions_end_to_end(deployment: Deployment) -> None:
    with httpx.Client(timeout=30) as client:
        accepted = []
        for i in range(50):
            response = deployment.post(client, i)
            assert response.status_code == 202, response.text
            accepted.append(response.json()["id"])
        items = deployment.wait_for(client, accepted)
        listing = client.get(deployment.url + "/api/images", params={"limit": 1000})
        assert listing.headers["X-Total-Count"] == "50"
        assert [item["id"] for item in listing.json()] == accepted[::-1]  # newest first
        for i, id in enumerate(accepted):
            assert items[id]["description"] == description(i)
            served = client.get(f"{deployment.url}/api/images/{id}")
            assert served.status_code == 200
            image = cv2.imdecode(np.frombuffer(served.content, np.uint8), cv2.IMREAD_COLOR)
            assert image.shape[0] > 120  # the band under the image
        stored = client.get(deployment.url + "/api/images", params={"status": "stored"})
        assert stored.headers["X-Total-Count"] == "50"
        # the workers' statistics reach /metrics, whichever process did the work, within
        # the second or two a worker keeps them before writing them
        deadline = time.monotonic() + 15
        for service in ("captioner", "storer"):
            line = f'pixelmill_jobs_total{{outcome="done",service="{service}"}} '
            while True:
                metrics = client.get(deployment.url + "/metrics").text
                done = [float(x.split()[-1]) for x in metrics.splitlines() if x.startswith(line)]
                if done == [50.0] or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert done == [50.0], (service, done)
    assert len(list((deployment.storage / "captions").glob("*.jpg"))) == 50
