"""Job queues and the worker loop: Redis Streams when `redis_url` is set, else in-process.

queue.py         Message, the JobQueue protocol, QueueDown; the streams and their groups
redis_queue.py   RedisQueue: Redis Streams with consumer groups (bound, trimming, claims)
memory_queue.py  MemoryQueue: the embedded default, same semantics
heartbeat.py     Heartbeats: workers say they are alive (Redis keys with expiry, or memory)
stats.py         JobStats: messages per service by outcome, and their durations (for /metrics)
worker.py        run_worker: take, handle, ack; retries, dead letters, back-off, shutdown
"""

from __future__ import annotations

from pixelmill.config import Settings
from pixelmill.jobs.heartbeat import Heartbeats, MemoryHeartbeats, RedisHeartbeats
from pixelmill.jobs.memory_queue import MemoryQueue
from pixelmill.jobs.queue import JobQueue, Message, QueueDown
from pixelmill.jobs.redis_queue import RedisQueue
from pixelmill.jobs.stats import JobStats, MemoryJobStats, RedisJobStats
from pixelmill.jobs.worker import install_signal_handlers, run_worker

__all__ = [
    "Heartbeats",
    "JobQueue",
    "JobStats",
    "MemoryHeartbeats",
    "MemoryJobStats",
    "MemoryQueue",
    "Message",
    "QueueDown",
    "RedisHeartbeats",
    "RedisJobStats",
    "RedisQueue",
    "install_signal_handlers",
    "make_heartbeats",
    "make_job_stats",
    "make_queue",
    "run_worker",
]


def make_queue(settings: Settings) -> JobQueue:
    """The job queue the settings ask for; build it once and share it."""
    if settings.redis_url:
        return RedisQueue(
            settings.redis_url,
            settings.redis_prefix,
            max_length=settings.queue_max_length,
            claim_idle_ms=settings.claim_idle_ms,
        )
    return MemoryQueue(settings.queue_max_length, claim_idle_ms=settings.claim_idle_ms)


def make_heartbeats(settings: Settings) -> Heartbeats:
    """Where workers report that they are alive, as the settings ask."""
    if settings.redis_url:
        return RedisHeartbeats(
            settings.redis_url,
            settings.redis_prefix,
            heartbeat_seconds=settings.heartbeat_seconds,
        )
    return MemoryHeartbeats(heartbeat_seconds=settings.heartbeat_seconds)


def make_job_stats(settings: Settings) -> JobStats:
    """Where workers record what they handled, as the settings ask."""
    if settings.redis_url:
        return RedisJobStats(settings.redis_url, settings.redis_prefix)
    return MemoryJobStats()
