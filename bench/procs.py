"""What the benchmarks share: the process tree of a server, and closed-loop load."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

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


def back_to_back(
    send: Callable[[httpx.Client], object], clients: int, seconds: float, timeout: float = 120
) -> float:
    """Requests completed per second by `clients` threads, each sending one request after
    the other on a keep-alive connection of its own for `seconds`; a client's first error
    is raised here."""
    deadline = time.perf_counter() + seconds
    counts, last = [0] * clients, [0.0] * clients
    errors: list[BaseException] = []

    def client_loop(index: int) -> None:
        with httpx.Client(timeout=timeout) as client:
            try:
                while time.perf_counter() < deadline:
                    send(client)
                    counts[index] += 1
                    last[index] = time.perf_counter()
            except BaseException as error:  # re-raised from the main thread
                errors.append(error)

    began = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return sum(counts) / (max(last) - began)
