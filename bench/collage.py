"""Collage benchmark: pixelmill against a straightforward server and against the codec floor.

What it measures, per run and interleaved so that drifts in machine load hit every row alike:

* ``pixelmill``: one ``POST /process`` to ``pixelmill serve`` with two 1920x1080 JPEGs
  (kernel_size=5, segment_size=50, brightness_threshold=100), timed from sending the request
  to having read the whole PNG response, over a keep-alive ``httpx.Client``;
* ``straightforward``: the same request to ``bench/straightforward.py``, the collage service
  written the plain way the original task describes (a new process pool per request, one
  thread per segment, Pillow's default PNG settings);
* ``floor``: the least work any server must do, done in this process on one thread
  (``cv2.setNumThreads(1)``): decode both JPEGs with ``cv2.imdecode(..., IMREAD_COLOR)`` and
  encode pixelmill's collage with ``cv2.imencode('.png', ..., [IMWRITE_PNG_COMPRESSION, 1])``;
* ``floor (gray decode)``: the same with the JPEGs decoded by ``IMREAD_GRAYSCALE``;
* throughput: collages per second from pixelmill with 4 concurrent clients (threads, each
  with its own keep-alive connection, sending back to back for ``--seconds``), against the
  floor's throughput on the CPUs available: the floor's work looped in one single-threaded
  process per CPU, all at once, for as long; ``--rounds`` interleaved rounds, the medians.

It checks that both servers' collages have the same size and are nearly identical (a few
pixels differ through grayscale conversion and JPEG decoding) and that both wrote
``final_collage.png``, then prints a table of medians and ranges, the ratios
``pixelmill / floor`` (goal <= 1.30), ``straightforward / pixelmill`` (goal >= 3) and
``floor collages/s / pixelmill collages/s`` (goal <= 1.30), the PNG
size and encode time of the collage at every compression level with OpenCV and with pixelmill's
own writer, and the response sizes.
It exits non-zero if a check fails; missing a goal is only reported.

The two input images are generated deterministically (gradients, shapes, noise, bright and
dark regions) into a temporary directory; the servers run on free ports on 127.0.0.1 with
their data and results in temporary directories, and are stopped and removed at the end.

Run from the repository root::

    .venv/bin/python bench/collage.py            # 15 runs, 3 throughput rounds of 8 s
    .venv/bin/python bench/collage.py --quick    # 3 runs, 1 round of 3 s
    .venv/bin/python bench/collage.py --runs 30
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

import cv2
import httpx
import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
sys.path.insert(0, str(REPO_DIR))

from bench.procs import back_to_back  # noqa: E402
from bench.report import Row, record  # noqa: E402

from pixelmill.imaging import png  # noqa: E402

BIN_DIR = Path(sys.executable).parent

WIDTH, HEIGHT = 1920, 1080
JPEG_QUALITY = 90
PARAMS = {"kernel_size": "5", "segment_size": "50", "brightness_threshold": "100"}
SEGMENT_SIZE = 50
THRESHOLD = 100
FLOOR_PNG_LEVEL = 1

HEALTH_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 15.0

GOAL_PIXELMILL_OVER_FLOOR = 1.30
GOAL_STRAIGHTFORWARD_OVER_PIXELMILL = 3.0
GOAL_FLOOR_RATE_OVER_PIXELMILL = 1.30
CONCURRENT_CLIENTS = 4
# Collages count as nearly identical when at most this fraction of pixels differ.
MAX_DIFFERING_FRACTION = 0.01


# --------------------------------------------------------------------------- input images


def make_photo(seed: int) -> np.ndarray:
    """A deterministic photo-like BGR image: gradients, waves, shapes, soft edges and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)

    angle = rng.uniform(0.0, 2.0 * math.pi)
    ramp = x * math.cos(angle) + y * math.sin(angle)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    waves = np.sin(x / rng.uniform(120, 300) + rng.uniform(0, 6)) * np.cos(
        y / rng.uniform(90, 250) + rng.uniform(0, 6)
    )
    centre_x, centre_y = rng.uniform(0.2, 0.8) * WIDTH, rng.uniform(0.2, 0.8) * HEIGHT
    glow = np.exp(-((x - centre_x) ** 2 + (y - centre_y) ** 2) / (2 * (0.25 * WIDTH) ** 2))
    vignette = 1.0 - 0.45 * (((x / WIDTH - 0.5) ** 2 + (y / HEIGHT - 0.5) ** 2) / 0.5)

    channels = []
    for tint in rng.uniform(0.75, 1.25, size=3):
        channel = (20 + 150 * ramp + 25 * waves + 80 * glow) * tint * vignette
        channels.append(channel)
    image = np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)

    for _ in range(18):
        bright = rng.random() < 0.5
        level = rng.uniform(215, 255) if bright else rng.uniform(0, 35)
        color = tuple(float(np.clip(level * t, 0, 255)) for t in rng.uniform(0.85, 1.15, 3))
        cx, cy = int(rng.uniform(0, WIDTH)), int(rng.uniform(0, HEIGHT))
        size = int(rng.uniform(40, 260))
        match rng.integers(3):
            case 0:
                cv2.circle(image, (cx, cy), size, color, -1, cv2.LINE_AA)
            case 1:
                cv2.rectangle(image, (cx, cy), (cx + 2 * size, cy + size), color, -1)
            case _:
                axes = (size, int(size * rng.uniform(0.3, 0.9)))
                tilt = rng.uniform(0, 180)
                cv2.ellipse(image, (cx, cy), axes, tilt, 0, 360, color, -1, cv2.LINE_AA)
    for _ in range(10):
        start = (int(rng.uniform(0, WIDTH)), int(rng.uniform(0, HEIGHT)))
        end = (int(rng.uniform(0, WIDTH)), int(rng.uniform(0, HEIGHT)))
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        cv2.line(image, start, end, color, int(rng.integers(2, 9)), cv2.LINE_AA)

    image = cv2.GaussianBlur(image, (0, 0), 1.2)
    noise = rng.normal(0.0, 5.0, image.shape).astype(np.float32)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def bright_segment_fraction(image: np.ndarray) -> float:
    """Roughly the fraction of segments the servers should frame (no blur, OpenCV gray)."""
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    means = [
        gray[top : top + SEGMENT_SIZE, left : left + SEGMENT_SIZE].mean()
        for top in range(0, gray.shape[0], SEGMENT_SIZE)
        for left in range(0, gray.shape[1], SEGMENT_SIZE)
    ]
    return sum(mean > THRESHOLD for mean in means) / len(means)


