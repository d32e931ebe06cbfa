"""Results computed once: the cache first, then one computation per key however many ask.

In one process, the first request for a key that is not cached computes it and the others
await the same future. Across processes (with Redis), the first takes a short lock
(`SET NX PX`) on the key; the others poll the cache until the entry appears, or the lock goes
away without one (its holder failed or died), when one of them takes it in turn. Whoever
takes the lock reads the cache once more first: the holder before it may have stored the
entry and let go between a waiter's last look and its turn. The holder renews its lock while
it works, so a slow computation is not started a second time; a lock outlived by its holder
(a process that died) expires, and then the work is done again, never answered wrongly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis

from pixelmill.delivery.cache import Entry, ResultCache
from pixelmill.errors import Stopped, Unavailable

log = logging.getLogger(__name__)

LOCK_MS = 10_000  # the cross-process lock, renewed by its holder every third of this
POLL_SECONDS = 0.05
WAIT_SECONDS = 60.0  # a waiter gives up after this; the computing request has its own limit


def cache_key(*parts: str) -> str:
    """The hex SHA-256 of `parts` (each one a line): a cache key and the body of an ETag."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass
class ResultStats:
    """Counted in this process, read by /metrics and by tests."""

    hits: int = 0
    misses: int = 0
    computed: int = 0  # results this process computed: decodes of a source
    joined: int = 0  # requests that waited on another's computation


class Results:
    """A result cache with coalescing; one per app."""

    def __init__(
        self, cache: ResultCache | None, redis_client: redis.Redis | None = None, prefix: str = ""
    ) -> None:
        self.cache = cache
        self.redis = redis_client
        self.lock_prefix = f"{prefix}:delivery:lock:"
        self.stats = ResultStats()
        self._pending: dict[str, asyncio.Future[Entry]] = {}

    async def get(self, key: str) -> Entry | None:
        """The cached entry of `key`, or None (a cache that fails reads as a miss)."""
        if self.cache is None:
            return None
        try:
            return await asyncio.to_thread(self.cache.get, key)
        except (OSError, Unavailable) as exc:
            log.warning("result cache unreadable, computing instead: %s", exc)
            return None

    async def get_or_make(
        self, key: str, make: Callable[[], Awaitable[Entry]]
    ) -> tuple[Entry, bool]:
        """The entry of `key` and whether it was cached: read, or made once by `make`."""
        entry = await self.get(key)
        if entry is not None:
            self.stats.hits += 1
            return entry, True
        self.stats.misses += 1
        while True:
            pending = self._pending.get(key)
            if pending is None:
                break
            self.stats.joined += 1
            try:
                return await asyncio.shield(pending), False
            except (Stopped, asyncio.CancelledError):
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this request itself was cancelled
                continue  # the computing request went away: another one computes
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._pending[key] = future
        try:
            entry = await self._make_shared(key, make)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
            raise
        finally:
            del self._pending[key]
        future.set_result(entry)
        return entry, False

    async def _make_shared(self, key: str, make: Callable[[], Awaitable[Entry]]) -> Entry:
        """Across processes: make it under the Redis lock, or wait for whoever holds it."""
        if self.redis is None or self.cache is None:
            return await self._make(key, make)
        lock, token = self.lock_prefix + key, secrets.token_hex(8)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        while True:
            try:
                taken = await asyncio.to_thread(self.redis.set, lock, token, nx=True, px=LOCK_MS)
            except redis.RedisError as exc:
                log.warning("delivery lock unavailable, computing alone: %s", exc)
                return await self._make(key, make)
            if taken:
                renewing = asyncio.create_task(_renew(self.redis, lock, token))
                try:
                    entry = await self.get(key)  # stored by the holder before us?
                    if entry is not None:
                        self.stats.joined += 1
                        return entry
                    return await self._make(key, make)
                finally:
                    renewing.cancel()
                    await asyncio.to_thread(_release, self.redis, lock, token)
            while loop.time() < deadline:  # another process computes it
                await asyncio.sleep(POLL_SECONDS)
                entry = await self.get(key)
                if entry is not None:
                    self.stats.joined += 1
                    return entry
                if not await asyncio.to_thread(self.redis.exists, lock):
                    break  # its holder gave up: take it
            else:
                return await self._make(key, make)

    async def _make(self, key: str, make: Callable[[], Awaitable[Entry]]) -> Entry:
        entry = await make()
        self.stats.computed += 1
        if self.cache is not None:
            try:
                await asyncio.to_thread(self.cache.put, key, entry)
            except (OSError, Unavailable) as exc:
                log.warning("result cache unwritable, answering uncached: %s", exc)
        return entry


_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


async def _renew(client: redis.Redis, lock: str, token: str) -> None:
    """Keep our lock alive while the work runs; stop once it is no longer ours."""
    while True:
        await asyncio.sleep(LOCK_MS / 3000)
        try:
            if not await asyncio.to_thread(client.eval, _RENEW, 1, lock, token, LOCK_MS):
                return
        except redis.RedisError:
            continue  # it may come back before the lock expires


def _release(client: redis.Redis, lock: str, token: str) -> None:
    """Delete the lock if it is still ours (it may have expired and been taken since)."""
    with contextlib.suppress(redis.RedisError):  # it expires by itself
        client.eval(_RELEASE, 1, lock, token)


def _retrieve(future: asyncio.Future[Entry]) -> None:
    # an error nobody waited for is the computing request's own, already answered
    if not future.cancelled():
        future.exception()
