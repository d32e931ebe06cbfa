"""The one way pixelmill opens a Redis client, and what it says when Redis fails.

A process opens one client (`Resources.open`), and its connection pool serves the queue, the
heartbeats, the job statistics and the broadcaster's publishing, from every thread. The one
connection outside it is an API process's event subscription: `redis.asyncio` cannot use a
sync pool, so `RedisBroadcaster.subscribe` opens its own.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def connect(
    url: str,
    *,
    socket_timeout: float = 5.0,
    socket_connect_timeout: float = 2.0,
    health_check_interval: int = 15,
) -> redis.Redis:
    """A client that fails fast: one quick retry reconnects a pooled connection that Redis
    closed (more would only keep a 503 waiting); no retry on timeouts, where the command may
    have run already."""
    return redis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_connect_timeout,
        health_check_interval=health_check_interval,
        retry=Retry(
            ExponentialBackoff(cap=0.2, base=0.05),
            retries=1,
            supported_errors=(redis.ConnectionError,),
        ),
    )


def public_reason(error: Exception) -> str:
    """What went wrong, without hosts or ports: fit for a 503's detail."""
    if isinstance(error, redis.TimeoutError):
        return "Redis did not answer in time"
    if isinstance(error, redis.ConnectionError | OSError):
        return "cannot reach Redis"
    if isinstance(error, redis.ResponseError):
        code = str(error).split(" ", 1)[0]
        return f"Redis refused the command ({code})"
    return f"Redis failed ({type(error).__name__})"


def as_text(value: bytes | str) -> str:
    """A reply as text: bytes from a client without `decode_responses`."""
    return value.decode() if isinstance(value, bytes) else value
