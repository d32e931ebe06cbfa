"""Live events: every processed image, told to every websocket client of every API process.

    workers (threads or processes)
        │ broadcaster.publish("faces", json)                      sync; Unavailable when down
        ▼
    broadcaster: Redis channel <prefix>:events:faces, or in-process (embedded default)
        │ one subscription per API process
        ▼
    Hub.pump ──deliver──► a bounded queue per client ──► its sender task ──► its websocket
                          (a full queue: the client is slow, and dropped)

broadcast.py   Broadcaster protocol; RedisBroadcaster (pub/sub), MemoryBroadcaster
hub.py         Hub: the websocket clients of one process (serve, deliver, pump, close_all)

Events are live notices, at most once: a client connected when an image is stored gets it;
a client that was away, or an API process cut off from Redis at that moment, does not (the
image and its metadata stay available over HTTP).
"""

from __future__ import annotations

from pixelmill.events.broadcast import (
    Broadcaster,
    MemoryBroadcaster,
    RedisBroadcaster,
)
from pixelmill.events.hub import Hub, HubStats

__all__ = [
    "Broadcaster",
    "Hub",
    "HubStats",
    "MemoryBroadcaster",
    "RedisBroadcaster",
]
