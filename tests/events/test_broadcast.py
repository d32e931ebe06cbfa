"""Broadcasters, in memory and on Redis: who gets which message, in which order."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
import redis

from pixelmill.errors import Unavailable
from pixelmill.events import MemoryBroadcaster, RedisBroadcaster
from pixelmill.redis_client import connect as connect_redis
from tests.events.conftest import CHANNEL, Connect
from tests.events.listening import Listener, eventually, until_heard
from tests.redis_server import SHARED_REDIS_URL


def test_a_subscriber_gets_every_message_published_after_it_subscribed_in_order(
    connect: Connect,
) -> None:
    async def scenario() -> None:
        broadcaster = connect()
        await asyncio.to_thread(broadcaster.publish, CHANNEL, "before anyone listened")
        listener = Listener(broadcaster, CHANNEL)
        await until_heard(broadcaster, CHANNEL, listener)
        sent = [f'{{"id": "{n}", "faces": {n % 3}, "name": "лицо 😀"}}' for n in range(50)]

        def publish_all() -> None:
            for message in sent:
                broadcaster.publish(CHANNEL, message)

        await asyncio.to_thread(publish_all)
        await eventually(lambda: len(listener.messages) == len(sent), "50 messages")
        assert listener.messages == sent
        await listener.stop()

    asyncio.run(scenario())


def test_each_process_gets_each_message_once(connect: Connect) -> None:
    async def scenario() -> None:
        first, second, worker = connect(), connect(), connect()
        listeners = [Listener(first, CHANNEL), Listener(second, CHANNEL)]
        other_channel = Listener(first, "captions")
        await until_heard(worker, CHANNEL, *listeners)
        sent = [f"event {n}" for n in range(20)]
        for message in [*sent, "end"]:
            await asyncio.to_thread(worker.publish, CHANNEL, message)
        await eventually(lambda: all(x.heard("end") for x in listeners), "the end marker")

        for listener in listeners:
            assert listener.messages == [*sent, "end"]
        assert other_channel.received == []
        for listener in [*listeners, other_channel]:
            await listener.stop()

    asyncio.run(scenario())


def test_publishers_in_many_threads_reach_every_subscriber_in_one_order(
    connect: Connect,
) -> None:
    async def scenario() -> None:
        listeners = [Listener(connect(), CHANNEL), Listener(connect(), CHANNEL)]
        publisher = connect()
        await until_heard(publisher, CHANNEL, *listeners)

        def publish(thread: int) -> None:
            for n in range(25):
                publisher.publish(CHANNEL, f"{thread}:{n}")

        threads = [threading.Thread(target=publish, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        await asyncio.to_thread(lambda: [thread.join() for thread in threads])
        await eventually(lambda: all(len(x.messages) == 100 for x in listeners), "100 messages")

        first, second = (listener.messages for listener in listeners)
        assert first == second  # one order for everyone
        for t in range(4):  # and each thread's messages in the order it published them
            assert [m for m in first if m.startswith(f"{t}:")] == [f"{t}:{n}" for n in range(25)]
        for listener in listeners:
            await listener.stop()

    asyncio.run(scenario())


def test_a_closed_broadcaster_refuses_to_publish_and_ends_its_subscriptions(
    connect: Connect,
) -> None:
    async def scenario() -> None:
        broadcaster = connect()
        assert await asyncio.to_thread(broadcaster.ping)
        listener = Listener(broadcaster, CHANNEL)
        await until_heard(broadcaster, CHANNEL, listener)

        broadcaster.close()

        assert not await asyncio.to_thread(broadcaster.ping)
        with pytest.raises(Unavailable, match="events unavailable: the broadcaster is closed"):
            broadcaster.publish(CHANNEL, "after close")
        await eventually(listener.task.done, "the subscription to end")
        assert listener.task.exception() is None

    asyncio.run(scenario())


@pytest.mark.redis
def test_messages_travel_on_the_prefixed_redis_channel(
    redis_prefix: str, redis_client: redis.Redis
) -> None:
    client = connect_redis(SHARED_REDIS_URL)
    broadcaster = RedisBroadcaster(client, redis_prefix, url=SHARED_REDIS_URL)
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    try:
        pubsub.subscribe(f"{redis_prefix}:events:faces")
        pubsub.get_message(timeout=1)  # the subscription's confirmation
        broadcaster.publish("faces", '{"id": "a"}')
        message = pubsub.get_message(timeout=5)
        assert message is not None and message["data"] == b'{"id": "a"}'
        assert list(redis_client.scan_iter(match=f"{redis_prefix}:*")) == []  # no keys
    finally:
        pubsub.close()
        broadcaster.close()
        client.close()


def test_a_subscriber_that_falls_behind_loses_messages_not_memory(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        broadcaster = MemoryBroadcaster(max_pending=3)
        listener = Listener(broadcaster, CHANNEL)
        await eventually(lambda: broadcaster.subscribers(CHANNEL) == 1, "the subscription")
        # published from the subscriber's own thread, so it cannot take any before the last
        for n in range(10):
            broadcaster.publish(CHANNEL, str(n))
        broadcaster.publish(CHANNEL, "end")  # lost too: the buffer is still full
        await eventually(lambda: len(listener.received) == 3, "three messages")
        broadcaster.publish(CHANNEL, "after")
        await eventually(lambda: listener.heard("after"), "a message once it caught up")

        assert listener.received == ["0", "1", "2", "after"]
        broadcaster.close()
        await eventually(listener.task.done, "the subscription to end")

    with caplog.at_level(logging.WARNING, logger="pixelmill.events"):
        asyncio.run(scenario())
    assert [r.getMessage() for r in caplog.records] == [
        "events: a subscriber of faces is 3 messages behind; dropping messages"
    ]
