"""Broadcasters: a message published on a channel reaches every subscriber of that channel.

    publish(channel, message)      sync, from worker threads and processes
        │
        ├─ RedisBroadcaster        PUBLISH <prefix>:events:<channel>  ──► every API process
        └─ MemoryBroadcaster       loop.call_soon_threadsafe          ──► this process only
        │
    subscribe(channel)             async iterator, in an API process's event loop

Delivery is at most once and live only. Pub/sub has no memory: a subscriber gets the messages
published after its subscription took effect (when iteration starts, not when `subscribe` is
called), in the order they were published, and nothing published while it was not subscribed.
When Redis goes away, `publish` raises `Unavailable` (the caller's result is stored anyway,
only the live notice is lost), and a subscription keeps running: it reconnects with capped,
jittered back-off and subscribes again, and the messages published during the outage are lost;
it says so by calling the subscriber's `on_gap` once subscribed again (the hub then tells its
websocket clients to reconnect and catch up).

A subscriber that falls behind loses messages rather than holding memory without end: Redis
disconnects it (client-output-buffer-limit pubsub, then it reconnects), and the in-process
broadcaster drops what does not fit in `max_pending`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import suppress
from typing import Any, Protocol

import redis
import redis.asyncio
import redis.asyncio.retry
from redis.asyncio.client import PubSub
from redis.backoff import NoBackoff

from pixelmill.errors import Unavailable
from pixelmill.redis_client import as_text, public_reason

log = logging.getLogger("pixelmill.events")


class Broadcaster(Protocol):
    """Live fan-out of text messages to every subscriber of a channel, at most once."""

    def publish(self, channel: str, message: str) -> None:
        """Send MESSAGE to the channel's current subscribers; `Unavailable` when it cannot."""
        ...

    def subscribe(
        self, channel: str, on_gap: Callable[[], None] | None = None
    ) -> AsyncIterator[str]:
        """Every message published on the channel once iteration has started; outlives
        outages, and calls ON_GAP when it is subscribed again after one (what was published
        meanwhile is lost)."""
        ...

    def ping(self) -> bool:
        """Whether messages can be published."""
        ...

    def close(self) -> None:
        """Publish no more, and end every subscription."""
        ...


# --- in this process ------------------------------------------------------------------------


class _Subscriber:
    """One subscription: a bounded buffer that lives on its event loop's thread."""

    def __init__(self, channel: str, max_pending: int) -> None:
        self.channel = channel
        self.loop = asyncio.get_running_loop()
        self.max_pending = max_pending
        self.pending: deque[str] = deque()
        self.ready = asyncio.Event()
        self.ended = False
        self.lost = 0  # messages dropped because the buffer was full
        self._overflowing = False

    def offer(self, message: str) -> None:
        """Called on the subscriber's loop."""
        if len(self.pending) >= self.max_pending:
            self.lost += 1
            if not self._overflowing:
                self._overflowing = True
                log.warning(
                    "events: a subscriber of %s is %d messages behind; dropping messages",
                    self.channel,
                    self.max_pending,
                )
            return
        self._overflowing = False
        self.pending.append(message)
        self.ready.set()

    def end(self) -> None:
        """Called on the subscriber's loop."""
        self.ended = True
        self.ready.set()


