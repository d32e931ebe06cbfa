"""Start a call in many threads at the same moment, for races on one row or one schema."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def race(racers: int, call: Callable[[], T], timeout: float = 60) -> list[T]:
    """What `call` returned in each of `racers` threads released together; re-raises an error."""
    start = threading.Barrier(racers)
    results: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        start.wait()
        try:
            results.append(call())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    if errors:
        raise errors[0]
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"a racer was still running after {timeout} s")
    return results
