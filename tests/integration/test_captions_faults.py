"""Faults, each on a redis-server of the test's own: killed workers, a poison message, Redis
going away and coming back. Nothing accepted is lost; nothing is stored twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import create_engine, func, select

from pixelmill.storage.models import Caption
from tests.images import encode, photo
from tests.integration.deployment import Deployment
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.redis]


@pytest.fixture
def deployment(
    tmp_path: Path, own_redis: RedisServer, database_url: Callable[[str], str]
) -> Iterator[Deployment]:
    env = {
        "PIXELMILL_REDIS_URL": own_redis.url,
        "PIXELMILL_DATABASE_URL": database_url("sqlite"),
        "PIXELMILL_CLAIM_IDLE_MS": "1500",  # a dead worker's messages are taken over quickly
        "PIXELMILL_MAX_DELIVERIES": "3",
    }
    deployment = Deployment(tmp_path, env)
    deployment.start_worker("captioner")
    deployment.start_worker("storer")
    deployment.start_worker("faces")  # /health is 200 only with every service alive
    deployment.start_api()
    yield deployment
    deployment.stop_all()


def rows(url: str) -> tuple[int, int]:
    """(rows, distinct ids) in the captions table."""
    engine = create_engine(url)
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(Caption)).scalar_one()
        distinct = connection.execute(select(func.count(func.distinct(Caption.id)))).scalar_one()
    engine.dispose()
    return total, distinct


def test_workers_killed_mid_batch_lose_nothing_and_store_once(
    deployment: Deployment, own_redis: RedisServer
) -> None:
    accepted: list[str] = []

    def post_all() -> None:
        with httpx.Client(timeout=30) as client:
            for i in range(200):
                response = deployment.post(client, i)
                assert response.status_code == 202, response.text
                accepted.append(response.json()["id"])

    poster = threading.Thread(target=post_all)
    poster.start()
    try:
        for mark in (60, 130):  # while uploads flow: kill -9 each service with a message in hand
            while len(accepted) < mark and poster.is_alive():
                time.sleep(0.01)
            for service, stream in (("storer", "captions:out"), ("captioner", "captions:in")):
                assert deployment.kill_while_holding(service, stream, own_redis.url)
                deployment.start_worker(service)
    finally:
        poster.join()
    assert len(accepted) == 200
    with httpx.Client(timeout=30) as client:
        items = deployment.wait_for(client, accepted)
    assert all(items[id]["status"] == "stored" for id in accepted)
    assert sorted(p.stem for p in (deployment.storage / "captions").glob("*.jpg")) == sorted(
        accepted
    )
    assert rows(deployment.env["PIXELMILL_DATABASE_URL"]) == (200, 200)


def test_poison_message_is_dead_lettered_while_the_rest_flow(
    deployment: Deployment, own_redis: RedisServer
) -> None:
    good = encode(photo(200, 150, seed=1), ".jpg")
    poison = good[: len(good) // 2]  # the header is fine, the pixels are not: fails in the worker
    with httpx.Client(timeout=30) as client:
        ids = []
        for i, data in enumerate([good, good, poison, good, good]):
            files = {"image": (f"{i}.jpg", data, "image/jpeg")}
            response = client.post(
                deployment.url + "/api/images", files=files, data={"description": f"n{i}"}
            )
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        items = deployment.wait_for(
            client, ids, done=lambda item: item["status"] in ("stored", "failed")
        )
        assert [items[id]["status"] for id in ids] == [
            "stored",
            "stored",
            "failed",
            "stored",
            "stored",
        ]
        refused = client.get(f"{deployment.url}/api/images/{ids[2]}")
        assert refused.status_code == 409 and refused.json()["status"] == "failed"
    client_redis = redis.Redis.from_url(own_redis.url)
    dead = client_redis.xrange("pixelmill:captions:in:dead")
    client_redis.close()
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields[b"id"] == ids[2].encode()
    assert int(fields[b"dead_deliveries"]) == 3
    log = (deployment.tmp / "captioner.log").read_text()
    assert "Traceback" in log and ids[2] in log  # the failure is logged with its traceback


def test_redis_down_means_503_and_degraded_then_recovery_without_restart(
    deployment: Deployment, own_redis: RedisServer
) -> None:
    with httpx.Client(timeout=30) as client:
        first = deployment.post(client, 0)
        assert first.status_code == 202
        deployment.wait_for(client, [first.json()["id"]])

        own_redis.stop()
        refused = deployment.post(client, 1)
        assert refused.status_code == 503, refused.text
        assert "queue" in refused.json()["detail"] and refused.headers.get("Retry-After")
        health = client.get(deployment.url + "/health")
        assert health.status_code == 503
        assert health.json()["status"] == "degraded" and "queue" in health.json()["failing"]
        total = client.get(deployment.url + "/api/images").headers["X-Total-Count"]
        assert total == "1"  # the refused upload left nothing behind

        own_redis.start()  # same port, empty: no restart of the API or the workers
        after_ids = []
        for i in range(2, 5):
            response = deployment.post(client, i)
            for _ in range(50):
                if response.status_code == 202:
                    break
                response = deployment.post(client, i)
            assert response.status_code == 202, response.text
            after_ids.append(response.json()["id"])
        deployment.wait_for(client, after_ids, timeout=120)
        deadline = time.monotonic() + 60  # heartbeats resume on the new Redis: healthy again
        while (health := client.get(deployment.url + "/health")).status_code != 200:
            assert time.monotonic() < deadline, health.json()
            time.sleep(0.2)
        assert health.json()["status"] == "ok"
