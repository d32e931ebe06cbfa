"""A hub whose subscription had a gap (Redis restarted) tells its clients so: close 1012."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect

from pixelmill.events import Hub, RedisBroadcaster
from tests.events.conftest import HubServer
from tests.events.listening import eventually
from tests.events.test_broadcast_faults import broadcaster  # noqa: F401  (the fixture)
from tests.events.test_hub import Client
from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis


class RedisHubServer(HubServer):
    """The hub's server, fed by a subscription on a (private) Redis."""

    def __init__(self, hub: Hub, feed: RedisBroadcaster) -> None:
        self.feed = feed
        super().__init__(hub)

    def _app(self):  # type: ignore[no-untyped-def]
        self.broadcaster = self.feed  # type: ignore[assignment]
        return super()._app()

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the hub's server did not start")
            time.sleep(0.01)


@pytest.fixture
def server(broadcaster: RedisBroadcaster) -> Iterator[RedisHubServer]:  # noqa: F811
    hub_server = RedisHubServer(Hub(), broadcaster)
    hub_server.start()
    yield hub_server
    hub_server.stop()


async def heard_live(server: RedisHubServer, client: Client) -> None:
    """Publish probes until the client gets one: the hub's subscription is in effect."""
    for n in range(500):
        probe = f"probe-{n}"
        await asyncio.to_thread(server.feed.publish, "faces", probe)
        try:
            await eventually(lambda: probe in client.frames, "a probe", timeout=0.2)  # noqa: B023
            return
        except AssertionError:
            continue
    raise AssertionError("the client never got a probe")


def test_clients_connected_through_a_redis_restart_are_told_to_reconnect(
    server: RedisHubServer, own_redis: RedisServer
) -> None:
    async def scenario() -> None:
        before = Client(await connect(server.url))
        await heard_live(server, before)

        await asyncio.to_thread(own_redis.stop)  # what is published now reaches nobody
        await asyncio.to_thread(own_redis.start)

        await asyncio.wait_for(before.reading, 10)  # the hub closed it
        assert before.ws.close_code == 1012
        assert before.ws.close_reason == "events were missed: reconnect and reload"

        after = Client(await connect(server.url))  # a client that reconnects gets the events
        await heard_live(server, after)
        await asyncio.to_thread(server.feed.publish, "faces", '{"id": "x"}')
        await eventually(lambda: '{"id": "x"}' in after.frames, "the event after the restart")
        assert after.ws.close_code is None
        await after.close()

    asyncio.run(scenario())
