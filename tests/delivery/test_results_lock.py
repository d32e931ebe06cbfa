"""The cross-process lock of the result cache: one computation per key, even at the seams.

Two `Results` on one Redis prefix and one cache folder stand for two API processes. The
interleavings that once made a result twice are set up on purpose here rather than left
to the scheduler (CI saw one of them as a flaky two-server test).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from pixelmill.delivery import results as results_module
from pixelmill.delivery.cache import DiskCache, Entry
from pixelmill.delivery.results import Results

pytestmark = pytest.mark.redis

KEY = "ab" * 32
ENTRY = Entry("image/png", b"made once")


class StoredJustAfterTheLook(DiskCache):
    """A cache that another process fills just after this one's first look misses."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, 1 << 20)
        self.looked = False

    def get(self, key: str) -> Entry | None:
        found = super().get(key)
        if found is None and not self.looked:
            self.looked = True
            DiskCache(self.root, 1 << 20).put(key, ENTRY)  # the other process, done and gone
        return found


def test_an_entry_stored_while_the_lock_was_free_is_not_made_again(
    tmp_path: Path, redis_client: redis.Redis, redis_prefix: str
) -> None:
    results = Results(StoredJustAfterTheLook(tmp_path), redis_client, redis_prefix)
    made: list[int] = []

    async def make() -> Entry:
        made.append(1)
        return Entry("image/png", b"made again")

    entry, cached = asyncio.run(results.get_or_make(KEY, make))
    assert entry == ENTRY
    assert not cached
    assert made == []
    assert results.stats.computed == 0
    assert redis_client.exists(results.lock_prefix + KEY) == 0  # let go after


def test_a_computation_longer_than_the_lock_is_not_started_twice(
    tmp_path: Path, redis_client: redis.Redis, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results_module, "LOCK_MS", 300)  # the work below takes 4 of these
    first = Results(DiskCache(tmp_path, 1 << 20), redis_client, redis_prefix)
    second = Results(DiskCache(tmp_path, 1 << 20), redis_client, redis_prefix)
    made: list[str] = []

    def maker(name: str):
        async def make() -> Entry:
            made.append(name)
            await asyncio.sleep(1.2)
            return Entry("image/png", name.encode())

        return make

    async def both() -> list[tuple[Entry, bool]]:
        one = asyncio.create_task(first.get_or_make(KEY, maker("first")))
        await asyncio.sleep(0.1)  # the first holds the lock by now
        two = asyncio.create_task(second.get_or_make(KEY, maker("second")))
        return list(await asyncio.gather(one, two))

    (entry_one, _), (entry_two, _) = asyncio.run(both())
    assert made == ["first"]
    assert entry_one == entry_two == Entry("image/png", b"first")
    assert second.stats.joined == 1
    assert redis_client.exists(first.lock_prefix + KEY) == 0