def write_inputs(directory: Path) -> list[bytes]:
    """Write image1.jpg and image2.jpg into ``directory`` and return their bytes."""
    jpegs = []
    for index, seed in enumerate((20240501, 20240502), start=1):
        image = make_photo(seed)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        data = encoded.tobytes()
        (directory / f"image{index}.jpg").write_bytes(data)
        print(
            f"image{index}.jpg: {WIDTH}x{HEIGHT}, quality {JPEG_QUALITY}, {len(data):,} bytes, "
            f"~{bright_segment_fraction(image):.0%} of segments brighter than {THRESHOLD}"
        )
        jpegs.append(data)
    return jpegs


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    program: list[str]
    results_dir: Path
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        return [*self.program, "--host", "127.0.0.1", "--port", str(self.port), *self.extra_args]

    def log_tail(self, lines: int = 30) -> str:
        if self.log is not None:
            self.log.flush()
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(server: Server) -> None:
    """Start ``server`` and wait until ``GET /health`` answers 200."""
    server.log = server.log_path.open("wb")
    server.process = subprocess.Popen(
        server.command,
        cwd=REPO_DIR,
        env={**os.environ, **server.env},
        stdin=subprocess.DEVNULL,
        stdout=server.log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with code {server.process.returncode} before it was "
                f"healthy; command: {' '.join(server.command)}\n{server.log_tail()}"
            )
        with contextlib.suppress(httpx.TransportError):
            response = httpx.get(f"{server.url}/health", timeout=2.0)
            if response.status_code == 200:
                pid = server.process.pid
                answered = response.headers.get("x-pixelmill-process", f":{pid}")
                if not answered.endswith(f":{pid}"):
                    raise RuntimeError(
                        f"port {server.port} is served by another process ({answered}): "
                        "something else took it between choosing and binding it"
                    )
                return
        time.sleep(0.2)
    raise RuntimeError(
        f"{server.name} did not answer GET /health within {HEALTH_TIMEOUT_S:.0f} s\n"
        f"{server.log_tail()}"
    )


def stop(server: Server) -> None:
    """Terminate ``server`` and wait for it; kill it if it does not stop in time."""
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"warning: {server.name} ignored SIGTERM for {STOP_TIMEOUT_S:.0f} s; killing")
            server.process.kill()
            server.process.wait()
    if server.log is not None:
        server.log.close()


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.port = free_port()
    try:
        start(server)
        yield server
    finally:
        stop(server)


