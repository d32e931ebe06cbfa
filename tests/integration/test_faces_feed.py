"""The live `/faces` feed with real websocket clients: 100 on one server, and clients across
two API processes sharing Redis, whatever process accepted the upload."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.images import astronaut, encode
from tests.integration.deployment import Deployment

pytestmark = pytest.mark.slow
ASTRONAUT = encode(astronaut(), ".jpg", quality=90)


async def connect_all(url: str, count: int) -> list[ClientConnection]:
    return list(await asyncio.gather(*(connect(url, max_queue=None) for _ in range(count))))


async def receive(ws: ClientConnection, count: int, timeout: float = 60) -> list[dict[str, object]]:
    return [json.loads(await asyncio.wait_for(ws.recv(), timeout)) for _ in range(count)]


async def nothing_more(ws: ClientConnection, wait: float = 1.0) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return True
    return False


async def post(base: str, count: int) -> tuple[list[str], set[str]]:
    """`count` uploads, each on a new connection (so several API processes share them)."""
    ids, processes = [], set()
    for _ in range(count):
        async with httpx.AsyncClient(timeout=30) as client:
            files = {"file": ("a.jpg", ASTRONAUT, "image/jpeg")}
            response = await client.post(base + "/api/v1/images", files=files)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
            processes.add(response.headers["x-pixelmill-process"])
    return ids, processes


def test_hundred_clients_each_get_every_event_once(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path, {})
    deployment.start_api()
    try:
        asyncio.run(hundred_clients(deployment.url))
    finally:
        deployment.stop_all()


async def hundred_clients(base: str) -> None:
    clients = await connect_all(base.replace("http", "ws") + "/faces", 100)
    first, _ = await post(base, 1)
    vanishing = clients.pop()
    assert [e["id"] for e in await receive(vanishing, 1)] == first
    vanishing.transport.abort()  # gone without a closing handshake, mid-stream
    rest, _ = await post(base, 3)
    for ws in clients:
        events = await receive(ws, 4)
        assert [e["id"] for e in events][:1] == first
        assert sorted(e["id"] for e in events[1:]) == sorted(rest)
        assert all(e["faces"] == 1 for e in events)
    assert all(await asyncio.gather(*(nothing_more(ws) for ws in clients)))
    await asyncio.gather(*(ws.close() for ws in clients))


@pytest.mark.redis
@pytest.mark.postgres
def test_events_reach_clients_of_every_api_process(
    tmp_path: Path, redis_prefix: str, database_url: Callable[[str], str]
) -> None:
    env = {
        "PIXELMILL_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PIXELMILL_REDIS_PREFIX": redis_prefix,
        "PIXELMILL_DATABASE_URL": database_url("postgresql"),
    }
    deployment = Deployment(tmp_path, env)
    deployment.start_worker("all")
    deployment.start_api(args=("--workers", "2"))
    try:
        asyncio.run(across_processes(deployment.url))
    finally:
        deployment.stop_all()


async def across_processes(base: str) -> None:
    clients = await connect_all(base.replace("http", "ws") + "/faces", 20)
    ids, processes = await post(base, 12)
    for _ in range(5):
        if len(processes) >= 2:
            break
        more, seen = await post(base, 8)
        ids += more
        processes |= seen
    assert len(processes) == 2, processes  # both API processes accepted uploads
    for ws in clients:
        events = await receive(ws, len(ids))
        assert sorted(e["id"] for e in events) == sorted(ids)
    assert all(await asyncio.gather(*(nothing_more(ws) for ws in clients)))
    await asyncio.gather(*(ws.close() for ws in clients))
