"""Deadlines inside the work: a chain whose request is past its deadline, or whose client
has gone, stops at its next step in the worker instead of holding a CPU to the end."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import httpx
import pytest

from pixelmill.errors import Stopped, Unavailable
from pixelmill.execution.pipeline import Limits, check, choose, transform
from pixelmill.execution.pools import EXECUTIONS, Execution, Pools, still_wanted
from pixelmill.imaging import pipeline
from tests.images import encode, photo
from tests.server import running_server

# Seconds of work on one core: 40 wide blurs of a 1000×1000 image.
HEAVY = ["resize=1"] + ["blur=101"] * 40
LIMITS = Limits(max_bytes=10_000_000, max_pixels=10_000_000, max_output_pixels=10_000_000)


def test_run_asks_between_steps_and_stops_when_unwanted() -> None:
    steps = pipeline.parse(["format=png", "rotate=90", "quality=80", "flip", "grayscale"])
    answers = iter([True, False])
    asked: list[int] = []

    def wanted() -> bool:
        asked.append(1)
        return next(answers)

    with pytest.raises(Stopped, match=r"before operation 5 \(grayscale\), step 3 of 3"):
        pipeline.run(steps, [photo(8, 6)], wanted)
    assert len(asked) == 2  # before the second and the third pixel step, not before the first
    # nothing asks: the whole chain runs
    (done,) = pipeline.run(steps, [photo(8, 6)])
    assert done.shape == (8, 6)


def _counting(progress: str, steps: int) -> int:
    """A worker job of `steps` steps that writes how far it got."""
    for step in range(steps):
        if not still_wanted():
            raise Stopped(f"stopped before step {step + 1}")
        Path(progress).write_text(str(step + 1))
        time.sleep(0.05)
    return steps


def _pools(timeout: float | None, execution: Execution) -> Pools:
    pools = Pools(1, 1, timeout=timeout, execution=execution)
    pools.start()
    # The worker imports this module for its first job of it (and hybrid starts its worker
    # process then): done here, outside the deadlines under test.
    asyncio.run(pools.run(_counting, os.devnull, 0))
    return pools


# Every execution design runs a job the same way: on "hybrid", where isolate=True (the
# default) is a worker process, the same job marked safe runs on a thread.
each_design = pytest.mark.parametrize("execution", EXECUTIONS)


@each_design
def test_work_past_its_deadline_stops_at_the_next_step(
    tmp_path: Path, execution: Execution
) -> None:
    progress = tmp_path / "progress"
    pools = _pools(timeout=0.5, execution=execution)

    async def scenario() -> int:
        with pytest.raises(Unavailable, match=r"processing limit of 0\.5 s"):
            async with pools.admit():
                await pools.run(_counting, str(progress), 200)  # 10 s if nothing stopped it
        # one process: this waits for the stopped job to leave it
        await pools.run(os.getpid)
        return int(progress.read_text())

    try:
        reached = asyncio.run(scenario())
    finally:
        pools.shutdown()
    assert 1 <= reached < 200
    assert pools.stopped == 1 and pools.timeouts == 1


@each_design
def test_work_outside_a_request_is_never_stopped(tmp_path: Path, execution: Execution) -> None:
    progress = tmp_path / "progress"
    pools = _pools(timeout=0.2, execution=execution)
    try:
        assert asyncio.run(pools.run(_counting, str(progress), 8)) == 8
    finally:
        pools.shutdown()
    assert pools.stopped == 0


@each_design
@pytest.mark.parametrize("isolate", [True, False])
def test_a_real_chain_stops_when_its_client_goes(
    tmp_path: Path, execution: Execution, isolate: bool
) -> None:
    pools = _pools(timeout=None, execution=execution)
    item = check("big.png", encode(photo(1000, 1000, seed=3)), pipeline.parse(HEAVY), LIMITS)
    steps = pipeline.parse(HEAVY)
    out = choose(item, steps, None, None, "the test")
    gone = asyncio.Event()

    async def disconnected() -> bool:
        return gone.is_set()

    async def scenario() -> None:
        async with pools.admit(disconnected):
            work = asyncio.ensure_future(pools.run(transform, item, steps, out, 1, isolate=isolate))
            await asyncio.sleep(0.3)
            gone.set()
            with pytest.raises(Stopped, match=r"step \d+ of 41"):
                await work

    try:
        asyncio.run(scenario())
    finally:
        pools.shutdown()
    assert pools.stopped == 1


@pytest.mark.slow
def test_a_client_that_hangs_up_frees_the_worker(tmp_path: Path) -> None:
    """Through a real server: the client gives up on a long transform, and the worker stops
    that chain (the metric counts it) instead of finishing it for nobody."""
    env = {"PIXELMILL_PROCESS_WORKERS": "1", "PIXELMILL_THREAD_WORKERS": "1"}
    data = encode(photo(1000, 1000, seed=5))
    with running_server(tmp_path, env=env) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{url}/v1/transform",
                files={"file": ("big.png", data)},
                data={"ops": ",".join(HEAVY)},
                timeout=httpx.Timeout(30, read=0.5),
            )
        deadline = time.monotonic() + 60
        while (stopped := _metric(httpx.get(f"{url}/metrics").text, "pixelmill_work_stopped")) < 1:
            assert time.monotonic() < deadline, "the worker never stopped the abandoned chain"
            time.sleep(0.1)
        assert stopped == 1
        small = httpx.post(
            f"{url}/v1/transform",
            files={"file": ("small.png", encode(photo(40, 30)))},
            data={"ops": "resize=0.5"},
        )
        assert small.status_code == 200


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name}(?:_total)? ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0
