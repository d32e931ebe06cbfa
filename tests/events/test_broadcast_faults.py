"""Redis going away and coming back under a running subscription, on a private redis-server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Iterator

import pytest

from pixelmill.errors import Unavailable
from pixelmill.events import RedisBroadcaster
from pixelmill.redis_client import connect
from tests.events.conftest import CHANNEL
from tests.events.listening import Listener, eventually, until_heard
from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
def broadcaster(own_redis: RedisServer) -> Iterator[RedisBroadcaster]:
    client = connect(own_redis.url, socket_timeout=1.0, socket_connect_timeout=0.5)
    broadcaster = RedisBroadcaster(
        client,
        "pixelmill",
        url=own_redis.url,
        socket_timeout=1.0,
        socket_connect_timeout=0.5,
        silence_seconds=0.5,
        reconnect_base=0.02,
        reconnect_cap=0.2,
    )
    yield broadcaster
    broadcaster.close()
    client.close()


def logged(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and text in r.getMessage()]


def test_a_subscription_outlives_a_redis_restart(
    broadcaster: RedisBroadcaster, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        listener = Listener(broadcaster, CHANNEL)
        await until_heard(broadcaster, CHANNEL, listener)

        await asyncio.to_thread(own_redis.stop)

        with pytest.raises(Unavailable) as refused:
            await asyncio.to_thread(broadcaster.publish, CHANNEL, "while down")
        assert refused.value.detail == "events unavailable: cannot reach Redis"
        assert refused.value.status_code == 503
        assert not await asyncio.to_thread(broadcaster.ping)
        # it keeps trying, and says so once
        await eventually(lambda: len(logged(caplog, logging.DEBUG, "failed again")) >= 3, "retries")
        assert not listener.task.done()

        await asyncio.to_thread(own_redis.start)  # same port, nothing remembered

        await until_heard(broadcaster, CHANNEL, listener)
        for n in range(3):
            await asyncio.to_thread(broadcaster.publish, CHANNEL, f"after {n}")
        await eventually(lambda: listener.heard("after 2"), "the messages after the restart")
        assert listener.messages == ["after 0", "after 1", "after 2"]
        await listener.stop()

    with caplog.at_level(logging.DEBUG, logger="pixelmill.events"):
        asyncio.run(scenario())
    assert logged(caplog, logging.WARNING, "events:") == [
        "events: subscription to pixelmill:events:faces lost (cannot reach Redis); "
        "reconnecting in the background"
    ]
    [back] = logged(caplog, logging.INFO, "events:")
    assert back.startswith("events: subscribed to pixelmill:events:faces again after")


def test_a_redis_that_stops_answering_is_noticed_and_left_behind(
    broadcaster: RedisBroadcaster, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert own_redis.process is not None
    pid = own_redis.process.pid

    async def scenario() -> None:
        listener = Listener(broadcaster, CHANNEL)
        await until_heard(broadcaster, CHANNEL, listener)

        os.kill(pid, signal.SIGSTOP)  # the connection stays open; nothing answers on it
        try:
            with pytest.raises(Unavailable, match="Redis did not answer in time"):
                await asyncio.to_thread(broadcaster.publish, CHANNEL, "while frozen")
            await eventually(
                lambda: logged(caplog, logging.WARNING, "stopped answering"),
                "the silent subscription to be noticed",
            )
            assert not listener.task.done()
        finally:
            os.kill(pid, signal.SIGCONT)

        await until_heard(broadcaster, CHANNEL, listener)
        await asyncio.to_thread(broadcaster.publish, CHANNEL, "thawed")
        await eventually(lambda: listener.heard("thawed"), "a message after the thaw")
        await listener.stop()

    with caplog.at_level(logging.INFO, logger="pixelmill.events"):
        asyncio.run(scenario())