def post_collage(client: httpx.Client, server: Server, jpegs: list[bytes]) -> bytes:
    files = {
        f"image{index}": (f"image{index}.jpg", data, "image/jpeg")
        for index, data in enumerate(jpegs, start=1)
    }
    response = client.post(f"{server.url}/process", files=files, data=PARAMS)
    if response.status_code != 200:
        raise RuntimeError(
            f"{server.name} answered {response.status_code}: {response.text[:500]}\n"
            f"{server.log_tail()}"
        )
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith("image/png"):
        raise RuntimeError(f"{server.name} answered with content-type {content_type!r}")
    return response.content


# --------------------------------------------------------------------------- measuring


def timed(action: Callable[[], object]) -> float:
    """Milliseconds taken by ``action()``."""
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000.0


def codec_floor(jpegs: list[np.ndarray], collage: np.ndarray, flag: int) -> None:
    """Decode both JPEGs and encode the collage: what every implementation has to pay."""
    for data in jpegs:
        if cv2.imdecode(data, flag) is None:
            raise RuntimeError("JPEG decoding failed")
    ok, _ = cv2.imencode(".png", collage, [cv2.IMWRITE_PNG_COMPRESSION, FLOOR_PNG_LEVEL])
    if not ok:
        raise RuntimeError("PNG encoding failed")


def collages_per_second(server: Server, jpegs: list[bytes], clients: int, seconds: float) -> float:
    """Collages completed per second by `clients` threads posting back to back."""
    try:
        return back_to_back(
            lambda client: post_collage(client, server, jpegs),
            clients,
            seconds,
            timeout=REQUEST_TIMEOUT_S,
        )
    except Exception as error:
        state = "running" if server.process and server.process.poll() is None else "gone"
        raise RuntimeError(
            f"a client failed: {error}; {server.name} is {state}\n{server.log_tail()}"
        ) from error


def floor_loop(jpegs: list[bytes], collage: np.ndarray, start_at: float, seconds: float) -> float:
    """In a floor process: the floor's work back to back from `start_at` (epoch) for
    `seconds`; how many per second this process did."""
    cv2.setNumThreads(1)
    arrays = [np.frombuffer(data, np.uint8) for data in jpegs]
    time.sleep(max(0.0, start_at - time.time()))
    began = time.perf_counter()
    done = 0
    while time.perf_counter() - began < seconds:
        codec_floor(arrays, collage, cv2.IMREAD_COLOR)
        done += 1
    return done / (time.perf_counter() - began)


def floor_per_second(
    processes: ProcessPoolExecutor,
    count: int,
    jpegs: list[bytes],
    collage: np.ndarray,
    seconds: float,
) -> float:
    """The floor's throughput with one single-threaded process per CPU, all running at once."""
    start_at = time.time() + 0.5  # every process is past unpickling by then
    futures = [
        processes.submit(floor_loop, jpegs, collage, start_at, seconds) for _ in range(count)
    ]
    return sum(future.result() for future in futures)


