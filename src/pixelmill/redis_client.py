"""The one way pixelmill opens a Redis client (queues, heartbeats, broadcast)."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def connect(
    url: str,
    *,
    socket_timeout: float,
    socket_connect_timeout: float,
    health_check_interval: int = 0,
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
