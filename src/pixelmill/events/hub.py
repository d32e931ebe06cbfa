"""The hub: the websocket clients of one API process, fed by the process's one subscription.

    broadcaster.subscribe(channel)          one per process: Hub.pump, for the app's lifetime
        │
        ▼ deliver(message)                  put_nowait on every client's queue; never waits
    ┌─ client ─ queue (max_queue) ─ sender task ─► websocket.send_text ─► socket
    ├─ client ─ queue (max_queue) ─ sender task ─► ...
    └─ client ─ queue full ─► slow: unregistered at once, closed with 1008

`serve` runs in the server's task for the connection, with two tasks of the client's own: the
sender (the only writer to the socket) and the reader, which notices the disconnect and
answers a "ping" text with "pong" (through the queue; anything else a client sends is
ignored). When either ends, or the client is dropped, `serve` cancels both, closes the socket
if the hub asked for it, and returns: no task outlives its client.

Close codes: 1008 a slow client (its queue filled up), 1013 too many clients (try again
later), 1001 the server is shutting down, 1012 the process's subscription had a gap (Redis
restarted or was unreachable: events published meanwhile reached no client here), so every
client connected then is closed once the subscription is back, to reconnect and reload what
it missed (`GET /api/v1/images`).

A frame queued for many clients is one shared string; what a client costs is its queue, its
two tasks and the server's connection state (with permessage-deflate, mostly the compressor).
The hub must be used from one event loop: `deliver` is not thread-safe (publishers go through
a broadcaster).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from pixelmill.events.broadcast import Broadcaster

log = logging.getLogger("pixelmill.events")

SLOW = 1008  # policy violation: fell max_queue frames behind
FULL = 1013  # try again later: max_clients reached
GOING_AWAY = 1001  # the server is shutting down
MISSED = 1012  # the process's event feed had a gap: reconnect and reload

PING, PONG = "ping", "pong"


@dataclass
class HubStats:
    """Counters since the hub was made, for metrics."""

    accepted: int = 0  # clients accepted
    refused: int = 0  # clients turned away because max_clients were connected (1013)
    messages: int = 0  # messages handed to deliver
    queued: int = 0  # frames put on a client's queue
    sent: int = 0  # frames written to a socket
    dropped: int = 0  # clients dropped for being slow (1008)


@dataclass(eq=False)
class _Client:
    websocket: WebSocket
    queue: asyncio.Queue[str]
    sender: asyncio.Task[None] | None = None
    farewell: tuple[int, str] | None = None  # close code and reason, once the hub drops it


class Hub:
    """The websocket clients of this process; each gets every delivered message, or is dropped."""

    def __init__(
        self, max_queue: int = 64, max_clients: int = 10_000, *, close_timeout: float = 5.0
    ) -> None:
        if max_queue < 1 or max_clients < 1:
            raise ValueError("max_queue and max_clients must be at least 1")
        self.max_queue = max_queue
        self.max_clients = max_clients
        # how long to wait for a close frame to go out; a client that does not read never
        # takes it, and the server closes the connection when serve returns
        self.close_timeout = close_timeout
        self.stats = HubStats()
        self._clients: set[_Client] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._serving = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def clients(self) -> int:
        """Clients registered now: accepted (or being accepted), not yet gone or dropped."""
        return len(self._clients)

    @property
    def tasks(self) -> int:
        """Sender and reader tasks alive: two per client being served."""
        return len(self._tasks)

    async def serve(self, websocket: WebSocket) -> None:
        """Accept the client, send it every delivered message until it leaves or is dropped."""
        if len(self._clients) >= self.max_clients:
            await self._refuse(websocket)
            return
        client = _Client(websocket, asyncio.Queue(self.max_queue))
        # registered before the handshake ends: a client gets every message delivered once
        # its connection is open
        self._clients.add(client)
        self._serving += 1
        self._idle.clear()
        try:
            await websocket.accept()
            self.stats.accepted += 1
            await self._run(client)
            self._clients.discard(client)  # not counted while a close frame goes out
            if client.farewell is not None:
                await self._close(websocket, *client.farewell)
        except (WebSocketDisconnect, OSError):  # gone during the handshake
            pass
        finally:
            self._clients.discard(client)
            self._serving -= 1
            if not self._serving:
                self._idle.set()

    def deliver(self, message: str) -> None:
        """Queue MESSAGE for every client without waiting; drop the clients whose queue is full."""
        self.stats.messages += 1
        slow: list[_Client] = []
        for client in self._clients:
            try:
                client.queue.put_nowait(message)
            except asyncio.QueueFull:
                slow.append(client)
        self.stats.queued += len(self._clients) - len(slow)
        for client in slow:
            self._drop(client, SLOW, f"too slow: {self.max_queue} messages behind")

    async def pump(
        self,
        broadcaster: Broadcaster,
        channel: str,
        edit: Callable[[str], str] | None = None,
    ) -> None:
        """Deliver every message of the channel to the clients, through `edit` (once per
        message, for all clients) when given; run it as a task, cancel to stop."""
        while True:
            messages = broadcaster.subscribe(channel, on_gap=self.feed_interrupted)
            try:
                async for message in messages:
                    self.deliver(edit(message) if edit is not None else message)
                    # One loop turn per message: the senders write it before the next one is
                    # queued, so a burst longer than max_queue does not pass for slow clients.
                    await asyncio.sleep(0)
                log.info("events: the subscription to %s ended; no more live events", channel)
                return
            except Exception:
                log.exception("events: delivering %s failed; subscribing again in 1 s", channel)
            finally:
                if isinstance(messages, AsyncGenerator):
                    await messages.aclose()
            await asyncio.sleep(1.0)
            self.feed_interrupted()

    def feed_interrupted(self) -> None:
        """The events published for a while reached no client here: close every client with
        1012, so that each reconnects and reloads what it missed, rather than wait for events
        that will never come."""
        if self._clients:
            log.warning(
                "events: the event feed had a gap; closing %d websocket clients with %d",
                len(self._clients),
                MISSED,
            )
        for client in list(self._clients):
            self._drop(client, MISSED, "events were missed: reconnect and reload")

    async def close_all(self) -> None:
        """Close every client with 1001 and wait (a bounded time) until they are all served."""
        for client in list(self._clients):
            self._drop(client, GOING_AWAY, "server shutting down")
        if self._serving:
            try:
                async with asyncio.timeout(self.close_timeout + 1.0):
                    await self._idle.wait()
            except TimeoutError:
                log.warning("events: %d websocket clients still open at shutdown", self._serving)

    async def _run(self, client: _Client) -> None:
        """Until the client leaves, sending fails, or the hub drops the client."""
        if client.farewell is not None:  # dropped during the handshake
            return
        sender = client.sender = self._start(self._send(client), "sender")
        reader = self._start(self._read(client), "reader")
        try:
            await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sender.cancel()
            reader.cancel()
            await asyncio.wait({sender, reader})
        for task in (sender, reader):
            if not task.cancelled() and task.exception() is not None:
                log.warning("events: websocket client failed: %r", task.exception())

    async def _send(self, client: _Client) -> None:
        while True:
            frame = await client.queue.get()
            try:
                await client.websocket.send_text(frame)
            except (WebSocketDisconnect, OSError):
                return  # gone; the reader sees the disconnect too
            except RuntimeError as error:  # the server closed it (keep-alive timeout, shutdown)
                log.debug("events: websocket closed by the server: %s", error)
                return
            self.stats.sent += 1

    async def _read(self, client: _Client) -> None:
        while True:
            message = await client.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == PING:
                try:
                    client.queue.put_nowait(PONG)
                except asyncio.QueueFull:
                    self._drop(client, SLOW, f"too slow: {self.max_queue} messages behind")

    def _drop(self, client: _Client, code: int, reason: str) -> None:
        """Unregister the client now; its serve closes the socket with CODE."""
        if client.farewell is not None:
            return
        client.farewell = (code, reason)
        self._clients.discard(client)
        if client.sender is not None:
            client.sender.cancel()
        if code == SLOW:
            self.stats.dropped += 1
            log.info("events: dropped websocket client %s: %s", _address(client.websocket), reason)

    async def _refuse(self, websocket: WebSocket) -> None:
        self.stats.refused += 1
        log.debug(
            "events: refused websocket client %s: %d clients", _address(websocket), self.max_clients
        )
        try:
            await websocket.accept()
        except (WebSocketDisconnect, OSError):
            return
        await self._close(websocket, FULL, "too many clients; try again later")

    async def _close(self, websocket: WebSocket, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(self.close_timeout):
                await websocket.close(code, reason)
        except (TimeoutError, WebSocketDisconnect, OSError, RuntimeError):
            pass  # gone, or not reading: the server closes the connection when serve returns

    def _start(self, work: Coroutine[Any, Any, None], role: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=f"pixelmill-hub-{role}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _address(websocket: WebSocket) -> str:
    client = websocket.client
    return f"{client.host}:{client.port}" if client else "?"
