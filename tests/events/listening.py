"""Listening to broadcasters and websockets from a test's event loop, never asserting on time."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from contextlib import suppress

from pixelmill.events import Broadcaster

PROBE = "probe-"
_probes = itertools.count()


async def eventually(probe: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Return once PROBE() is truthy; fail after TIMEOUT seconds (a hang, not a slow run)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not probe():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.01)


class Listener:
    """A subscription running as a task of the current loop, keeping what it receives."""

    def __init__(self, broadcaster: Broadcaster, channel: str) -> None:
        self.received: list[str] = []
        self.task = asyncio.create_task(self._listen(broadcaster, channel))

    async def _listen(self, broadcaster: Broadcaster, channel: str) -> None:
        async for message in broadcaster.subscribe(channel):
            self.received.append(message)

    @property
    def messages(self) -> list[str]:
        """What it received, without the probes."""
        return [m for m in self.received if not m.startswith(PROBE)]

    def heard(self, message: str) -> bool:
        return message in self.received

    async def stop(self) -> None:
        self.task.cancel()
        with suppress(asyncio.CancelledError):
            await self.task


async def until_heard(
    broadcaster: Broadcaster, channel: str, *listeners: Listener, timeout: float = 10.0
) -> None:
    """Publish probes until every listener hears one: their subscriptions are in effect.

    Pub/sub keeps nothing for a subscriber that is not subscribed yet (or again, after an
    outage), so a test waits for this before it publishes what it counts.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        probe = f"{PROBE}{next(_probes)}"
        await asyncio.to_thread(broadcaster.publish, channel, probe)
        try:
            await eventually(
                lambda: all(listener.heard(probe) for listener in listeners),  # noqa: B023
                "a probe",
                timeout=0.2,
            )
            return
        except AssertionError:
            if loop.time() > deadline:
                raise AssertionError("the subscriptions never heard a probe") from None