def decode_png(name: str, data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise RuntimeError(f"{name}'s response is not a decodable image")
    return image


def red_pixels(image: np.ndarray) -> int:
    """Pure red (255, 0, 0) pixels in a BGR image: the frames drawn round bright segments."""
    return int(np.count_nonzero(np.all(image == (0, 0, 255), axis=-1)))


def compare(reference: np.ndarray, other: np.ndarray) -> list[tuple[str, bool, str]]:
    """Checks that two collages have the same size and are nearly identical."""
    same_size = reference.shape == other.shape
    checks = [
        (
            "same size",
            same_size,
            f"pixelmill {reference.shape[1]}x{reference.shape[0]}, "
            f"straightforward {other.shape[1]}x{other.shape[0]}",
        )
    ]
    if same_size:
        difference = np.abs(reference.astype(np.int16) - other.astype(np.int16))
        differing = float(np.any(difference > 0, axis=-1).mean())
        checks.append(
            (
                "nearly identical",
                differing <= MAX_DIFFERING_FRACTION,
                f"max abs difference {int(difference.max())}, {differing:.4%} of pixels differ "
                f"(limit {MAX_DIFFERING_FRACTION:.0%}); red frame pixels: pixelmill "
                f"{red_pixels(reference):,}, straightforward {red_pixels(other):,}",
            )
        )
    return checks


def check_saved(server: Server) -> tuple[str, bool, str]:
    path = server.results_dir / "final_collage.png"
    if not path.is_file():
        return (f"{server.name} final_collage.png", False, f"missing: {path}")
    return (f"{server.name} final_collage.png", True, f"{path.stat().st_size:,} bytes")


def summary(name: str, samples: list[float]) -> str:
    spread = f"{min(samples):.1f}-{max(samples):.1f}"
    return f"{name:<22} {statistics.median(samples):>10.1f} {spread:>16}"


def ms_text(samples: list[float]) -> str:
    return f"{statistics.median(samples):.1f} ms ({min(samples):.0f}-{max(samples):.0f})"


def rate_text(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def png_levels(collage: np.ndarray, repeats: int) -> list[tuple[int, int, float, int, float]]:
    """Per PNG compression level 0-9: OpenCV's size and median encode ms, then pixelmill's
    writer's (the one `PIXELMILL_PNG_COMPRESSION` sets, deflating on 2 threads).

    Each level is encoded up to ``repeats`` times, fewer once it has taken a second in all:
    levels 8 and 9 take seconds each.
    """

    def measure(encode: Callable[[], bytes]) -> tuple[int, float]:
        size, times = 0, []
        while len(times) < repeats and sum(times) < 1000.0:
            began = time.perf_counter()
            size = len(encode())
            times.append((time.perf_counter() - began) * 1000.0)
        return size, statistics.median(times)

    def opencv(level: int) -> bytes:
        ok, encoded = cv2.imencode(".png", collage, [cv2.IMWRITE_PNG_COMPRESSION, level])
        if not ok:
            raise RuntimeError(f"PNG encoding at level {level} failed")
        return encoded.tobytes()

    rows = []
    with ThreadPoolExecutor(2) as threads:
        for level in range(10):
            cv_size, cv_ms = measure(lambda level=level: opencv(level))
            ours = partial(png.encode, collage, level, bands=2, map_fn=threads.map)
            our_size, our_ms = measure(ours)
            rows.append((level, cv_size, cv_ms, our_size, our_ms))
    return rows


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs (default 15)")
    parser.add_argument("--quick", action="store_true", help="3 runs, 1 warm-up, 1 short round")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up requests per server")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (default 3)")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.warmup, args.seconds, args.rounds = 3, 1, 3.0, 1
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    return args


def main() -> int:
    args = parse_args()
    # Stopped with SIGTERM, unwind like on Ctrl-C so that the servers and temp dirs go too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    cv2.setNumThreads(1)
    print(
        f"collage benchmark: {args.runs} runs after {args.warmup} warm-up(s); "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}, OpenCV {cv2.__version__}, "
        f"NumPy {np.__version__}"
    )

    with contextlib.ExitStack() as stack:
        temp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pixelmill-bench-")))
        for name in ("inputs", "pixelmill-data", "pixelmill-results", "straightforward-results"):
            (temp / name).mkdir()
        jpegs = write_inputs(temp / "inputs")
        jpeg_arrays = [np.frombuffer(data, np.uint8) for data in jpegs]

        pixelmill = Server(
            name="pixelmill",
            program=[str(BIN_DIR / "pixelmill"), "serve"],
            results_dir=temp / "pixelmill-results",
            log_path=temp / "pixelmill.log",
            env={
                "PIXELMILL_DATA_DIR": str(temp / "pixelmill-data"),
                "PIXELMILL_RESULTS_DIR": str(temp / "pixelmill-results"),
            },
        )
        straightforward = Server(
            name="straightforward",
            program=[sys.executable, str(BENCH_DIR / "straightforward.py")],
            results_dir=temp / "straightforward-results",
            log_path=temp / "straightforward.log",
            extra_args=["--results", str(temp / "straightforward-results")],
        )
        stack.enter_context(running(pixelmill))
        stack.enter_context(running(straightforward))
        client = stack.enter_context(httpx.Client(timeout=REQUEST_TIMEOUT_S))

        print(f"pixelmill at {pixelmill.url}, straightforward at {straightforward.url}")
        for _ in range(args.warmup):
            post_collage(client, pixelmill, jpegs)
            post_collage(client, straightforward, jpegs)

        pixelmill_png = post_collage(client, pixelmill, jpegs)
        straightforward_png = post_collage(client, straightforward, jpegs)
        collage = decode_png("pixelmill", pixelmill_png)
        reference = decode_png("straightforward", straightforward_png)

        samples: dict[str, list[float]] = {
            "pixelmill": [],
            "straightforward": [],
            "floor": [],
            "floor (gray decode)": [],
        }
        for run in range(1, args.runs + 1):
            samples["pixelmill"].append(timed(lambda: post_collage(client, pixelmill, jpegs)))
            samples["straightforward"].append(
                timed(lambda: post_collage(client, straightforward, jpegs))
            )
            samples["floor"].append(
                timed(lambda: codec_floor(jpeg_arrays, collage, cv2.IMREAD_COLOR))
            )
            samples["floor (gray decode)"].append(
                timed(lambda: codec_floor(jpeg_arrays, collage, cv2.IMREAD_GRAYSCALE))
            )
            print(
                f"  run {run:>2}/{args.runs}: "
                + ", ".join(f"{name} {times[-1]:.0f} ms" for name, times in samples.items()),
                flush=True,
            )

        cpus = len(os.sched_getaffinity(0))
        rates: dict[str, list[float]] = {"pixelmill": [], "floor": []}
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(cpus, mp_context=spawn) as processes:
            floor_per_second(processes, cpus, jpegs, collage, 0.2)  # start the processes
            for round_ in range(args.rounds):
                measures = [
                    (
                        "pixelmill",
                        lambda: collages_per_second(
                            pixelmill, jpegs, CONCURRENT_CLIENTS, args.seconds
                        ),
                    ),
                    (
                        "floor",
                        lambda: floor_per_second(processes, cpus, jpegs, collage, args.seconds),
                    ),
                ]
                for name, measure in measures[:: 1 if round_ % 2 == 0 else -1]:
                    rates[name].append(measure())
                print(
                    f"  round {round_ + 1}/{args.rounds}: pixelmill with {CONCURRENT_CLIENTS} "
                    f"clients {rates['pixelmill'][-1]:.1f} collages/s, floor in {cpus} processes "
                    f"{rates['floor'][-1]:.1f}/s",
                    flush=True,
                )

        checks = [
            *compare(collage, reference),
            check_saved(pixelmill),
            check_saved(straightforward),
        ]
        levels = png_levels(collage, repeats=1 if args.quick else 3)

    print()
    print(f"{'name':<22} {'median ms':>10} {'min-max ms':>16}")
    for name, times in samples.items():
        print(summary(name, times))

    print()
    for name, passed, detail in checks:
        print(f"{'OK  ' if passed else 'FAIL'} {name}: {detail}")

    print()
    print(f"PNG size and encode time of pixelmill's {collage.shape[1]}x{collage.shape[0]} collage:")
    print(f"{'level':>5} {'OpenCV bytes':>13} {'ms':>8} {'pixelmill bytes':>16} {'ms':>8}")
    for level, cv_size, cv_ms, our_size, our_ms in levels:
        print(f"{level:>5} {cv_size:>13,} {cv_ms:>8.1f} {our_size:>16,} {our_ms:>8.1f}")
    print(f"pixelmill response:       {len(pixelmill_png):>12,} bytes")
    print(f"straightforward response: {len(straightforward_png):>12,} bytes")

    print()
    print(f"{'collages/s':<22} {'median':>10} {'min-max':>16}")
    for name, values in rates.items():
        print(summary(name, values))

    median = {name: statistics.median(times) for name, times in samples.items()}
    rate = {name: statistics.median(values) for name, values in rates.items()}
    print()
    print(
        f"pixelmill / floor (gray decode) = "
        f"{median['pixelmill'] / median['floor (gray decode)']:.2f}x"
    )
    bench = "collage"
    record(
        Row(
            bench,
            "/process median latency, pixelmill / codec floor",
            ms_text(samples["pixelmill"]),
            f"floor: {ms_text(samples['floor'])}",
            median["pixelmill"] / median["floor"],
            "<=",
            GOAL_PIXELMILL_OVER_FLOOR,
        )
    )
    record(
        Row(
            bench,
            "/process median latency, straightforward / pixelmill",
            ms_text(samples["pixelmill"]),
            f"straightforward: {ms_text(samples['straightforward'])}",
            median["straightforward"] / median["pixelmill"],
            ">=",
            GOAL_STRAIGHTFORWARD_OVER_PIXELMILL,
        )
    )
    record(
        Row(
            bench,
            f"/process collages/s, {CONCURRENT_CLIENTS} clients, floor / pixelmill",
            f"{rate_text(rates['pixelmill'])}/s",
            f"floor in {cpus} processes: {rate_text(rates['floor'])}/s",
            rate["floor"] / rate["pixelmill"],
            "<=",
            GOAL_FLOOR_RATE_OVER_PIXELMILL,
        )
    )
    return 0 if all(passed for _, passed, _ in checks) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
