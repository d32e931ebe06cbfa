"""IdleTrim: a process gives its free memory back once idle, never while a job runs."""

from __future__ import annotations

import time

from pixelmill.execution.memory import IdleTrim


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_trims_once_after_a_job_then_sleeps_until_the_next() -> None:
    idle = IdleTrim(0.05)
    try:
        time.sleep(0.2)
        assert idle.trims == 0  # nothing ran: nothing to give back
        idle.begin()
        idle.end()
        assert wait_for(lambda: idle.trims == 1)
        time.sleep(0.2)
        assert idle.trims == 1  # once per idle spell, not every `seconds`
        idle.begin()
        idle.end()
        assert wait_for(lambda: idle.trims == 2)
    finally:
        idle.close()


def test_never_trims_while_a_job_runs() -> None:
    idle = IdleTrim(0.05)
    try:
        idle.begin()
        idle.end()
        assert wait_for(lambda: idle.trims == 1)
        idle.begin()  # a long job: many times `seconds`
        idle.begin()
        idle.end()  # another job ends while the long one runs
        time.sleep(0.4)
        assert idle.trims == 1
        idle.end()
        assert wait_for(lambda: idle.trims == 2)
    finally:
        idle.close()


def test_close_stops_the_thread_even_while_waiting_to_trim() -> None:
    idle = IdleTrim(60.0)
    idle.begin()
    idle.end()
    idle.close()
    assert not idle._thread.is_alive()
