"""Fixtures: broadcasters of both kinds (one test runs against each), and a running hub."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
import uvicorn
from fastapi import FastAPI, WebSocket

from pixelmill.events import Broadcaster, Hub, MemoryBroadcaster, RedisBroadcaster
from pixelmill.redis_client import connect as connect_redis
from tests.redis_server import SHARED_REDIS_URL

CHANNEL = "faces"

# `connect()` gives a broadcaster as another process would hold it: on Redis a new object
# with its own client, in memory the same object (it only reaches its own process).
Connect = Callable[[], Broadcaster]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def connect(request: pytest.FixtureRequest) -> Iterator[Connect]:
    """Factory of broadcasters sharing one channel space, in memory or on Redis."""
    opened: list[Broadcaster] = []
    clients: list[redis.Redis] = []
    prefix = request.getfixturevalue("redis_prefix") if request.param == "redis" else ""
    memory = MemoryBroadcaster()

    def connect_() -> Broadcaster:
        broadcaster: Broadcaster
        if request.param == "redis":
            clients.append(connect_redis(SHARED_REDIS_URL))
            broadcaster = RedisBroadcaster(clients[-1], prefix, url=SHARED_REDIS_URL)
        else:
            broadcaster = memory
        opened.append(broadcaster)
        return broadcaster

    yield connect_
    for broadcaster in opened:
        broadcaster.close()
    for client in clients:
        client.close()
    memory.close()


class HubServer:
    """A FastAPI app served by uvicorn in a thread: `/faces` is `hub.serve`, fed by `hub.pump`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.broadcaster = MemoryBroadcaster()
        self.loop: asyncio.AbstractEventLoop | None = None
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        self.host, self.port = listener.getsockname()
        self.url = f"ws://{self.host}:{self.port}/faces"
        config = uvicorn.Config(self._app(), lifespan="on", log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [listener]}, daemon=True
        )

    def _app(self) -> FastAPI:
        hub, broadcaster = self.hub, self.broadcaster

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            self.loop = asyncio.get_running_loop()
            pump = asyncio.create_task(hub.pump(broadcaster, CHANNEL))
            try:
                yield
            finally:
                pump.cancel()
                await hub.close_all()

        app = FastAPI(lifespan=lifespan)

        @app.websocket("/faces")
        async def faces(websocket: WebSocket) -> None:
            await hub.serve(websocket)

        return app

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 30
        # started, and the pump subscribed: every message published from now on is delivered
        while not (self._server.started and self.broadcaster.subscribers(CHANNEL) == 1):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the hub's server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self.broadcaster.close()

    def publish(self, message: str) -> None:
        self.broadcaster.publish(CHANNEL, message)

    def on_server(self, work: Callable[[], Any]) -> Any:
        """Run WORK (a coroutine function) on the server's loop and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(work(), self.loop).result(timeout=30)

    def hub_tasks(self) -> list[str]:
        """The names of the hub's tasks still alive on the server's loop."""

        async def names() -> list[str]:
            return [
                t.get_name()
                for t in asyncio.all_tasks()
                if t.get_name().startswith("pixelmill-hub")
            ]

        result: list[str] = self.on_server(names)
        return result


@pytest.fixture
def hub_server() -> Iterator[Callable[..., HubServer]]:
    """Factory: `hub_server(max_queue=..., max_clients=...)`, started; stopped afterwards."""
    started: list[HubServer] = []

    def start(**hub_options: Any) -> HubServer:
        server = HubServer(Hub(**hub_options))
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