class MemoryBroadcaster:
    """Broadcaster inside one process (the embedded default); publish from any thread."""

    def __init__(self, *, max_pending: int = 10_000) -> None:
        self._max_pending = max_pending
        self._channels: dict[str, set[_Subscriber]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def publish(self, channel: str, message: str) -> None:
        # Under the lock, so that every subscriber sees concurrent publishes in the same order.
        with self._lock:
            if self._closed:
                raise Unavailable("events unavailable: the broadcaster is closed")
            for subscriber in list(self._channels.get(channel, ())):
                try:
                    subscriber.loop.call_soon_threadsafe(subscriber.offer, message)
                except RuntimeError:  # its event loop is closed: nobody is listening there
                    self._channels[channel].discard(subscriber)

    async def subscribe(
        self, channel: str, on_gap: Callable[[], None] | None = None
    ) -> AsyncIterator[str]:
        # no gaps in one process: ON_GAP is never called
        subscriber = _Subscriber(channel, self._max_pending)
        with self._lock:
            if self._closed:
                return
            self._channels.setdefault(channel, set()).add(subscriber)
        try:
            while True:
                while subscriber.pending:
                    yield subscriber.pending.popleft()
                if subscriber.ended:
                    return
                subscriber.ready.clear()
                await subscriber.ready.wait()
        finally:
            with self._lock:
                self._channels.get(channel, set()).discard(subscriber)

    def subscribers(self, channel: str) -> int:
        """Subscriptions to the channel in effect now."""
        with self._lock:
            return len(self._channels.get(channel, ()))

    def ping(self) -> bool:
        return not self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for subscribers in self._channels.values():
                for subscriber in subscribers:
                    with suppress(RuntimeError):  # its loop is closed already
                        subscriber.loop.call_soon_threadsafe(subscriber.end)


# --- on Redis -------------------------------------------------------------------------------


class _Silent(Exception):
    """The subscription's connection stopped answering (a half-open TCP connection); the
    message names no host."""


class RedisBroadcaster:
    """Broadcaster on Redis pub/sub, channel `<prefix>:events:<channel>`; one per process.

    `publish` uses the process's one client (pooled, thread-safe; closed by its owner). Each
    `subscribe` opens a connection of its own to URL with `redis.asyncio`, in the caller's
    event loop (an async client cannot use a sync pool); an API process makes one (the hub's
    pump), however many websocket clients it serves.
    """

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        *,
        url: str,
        socket_timeout: float = 5.0,
        socket_connect_timeout: float = 2.0,
        silence_seconds: float = 15.0,
        reconnect_base: float = 0.1,
        reconnect_cap: float = 5.0,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._socket_timeout = socket_timeout
        self._socket_connect_timeout = socket_connect_timeout
        # a subscription silent this long is pinged; unanswered as long again, it is re-made
        self._silence = silence_seconds
        self._reconnect_base = reconnect_base
        self._reconnect_cap = reconnect_cap
        self._closed = False
        self._redis = client

    def channel(self, channel: str) -> str:
        """The Redis channel that carries CHANNEL."""
        return f"{self._prefix}:events:{channel}"

    def publish(self, channel: str, message: str) -> None:
        if self._closed:
            raise Unavailable("events unavailable: the broadcaster is closed")
        try:
            self._redis.publish(self.channel(channel), message)
        except redis.RedisError as error:
            raise Unavailable(f"events unavailable: {public_reason(error)}") from error

    async def subscribe(
        self, channel: str, on_gap: Callable[[], None] | None = None
    ) -> AsyncIterator[str]:
        name = self.channel(channel)
        client = redis.asyncio.Redis.from_url(
            self._url,
            socket_timeout=self._socket_timeout,
            socket_connect_timeout=self._socket_connect_timeout,
            # errors come straight to the loop below, which backs off and subscribes again
            retry=redis.asyncio.retry.Retry(NoBackoff(), 0),
        )
        failures = 0
        down_since: float | None = None
        loop = asyncio.get_running_loop()
        try:
            while not self._closed:
                pubsub = client.pubsub()
                replies = self._listen(pubsub)
                try:
                    await pubsub.subscribe(name)
                    async for message in replies:
                        if message["type"] == "subscribe":
                            if down_since is not None:
                                log.info(
                                    "events: subscribed to %s again after %.1f s; messages "
                                    "published meanwhile are lost",
                                    name,
                                    loop.time() - down_since,
                                )
                                if on_gap is not None:
                                    on_gap()
                            failures, down_since = 0, None
                        elif message["type"] == "message":
                            yield as_text(message["data"])
                    return  # closed
                except (redis.RedisError, OSError, _Silent) as error:
                    if down_since is None:
                        down_since = loop.time()
                        log.warning(
                            "events: subscription to %s lost (%s); reconnecting in the background",
                            name,
                            str(error) if isinstance(error, _Silent) else public_reason(error),
                        )
                    else:
                        log.debug("events: subscribing to %s failed again: %s", name, error)
                finally:
                    await replies.aclose()
                    with suppress(redis.RedisError, OSError):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]
                await asyncio.sleep(self._backoff(failures))
                failures += 1
        finally:
            with suppress(redis.RedisError, OSError):
                await client.aclose()

    async def _listen(self, pubsub: PubSub) -> AsyncGenerator[dict[str, Any], None]:
        """Every reply on the subscription (subscribe, message, pong) until closed."""
        loop = asyncio.get_running_loop()
        poll = min(1.0, self._silence / 2)
        quiet_since = loop.time()
        pinged = False
        while not self._closed:
            message = await pubsub.get_message(timeout=poll)
            now = loop.time()
            if message is not None:
                quiet_since, pinged = now, False
                yield message
            elif now - quiet_since >= self._silence:
                if pinged:
                    raise _Silent(f"Redis stopped answering: no pong in {self._silence:g} s")
                await pubsub.ping()
                quiet_since, pinged = now, True

    def _backoff(self, failures: int) -> float:
        delay = min(self._reconnect_cap, self._reconnect_base * 2.0 ** min(failures, 30))
        # jitter, so that the API processes do not all reconnect at the same instant
        return delay * random.uniform(0.5, 1.0)

    def ping(self) -> bool:
        if self._closed:
            return False
        try:
            return bool(self._redis.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        """Publish no more; subscriptions end at their next poll (~1 s)."""
        self._closed = True
