"""Job statistics, in memory and in Redis: what workers record is what /metrics reads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pixelmill.jobs.stats import BUCKETS, JobStats, MemoryJobStats, RedisJobStats
from pixelmill.redis_client import connect
from tests.redis_server import SHARED_REDIS_URL


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def stats(request: pytest.FixtureRequest) -> Iterator[JobStats]:
    if request.param == "memory":
        yield MemoryJobStats()
        return
    client = connect(SHARED_REDIS_URL)
    made = RedisJobStats(client, request.getfixturevalue("redis_prefix"))
    yield made
    made.close()
    client.close()


def test_recorded_outcomes_and_durations_are_read_back(stats: JobStats) -> None:
    for seconds in (0.001, 0.02, 0.02, 3.0):
        stats.record("captioner", "done", seconds)
    stats.record("captioner", "retried", 0.2)
    stats.record("storer", "failed", 50.0)
    stats.flush(force=True)  # a worker does it within FLUSH_SECONDS, and when it stops
    totals = stats.read(("captioner", "storer", "faces"))
    captioner = totals["captioner"]
    assert captioner.outcomes == {"done": 4, "retried": 1, "failed": 0}
    assert captioner.count == 5
    assert captioner.sum == pytest.approx(3.241)
    cumulative = dict(zip(BUCKETS, captioner.buckets, strict=True))
    assert cumulative[0.005] == 1 and cumulative[0.025] == 3 and cumulative[0.25] == 4
    assert cumulative[2.5] == 4 and cumulative[5.0] == 5
    assert totals["storer"].outcomes["failed"] == 1 and totals["storer"].buckets[-2] == 0
    assert totals["storer"].count == 1  # only the +Inf bucket holds 50 s
    assert totals["faces"].count == 0


def test_a_worker_writes_its_totals_at_most_once_a_second(stats: JobStats) -> None:
    stats.record("faces", "done", 0.01)  # the first is written at once
    for _ in range(50):
        stats.record("faces", "done", 0.01)
    first = stats.read(("faces",))["faces"].count
    # Redis has the first only, the other 50 wait in the worker; memory has them all at once
    assert first == (1 if isinstance(stats, RedisJobStats) else 51)
    stats.flush(force=True)
    assert stats.read(("faces",))["faces"].count == 51
