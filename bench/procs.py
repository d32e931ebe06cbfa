"""What the benchmarks share: the process tree of a server, and closed-loop load."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, from the parent ids in /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:  # a process that has just ended
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def closed_loop(
    send: Callable[[Any], object],
    clients: int,
    seconds: float,
    connect: Callable[[], Any] = lambda: httpx.Client(timeout=120),
) -> tuple[float, list[float]]:
    """Requests completed per second by `clients` threads, each sending one request after
    the other on a keep-alive connection of its own (`connect()`: an httpx client, or the
    lighter http.client one of bench/thumbor_peer.py) for `seconds`, and every request's
    latency in ms; a client's first error is raised here."""
    deadline = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    last = [0.0] * clients
    errors: list[BaseException] = []

    def client_loop(index: int) -> None:
        client = connect()
        try:
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                send(client)
                last[index] = time.perf_counter()
                latencies[index].append((last[index] - sent) * 1000)
        except BaseException as error:  # re-raised from the main thread
            errors.append(error)
        finally:
            client.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    every = [ms for one in latencies for ms in one]
    return len(every) / (max(last) - began), every


def back_to_back(
    send: Callable[[httpx.Client], object], clients: int, seconds: float, timeout: float = 120
) -> float:
    """`closed_loop`'s requests per second, on httpx clients with `timeout`."""
    rate, _ = closed_loop(send, clients, seconds, lambda: httpx.Client(timeout=timeout))
    return rate
