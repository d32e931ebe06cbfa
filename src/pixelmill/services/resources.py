"""What a process opens once and shares: the database, the queue, heartbeats, job
statistics, the broadcaster and the blob store.

    no redis_url (embedded)    queue, heartbeats, statistics and broadcaster in memory
    redis_url                  one Redis client, whose one pool they all use (plus, in an API
                               process, the broadcaster's one subscription, on its own async
                               connection)

The API process (`create_app`) and each worker process (`pixelmill worker`) open it once, at
start, through `Runtime.open`, and close it when they stop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Self

import redis

from pixelmill.config import Settings
from pixelmill.events.broadcast import Broadcaster, MemoryBroadcaster, RedisBroadcaster
from pixelmill.jobs import (
    Heartbeats,
    JobQueue,
    JobStats,
    MemoryHeartbeats,
    MemoryJobStats,
    MemoryQueue,
    RedisHeartbeats,
    RedisJobStats,
    RedisQueue,
)
from pixelmill.redis_client import connect
from pixelmill.storage.blobs import BlobStore, make_blob_store
from pixelmill.storage.db import Database, migrate
from pixelmill.storage.models import utcnow
from pixelmill.storage.repository import CaptionRepository, FaceRepository

if TYPE_CHECKING:
    from pixelmill.execution.pools import Pools


@dataclass
class Resources:
    """The parts a process shares, opened once; `close` releases them."""

    settings: Settings
    database: Database
    queue: JobQueue
    heartbeats: Heartbeats
    job_stats: JobStats
    broadcaster: Broadcaster
    blobs: BlobStore
    redis: redis.Redis | None = None  # the one client the parts above share, with its pool
    repository: CaptionRepository = field(default_factory=CaptionRepository)
    face_repository: FaceRepository = field(default_factory=FaceRepository)
    # the API process's pools (`pixelmill serve`): the services it runs do their pixel work
    # there; None in a `pixelmill worker` process (threads of the services' own)
    pools: Pools | None = None
    # when this process opened them: an embedded job recorded before this, with no upload in
    # the inbox, was cut off by a stop between its row and its upload (never answered 202)
    opened_at: datetime = field(default_factory=utcnow)

    @classmethod
    def open(cls, settings: Settings) -> Self:
        """Migrate the database and connect to everything."""
        migrate(settings.database)
        database = Database(settings.database)
        blobs = make_blob_store(
            settings.storage_url,
            settings.storage_path,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
        if settings.redis_url is None:
            return cls(
                settings=settings,
                database=database,
                queue=MemoryQueue(
                    settings.queue_max_length,
                    claim_idle_ms=settings.claim_idle_ms,
                    dead_dir=settings.data_dir / "dead-letters",  # kept across restarts
                ),
                heartbeats=MemoryHeartbeats(heartbeat_seconds=settings.heartbeat_seconds),
                job_stats=MemoryJobStats(),
                broadcaster=MemoryBroadcaster(),
                blobs=blobs,
            )
        client = connect(settings.redis_url)
        prefix = settings.redis_prefix
        return cls(
            settings=settings,
            database=database,
            queue=RedisQueue(
                client,
                prefix,
                max_length=settings.queue_max_length,
                claim_idle_ms=settings.claim_idle_ms,
            ),
            heartbeats=RedisHeartbeats(
                client, prefix, heartbeat_seconds=settings.heartbeat_seconds
            ),
            job_stats=RedisJobStats(client, prefix),
            broadcaster=RedisBroadcaster(client, prefix, url=settings.redis_url),
            blobs=blobs,
            redis=client,
        )

    @property
    def embedded(self) -> bool:
        return self.redis is None

    @property
    def inbox_dir(self) -> Path | None:
        """Durable copies of accepted uploads, in the embedded mode only."""
        return self.settings.data_dir / "inbox" if self.embedded else None

    def alive(self, service: str) -> int:
        """How many consumers of `service` reported lately (0 when the queue is down)."""
        try:
            return len(self.heartbeats.alive(service))
        except Exception:
            return 0

    def close(self) -> None:
        """Disconnect; the statistics not yet written are written first."""
        self.queue.close()
        self.job_stats.close()
        self.broadcaster.close()
        if self.redis is not None:
            self.redis.close()
        close_blobs = getattr(self.blobs, "close", None)
        if close_blobs is not None:
            close_blobs()
        self.database.dispose()
