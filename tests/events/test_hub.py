"""The hub with real websocket clients on a real server: who gets what, who is dropped."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Callable
from contextlib import suppress

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.events.conftest import HubServer
from tests.events.listening import eventually

StartServer = Callable[..., HubServer]


class Client:
    """A websocket client that reads every frame as it comes, keeping them."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self.reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with suppress(ConnectionClosed):
            async for frame in self.ws:
                assert isinstance(frame, str)
                self.frames.append(frame)

    async def close(self) -> None:
        await self.ws.close()
        await self.reading


async def connect_all(server: HubServer, count: int) -> list[Client]:
    sockets = await asyncio.gather(*(connect(server.url) for _ in range(count)))
    await eventually(lambda: server.hub.clients == count, f"{count} clients registered")
    return [Client(ws) for ws in sockets]


def everyone_has(clients: list[Client], count: int) -> Callable[[], bool]:
    return lambda: all(len(client.frames) >= count for client in clients)


async def no_task_left(server: HubServer, clients: list[Client]) -> None:
    await asyncio.gather(*(client.close() for client in clients))
    await eventually(lambda: server.hub.clients == 0 and server.hub.tasks == 0, "no clients")
    assert await asyncio.to_thread(server.hub_tasks) == []


def test_every_client_gets_every_message_once_in_order(hub_server: StartServer) -> None:
    server = hub_server()

    async def scenario() -> None:
        clients = await connect_all(server, 100)
        sent = [
            f'{{"id": "img-{n}", "url": "/api/v1/images/img-{n}", "faces": {n}}}' for n in range(5)
        ]
        for message in sent:
            server.publish(message)
        await eventually(everyone_has(clients, 5), "5 frames at every client")
        server.publish("end")
        await eventually(everyone_has(clients, 6), "the end marker at every client")

        for client in clients:
            assert client.frames == [*sent, "end"]
        assert server.hub.stats.accepted == 100
        assert server.hub.stats.queued == server.hub.stats.sent == 600
        await no_task_left(server, clients)

    asyncio.run(scenario())


def test_a_client_that_vanishes_leaves_the_others_undisturbed(hub_server: StartServer) -> None:
    server = hub_server()

    async def scenario() -> None:
        clients = await connect_all(server, 100)
        server.publish("first")
        await eventually(everyone_has(clients, 1), "the first message everywhere")

        vanished = clients.pop(37)
        vanished.ws.transport.abort()  # no closing handshake: a reset TCP connection
        await eventually(lambda: server.hub.clients == 99, "the hub to notice")
        for n in range(3):
            server.publish(f"after {n}")
        await eventually(everyone_has(clients, 4), "the next messages at the 99 others")

        for client in clients:
            assert client.frames == ["first", "after 0", "after 1", "after 2"]
        assert vanished.frames == ["first"]
        assert server.hub.stats.dropped == 0
        await no_task_left(server, clients)

    asyncio.run(scenario())


def test_a_burst_longer_than_the_queue_is_not_mistaken_for_slow_clients(
    hub_server: StartServer,
) -> None:
    server = hub_server(max_queue=4)

    async def scenario() -> None:
        clients = await connect_all(server, 10)
        sent = [f"burst {n}" for n in range(200)]
        for message in sent:  # all at once: the pump finds 200 messages waiting
            server.publish(message)
        await eventually(everyone_has(clients, 200), "the whole burst at every client")

        for client in clients:
            assert client.frames == sent
        assert server.hub.stats.dropped == 0
        await no_task_left(server, clients)

    asyncio.run(scenario())


def never_reading_client(server: HubServer) -> socket.socket:
    """A websocket handshake on a raw socket with a tiny receive buffer, which then never reads."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((server.host, server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /faces HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    response = b""
    while not response.endswith(b"\r\n\r\n"):  # byte by byte: not one byte of a frame
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101 "), response
    return sock


def test_a_slow_client_is_dropped_and_the_others_get_every_message(
    hub_server: StartServer,
) -> None:
    server = hub_server(max_queue=8, close_timeout=0.5)

    async def scenario() -> None:
        fast = await connect_all(server, 5)
        slow = await asyncio.to_thread(never_reading_client, server)
        await eventually(lambda: server.hub.clients == 6, "the slow client registered")

        # 32 KB each, one at a time once the fast clients have the previous one: only the
        # slow client can fall behind, once its socket buffers and its queue are full
        sent: list[str] = []
        while not server.hub.stats.dropped:
            assert len(sent) < 2000, "the slow client was never dropped"
            sent.append(f"{len(sent):04d}:" + os.urandom(16 * 1024).hex())
            server.publish(sent[-1])
            await eventually(everyone_has(fast, len(sent)), f"message {len(sent)} at the fast ones")
        for n in range(3):
            sent.append(f"after the drop {n}")
            server.publish(sent[-1])
        await eventually(everyone_has(fast, len(sent)), "the messages after the drop")

        for client in fast:
            assert client.frames == sent
        assert server.hub.clients == 5
        assert server.hub.stats.dropped == 1
        slow.close()
        await no_task_left(server, fast)

    asyncio.run(scenario())


def test_past_max_clients_a_client_is_refused_with_1013(hub_server: StartServer) -> None:
    server = hub_server(max_clients=2)

    async def scenario() -> None:
        clients = await connect_all(server, 2)
        async with connect(server.url) as third:
            with pytest.raises(ConnectionClosed) as closed:
                await third.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1013,
            "too many clients; try again later",
        )
        assert (server.hub.clients, server.hub.stats.refused) == (2, 1)

        server.publish("still served")
        await eventually(everyone_has(clients, 1), "the message at the two clients")
        await no_task_left(server, clients)

    asyncio.run(scenario())


def test_ping_is_answered_with_pong_and_other_text_is_ignored(hub_server: StartServer) -> None:
    server = hub_server()

    async def scenario() -> None:
        [client] = await connect_all(server, 1)
        await client.ws.send("hello")
        await client.ws.send("ping")
        await eventually(lambda: client.frames == ["pong"], "the pong")
        server.publish("event")
        await eventually(lambda: client.frames == ["pong", "event"], "the event")
        await no_task_left(server, [client])

    asyncio.run(scenario())


def test_close_all_says_goodbye_with_1001(hub_server: StartServer) -> None:
    server = hub_server()

    async def scenario() -> None:
        clients = await connect_all(server, 3)
        await asyncio.to_thread(server.on_server, server.hub.close_all)
        for client in clients:
            await client.reading
            assert client.ws.close_code == 1001
            assert client.ws.close_reason == "server shutting down"
        assert server.hub.clients == 0
        assert await asyncio.to_thread(server.hub_tasks) == []

    asyncio.run(scenario())
