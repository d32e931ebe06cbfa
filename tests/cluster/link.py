"""The link to `svc`: a TCP relay in svc's namespace that can hold every byte back a while.

    python -m tests.cluster.link LISTEN_HOST PORT:TARGET_PORT ...

Listens on LISTEN_HOST:PORT for each pair and relays each connection to 127.0.0.1:TARGET_PORT
(Redis and PostgreSQL listen on the loopback of svc only, so every byte from another host
crosses this relay). SIGUSR1 turns the delay on, SIGUSR2 off: with it on, every chunk waits
DELAY_MS / 2 in each direction (a request/response round trip takes DELAY_MS longer), in
order. This kernel has no netem qdisc, so the delay lives here; the loss is real packet loss
on svc's veth (an nftables rule that drops a share of packets; see cluster.py), which TCP
repairs with retransmissions, as it would on a lossy network.

When the target closes or resets (Redis killed), the relay closes the client's side too, so
clients see what they would see without it.
"""

from __future__ import annotations

import asyncio
import signal
import sys

DELAY_MS = 200
CHUNK = 65536


class Link:
    def __init__(self) -> None:
        self.delay = 0.0

    async def pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def later() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(later())
        try:
            while True:
                data = await reader.read(CHUNK)
                queue.put_nowait((loop.time() + self.delay, data))
                if not data:
                    break
            await sender
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            sender.cancel()
            writer.close()

    async def serve(self, host: str, port: int, target: int) -> asyncio.Server:
        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
            except OSError:
                writer.transport.abort()  # a reset, as the target's closed port would give
                return
            await asyncio.gather(
                self.pipe(reader, up_writer), self.pipe(up_reader, writer), return_exceptions=True
            )

        return await asyncio.start_server(relay, host, port, reuse_address=True)


async def main(host: str, pairs: list[str]) -> None:
    link = Link()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, lambda: setattr(link, "delay", DELAY_MS / 2000))
    loop.add_signal_handler(signal.SIGUSR2, lambda: setattr(link, "delay", 0.0))
    servers = []
    for pair in pairs:
        port, target = pair.split(":")
        servers.append(await link.serve(host, int(port), int(target)))
    print("link: listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
