"""Scale-out on one machine: 2 API processes, 2 captioners, 1 storer, 1 faces worker, the real
Redis and PostgreSQL, S3 storage on a real S3-compatible endpoint. 500 captions and 100 face
jobs across both API processes while a captioner is killed and restarted: every job stored
exactly once, every image served by either API process, every websocket client sees every
face event."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from websockets.asyncio.client import connect

from pixelmill.storage.models import Caption, FaceImage
from tests.images import astronaut, encode
from tests.integration.deployment import Deployment

pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.redis, pytest.mark.postgres]
FACE = encode(astronaut(), ".jpg", quality=90)
REDIS = "redis://127.0.0.1:6379/0"


def count_rows(url: str) -> dict[str, tuple[int, int]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        counts = {
            model.__tablename__: (
                connection.execute(select(func.count()).select_from(model)).scalar_one(),
                connection.execute(select(func.count(func.distinct(model.id)))).scalar_one(),
            )
            for model in (Caption, FaceImage)
        }
    engine.dispose()
    return counts


def test_two_apis_many_workers_s3_storage_and_a_killed_captioner(
    tmp_path: Path,
    redis_prefix: str,
    database_url: Callable[[str], str],
    s3_endpoint: str,
    s3_bucket: str,
    s3_client: Any,
) -> None:
    database = database_url("postgresql")
    deployment = Deployment(
        tmp_path,
        {
            "PIXELMILL_REDIS_URL": REDIS,
            "PIXELMILL_REDIS_PREFIX": redis_prefix,
            "PIXELMILL_DATABASE_URL": database,
            "PIXELMILL_STORAGE_URL": f"s3://{s3_bucket}/scale",
            "PIXELMILL_S3_ENDPOINT_URL": s3_endpoint,
            "PIXELMILL_S3_REGION": "us-east-1",
            "PIXELMILL_CLAIM_IDLE_MS": "1500",
        },
    )
    for name, service in (
        ("captioner-1", "captioner"),
        ("captioner-2", "captioner"),
        ("storer", "storer"),
        ("faces", "faces"),
    ):
        deployment.start_worker(service, name)
    deployment.start_api(args=("--workers", "2"))
    try:
        run(deployment, redis_prefix, database, s3_bucket, s3_client)
    finally:
        deployment.stop_all()


def run(deployment: Deployment, prefix: str, database: str, bucket: str, s3: Any) -> None:
    events: list[list[str]] = [[] for _ in range(10)]
    feeds_ready = threading.Event()
    done = threading.Event()

    async def feed(index: int) -> None:
        async with connect(deployment.url.replace("http", "ws") + "/faces") as ws:
            ready.append(index)
            if len(ready) == len(events):
                feeds_ready.set()
            while len(events[index]) < 100:
                events[index].append(json.loads(await asyncio.wait_for(ws.recv(), 180))["id"])

    ready: list[int] = []

    def listen() -> None:
        async def all_feeds() -> None:
            await asyncio.gather(*(feed(i) for i in range(len(events))))

        asyncio.run(all_feeds())
        done.set()

    listener = threading.Thread(target=listen)
    listener.start()
    assert feeds_ready.wait(60)

    processes: set[str] = set()
    captions: list[str] = []
    faces: list[str] = []

    def post(i: int) -> None:
        # no keep-alive: each upload may land on either API process
        with httpx.Client(timeout=60) as client:
            if i % 6 == 5:
                files = {"file": (f"{i}.jpg", FACE, "image/jpeg")}
                response = client.post(deployment.url + "/api/v1/images", files=files)
                target = faces
            else:
                response = deployment.post(client, i)
                target = captions
        assert response.status_code == 202, response.text
        processes.add(response.headers["x-pixelmill-process"])
        target.append(response.json()["id"])

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(post, i) for i in range(600)]
        while sum(f.done() for f in futures) < 200:
            threading.Event().wait(0.05)
        held = deployment.kill_while_holding("captioner-1", "captions:in", REDIS, prefix)
        deployment.start_worker("captioner", "captioner-1")
        for future in futures:
            future.result()
    assert held >= 1
    assert (len(captions), len(faces)) == (500, 100)
    assert len(processes) == 2, processes

    with httpx.Client(timeout=60) as client:
        deployment.wait_for(client, captions, timeout=300)
    assert count_rows(database) == {"captions": (500, 500), "face_images": (100, 100)}

    listener.join(timeout=180)
    assert done.is_set()
    for seen in events:
        assert sorted(seen) == sorted(faces)  # every client, every face event, once

    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="scale/"):
        keys += [item["Key"] for item in page.get("Contents", [])]
    assert sorted(k for k in keys if k.startswith("scale/captions/")) == sorted(
        f"scale/captions/{id}.jpg" for id in captions
    )
    assert len([k for k in keys if k.startswith("scale/faces/")]) == 100

    served_by: set[str] = set()

    def fetch(path: str) -> None:
        with httpx.Client(timeout=60) as client:
            response = client.get(deployment.url + path)
        assert response.status_code == 200, (path, response.text)
        assert response.content[:3] == b"\xff\xd8\xff"
        served_by.add(response.headers["x-pixelmill-process"])

    paths = [f"/api/images/{id}" for id in captions] + [f"/api/v1/images/{id}" for id in faces]
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(fetch, paths))
    assert len(served_by) == 2
