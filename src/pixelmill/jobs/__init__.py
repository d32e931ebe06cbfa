"""Job queues and the worker loop: Redis Streams when `redis_url` is set, else in-process.

`pixelmill.services.resources` chooses the kind and, on Redis, hands every part the process's
one client.

queue.py         Message, the JobQueue protocol, QueueDown; the streams and their groups
redis_queue.py   RedisQueue: Redis Streams with consumer groups (bound, trimming, claims)
memory_queue.py  MemoryQueue: the embedded default, same semantics
heartbeat.py     Heartbeats: workers say they are alive (Redis keys with expiry, or memory)
stats.py         JobStats: messages per service by outcome, and their durations (for /metrics)
worker.py        run_worker: take, handle, ack; retries, dead letters, back-off, shutdown
"""

from __future__ import annotations

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
    "run_worker",
]
