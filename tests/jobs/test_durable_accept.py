"""PIXELMILL_REDIS_DURABLE_ACCEPT at the queue: a job is answered only once Redis keeps it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from pixelmill.jobs import RedisQueue
from pixelmill.jobs.queue import QueueDown
from pixelmill.redis_client import connect
from tests.redis_server import RedisServer, plain_client

pytestmark = pytest.mark.redis

FIELDS = {"id": b"job-1", "image": b"\xff\xd8 not really"}


@pytest.fixture
def queue(own_redis: RedisServer) -> Iterator[RedisQueue]:
    client = connect(own_redis.url)
    yield RedisQueue(client, "pixelmill", max_length=10, claim_idle_ms=1000)
    client.close()


@pytest.fixture
def server(own_redis: RedisServer) -> Iterator[redis.Redis]:
    client = plain_client(own_redis.url)
    yield client
    client.close()


def test_fsync_refuses_while_redis_does_not_fsync_every_write(
    queue: RedisQueue, server: redis.Redis
) -> None:
    server.config_set("appendonly", "yes")
    server.config_set("appendfsync", "everysec")
    major, minor = (
        int(part) for part in str(server.info("server")["redis_version"]).split(".")[:2]
    )
    if (major, minor) >= (7, 2):
        pytest.skip("Redis 7.2+ confirms with WAITAOF, whatever appendfsync says")
    with pytest.raises(QueueDown) as refused:
        queue.put_durably("captions:in", FIELDS, "fsync", 500)
    assert refused.value.status_code == 503
    assert refused.value.detail == (
        "queue not durable: Redis does not fsync every write (appendfsync always)"
    )
    assert server.xlen("pixelmill:captions:in") == 0  # nothing half-accepted

    server.config_set("appendfsync", "always")
    queue._fsync_checked_until = 0.0  # the check is cached for 10 s; look again now
    message_id = queue.put_durably("captions:in", FIELDS, "fsync", 500)
    [(entry_id, fields)] = server.xrange("pixelmill:captions:in")
    assert entry_id.decode() == message_id
    assert fields == {k.encode(): v for k, v in FIELDS.items()}


def test_replica_without_a_replica_takes_the_job_back(
    queue: RedisQueue, server: redis.Redis
) -> None:
    with pytest.raises(QueueDown) as refused:
        queue.put_durably("faces:in", FIELDS, "replica", 100)
    assert refused.value.detail == (
        "queue unavailable: Redis did not confirm the job on a replica in time"
    )
    assert server.xlen("pixelmill:faces:in") == 0


def test_none_is_a_plain_put(queue: RedisQueue, server: redis.Redis) -> None:
    queue.put_durably("faces:in", FIELDS, "none", 100)
    assert server.xlen("pixelmill:faces:in") == 1
