"""Transform benchmark: pixelmill's `POST /v1/transform` against thumbor, the Python image
server users would pick instead, on the same 1920x1080 JPEG.

* pixelmill: `pixelmill serve` as users run it (embedded default, a worker process per CPU),
  ``POST /v1/transform`` with the JPEG uploaded as multipart, ``ops=resize=0.5,grayscale,
  blur=5``, ``format=jpeg``, ``quality=85``;
* thumbor 7.8 as users run it (one process, its defaults: progressive, optimized JPEGs),
  serving the image from a folder with its file loader:
  ``GET /unsafe/960x540/filters:grayscale():blur(2,1.1):quality(85)/photo.jpg``.
  ``blur(2,1.1)`` is a 5-tap Gaussian (radius 2) with sigma 1.1, the very kernel OpenCV
  derives for ``blur=5`` (sigma = 0.3 * ((5 - 1) / 2 - 1) + 0.8), so both do the same work;
  thumbor reads the image from disk, where pixelmill has it uploaded with every request.

* the codec floor: the least work any server must do for this request, in this process on
  one thread (``cv2.setNumThreads(1)``): decode the JPEG at half size straight to gray
  (``IMREAD_REDUCED_GRAYSCALE_2``: libjpeg-turbo's DCT scaling), blur it 5x5, encode it at
  quality 85, with the same libjpeg-turbo build pixelmill decodes and encodes with (OpenCV's).
* the floor behind HTTP (`bench/floor_http.py`): the floor's work and nothing else behind a
  raw ASGI app under uvicorn, as pixelmill is served: the least a Python HTTP server doing
  this work can take. Its figures against the floor have no goal; they say how much of the
  gap to the floor is HTTP's, and pixelmill's against it how much is pixelmill's own.
* the floor behind FastAPI (`floor_http.fastapi_app`): the same work through one FastAPI
  route, with nothing else: the least a server under the contract (SPEC.md: one FastAPI
  application) can take. No goal either.
* All three servers are also loaded with a 96x54 JPEG (the same chain), where the codec's
  work is next to none: the CPU per request is then what a request costs beside it.

Both answers are checked: a 960x540 JPEG, gray (channels within a few levels), and the two
within a few levels of each other on average. Measured, interleaved so that load from other
processes hits both alike:

* single-request latency: one request at a time over a keep-alive connection, median and
  min-max of ``--runs`` rounds (pixelmill, each thumbor, the floor);
* requests/s with 8 concurrent clients (threads, each with its own keep-alive connection,
  http.client: a third of httpx's CPU per request, which the servers' CPUs would pay),
  ``--seconds`` per server per round, ``--rounds`` rounds; the median round. The floor's
  throughput on the CPUs available: its work looped in one single-threaded process per CPU,
  all at once, for as long;
* the memory floor: `bench/bare_fastapi.py`, a FastAPI app under uvicorn that parses the same
  upload and answers without image work, loaded the same way (its requests/s mean nothing);
* peak memory of each server's whole process tree (the API process, the forkserver and the
  worker processes for pixelmill; thumbor's one process), sampled every 50 ms during one
  more round of that server under the same load (half as long), not during the rounds that
  are timed: PSS from /proc/<pid>/smaps_rollup (shared pages split between the processes that
  share them, so the sum counts each page once) and RSS (which counts them in every process).

thumbor is installed with pip into its own virtual environment (``~/.cache/pixelmill-bench/``,
or ``PIXELMILL_BENCH_THUMBOR_VENV``) on the first run; thumbor 7.8 needs Pillow < 13. When it
cannot be installed or started, the benchmark says so, records the figures as not measured
and exits 0, so `make bench` goes on with the others.

    .venv/bin/python bench/thumbor_peer.py [--quick] [--runs 20] [--seconds 8] [--rounds 3]
    .venv/bin/python bench/thumbor_peer.py --thumbor-processes 0   # without thumbor --processes 2
    .venv/bin/python bench/thumbor_peer.py --without-thumbor --env PIXELMILL_EXECUTION=threads
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from bench import procs  # noqa: E402
from bench.collage import make_photo  # noqa: E402
from bench.floor_http import codec_floor  # noqa: E402
from bench.procs import process_tree  # noqa: E402
from bench.report import Row, record, skipped  # noqa: E402
from tests.server import free_port  # noqa: E402

THUMBOR = "thumbor==7.8.0"
THUMBOR_CONSTRAINTS = ["pillow<13"]  # thumbor 7.8 pins Pillow below 13
DEFAULT_VENV = Path.home() / ".cache" / "pixelmill-bench" / "thumbor-7.8.0"

IMAGE_NAME = "photo.jpg"
JPEG_QUALITY = 90
OUT_WIDTH, OUT_HEIGHT = 960, 540
OPS = "resize=0.5,grayscale,blur=5"
THUMBOR_PATH = f"/unsafe/{OUT_WIDTH}x{OUT_HEIGHT}/filters:grayscale():blur(2,1.1):quality(85)/"
CLIENTS = 8
BARE = "bare FastAPI app"
FLOOR_HTTP = "floor behind HTTP"
FLOOR_FASTAPI = "floor behind FastAPI"
SMALL_WIDTH, SMALL_HEIGHT = 96, 54  # fixed_cost's upload
SAMPLE_EVERY_S = 0.05
GOAL_RPS = 3.0  # pixelmill's req/s over thumbor's
GOAL_FLOOR_LATENCY = 1.2  # pixelmill's single request over the floor's
GOAL_FLOOR_RPS = 0.85  # pixelmill's req/s over the floor's on all CPUs
FLOOR = "codec floor"
MAX_GRAY_SPREAD = 6  # JPEG chroma noise in a gray image saved as RGB
MAX_MEAN_DIFFERENCE = 4.0
HEALTH_TIMEOUT_S = 60.0


class Unavailable(Exception):
    """thumbor could not be installed or started: the reason, for the table."""


# --------------------------------------------------------------------------- thumbor


def thumbor_venv() -> Path:
    """thumbor's own virtual environment, made and filled with pip on the first run."""
    venv = Path(os.environ.get("PIXELMILL_BENCH_THUMBOR_VENV", DEFAULT_VENV))
    stamp = venv / ".installed"
    wanted = " ".join([THUMBOR, *THUMBOR_CONSTRAINTS])
    if stamp.exists() and stamp.read_text() == wanted:
        return venv
    print(f"installing {wanted} into {venv} (once) ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            THUMBOR,
            *THUMBOR_CONSTRAINTS,
        ],
    ]
    for command in steps:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise Unavailable(f"`{' '.join(command)}` failed: {error}") from None
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise Unavailable(f"`{' '.join(command)}` exited {done.returncode}:\n{tail}")
    stamp.write_text(wanted)
    return venv


def thumbor_version(venv: Path) -> str:
    done = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import thumbor, PIL; print(thumbor.__version__, PIL.__version__)",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    thumbor, _, pillow = done.stdout.strip().partition(" ")
    return f"thumbor {thumbor} (Pillow {pillow})"


def thumbor_conf(folder: Path, images: Path) -> Path:
    """thumbor's defaults, but images from a folder and no storage of originals (pixelmill
    keeps none either); results are not cached by default."""
    path = folder / "thumbor.conf"
    path.write_text(
        "LOADER = 'thumbor.loaders.file_loader'\n"
        f"FILE_LOADER_ROOT_PATH = {str(images)!r}\n"
        "ALLOW_UNSAFE_URL = True\n"
        "STORAGE = 'thumbor.storages.no_storage'\n"
        "RESULT_STORAGE = None\n"
    )
    return path


# --------------------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    health: str
    log_path: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    peak_pss_kib: int = 0
    peak_rss_kib: int = 0
    idle_pss_kib: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-30:]) or "(empty log)"


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    with server.log_path.open("wb") as log:
        server.process = subprocess.Popen(
            server.command,
            env={**os.environ, **server.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=server.log_path.parent,
            start_new_session=True,  # its own process group: thumbor's forks go with it
        )
        try:
            wait_healthy(server)
            yield server
        finally:
            if server.process.poll() is None:
                server.process.terminate()
                try:
                    server.process.wait(30)
                except subprocess.TimeoutExpired:
                    server.process.kill()
                    server.process.wait()
            # what the server left behind (thumbor --processes: its forks outlive the parent)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(server.process.pid, signal.SIGKILL)


def wait_healthy(server: Server) -> None:
    assert server.process is not None
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise Unavailable(
                f"{server.name} exited with {server.process.returncode} before answering "
                f"{server.health}:\n{server.log_tail()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(server.url + server.health, timeout=2)
            if response.status_code == 200:
                answered = response.headers.get("x-pixelmill-process", f":{server.process.pid}")
                if not answered.endswith(f":{server.process.pid}"):
                    raise RuntimeError(
                        f"port {server.port} is served by another process ({answered}): "
                        "something else took it between choosing and binding it"
                    )
                return
        time.sleep(0.2)
    raise Unavailable(f"{server.name} did not answer {server.health}:\n{server.log_tail()}")


# --------------------------------------------------------------------------- memory


def tree_memory(root: int) -> tuple[int, int]:
    """(PSS, RSS) in KiB summed over the process tree of `root`."""
    pss = rss = 0
    for pid in process_tree(root):
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # gone meanwhile
        for line in text.splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
            elif line.startswith("Rss:"):
                rss += int(line.split()[1])
    return pss, rss


@contextlib.contextmanager
def sampling(servers: list[Server]) -> Iterator[None]:
    """Track every server's peak tree PSS and RSS while the block runs."""
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for server in servers:
                if server.process is not None and server.process.poll() is None:
                    pss, rss = tree_memory(server.process.pid)
                    server.peak_pss_kib = max(server.peak_pss_kib, pss)
                    server.peak_rss_kib = max(server.peak_rss_kib, rss)
            stop.wait(SAMPLE_EVERY_S)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --------------------------------------------------------------------------- requests


def multipart(jpeg: bytes) -> tuple[bytes, str]:
    """The upload, encoded once, so the clients spend no time building it."""
    boundary = "pixelmill-bench-boundary"
    fields = {"ops": OPS, "format": "jpeg", "quality": "85"}
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{IMAGE_NAME}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
        + jpeg
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """Keep-alive HTTP/1.1 connections to 127.0.0.1, one per port, through http.client: the
    benchmark's clients share the CPUs the servers are measured on, and http.client takes a
    third of httpx's CPU per request here (0.31 against 0.90 ms for this upload)."""

    def __init__(self) -> None:
        self.connections: dict[int, http.client.HTTPConnection] = {}

    def request(
        self,
        method: str,
        port: int,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """(status, body); a connection the server closed meanwhile is opened again once."""
        for attempt in (1, 2):
            connection = self.connections.get(port)
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                self.connections[port] = connection
            try:
                connection.request(method, path, body=body, headers=headers or {})
                response = connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                connection.close()
                del self.connections[port]
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()


# A request, sent with this module's Client or with an httpx.Client (bench/execution.py's)
Request = Callable[[Client | httpx.Client], bytes]


def _answer(
    client: Client | httpx.Client,
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """The body of a 200 from `server`; anything else is an error naming the server."""
    if isinstance(client, httpx.Client):
        response = client.request(method, server.url + path, content=body, headers=headers)
        status, data = response.status_code, response.content
    else:
        status, data = client.request(method, server.port, path, body, headers)
    if status != 200:
        raise RuntimeError(f"{server.name} answered {status}: {data[:500]!r}")
    return data


def pixelmill_request(server: Server, jpeg: bytes) -> Request:
    body, content_type = multipart(jpeg)
    headers = {"content-type": content_type}
    return functools.partial(
        _answer, server=server, method="POST", path="/v1/transform", body=body, headers=headers
    )


def thumbor_request(server: Server) -> Request:
    return functools.partial(_answer, server=server, method="GET", path=THUMBOR_PATH + IMAGE_NAME)


def closed_loop(send: Request, clients: int, seconds: float) -> float:
    """Requests completed per second by `clients` threads sending back to back, each on a
    keep-alive http.client connection (bench/procs.py's closed_loop)."""
    rate, _ = procs.closed_loop(send, clients, seconds, Client)
    return rate


def latency_ms(client: Client | httpx.Client, send: Request) -> float:
    began = time.perf_counter()
    send(client)
    return (time.perf_counter() - began) * 1000


def check(name: str, data: bytes) -> tuple[str, bool, np.ndarray]:
    """A 960x540 JPEG that is gray; the gray image for comparing the two."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or not data.startswith(b"\xff\xd8"):
        return f"{name}: not a JPEG", False, np.zeros((1, 1), np.uint8)
    height, width = image.shape[:2]
    spread = 0
    if image.ndim == 3:
        spread = int((image.max(axis=2).astype(np.int16) - image.min(axis=2)).max())
        gray = image[:, :, 1]
    else:
        gray = image
    passed = (width, height) == (OUT_WIDTH, OUT_HEIGHT) and spread <= MAX_GRAY_SPREAD
    channels = 1 if image.ndim == 2 else image.shape[2]
    detail = (
        f"{name}: {width}x{height} JPEG, {channels} channel(s), max channel spread {spread}, "
        f"{len(data):,} bytes"
    )
    return detail, passed, gray


# --------------------------------------------------------------------------- the floor


def floor_loop(jpeg: bytes, start_at: float, seconds: float) -> tuple[float, float]:
    """In a floor process: the floor's work back to back from `start_at` (epoch) for
    `seconds`; how many per second this process did, and its CPU ms for each."""
    cv2.setNumThreads(1)
    time.sleep(max(0.0, start_at - time.time()))
    began, cpu = time.perf_counter(), time.process_time()
    done = 0
    while time.perf_counter() - began < seconds:
        codec_floor(jpeg)
        done += 1
    return done / (time.perf_counter() - began), (time.process_time() - cpu) * 1000 / done


def floor_per_second(
    processes: ProcessPoolExecutor, count: int, jpeg: bytes, seconds: float
) -> tuple[float, float]:
    """The floor's throughput with one single-threaded process per CPU, all running at once,
    and its CPU ms per request."""
    start_at = time.time() + 0.5  # every process is past unpickling by then
    futures = [processes.submit(floor_loop, jpeg, start_at, seconds) for _ in range(count)]
    done = [future.result() for future in futures]
    return sum(rate for rate, _ in done), statistics.mean(cpu for _, cpu in done)


def tree_cpu_ms(root: int) -> float:
    """CPU time (user + system) of the process tree of `root`, in ms."""
    ticks = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        ticks += int(fields[11]) + int(fields[12])
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def server_load(server: Server, send: Request, seconds: float) -> tuple[float, float]:
    """`closed_loop` on `server`: its req/s and the CPU ms its process tree spent on each."""
    assert server.process is not None
    cpu = tree_cpu_ms(server.process.pid)
    began = time.perf_counter()
    rate = closed_loop(send, CLIENTS, seconds)
    requests = rate * (time.perf_counter() - began)
    return rate, (tree_cpu_ms(server.process.pid) - cpu) / requests


# --------------------------------------------------------------------------- main


@dataclass
class Results:
    latency: dict[str, list[float]] = field(default_factory=dict)
    rps: dict[str, list[float]] = field(default_factory=dict)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)  # CPU per request, all processes


def measure(
    servers: list[Server], sends: dict[str, Request], jpeg: bytes, args: argparse.Namespace
) -> Results:
    names = [s.name for s in servers]
    results = Results(
        latency={name: [] for name in [*names, FLOOR]},
        rps={name: [] for name in [*names, FLOOR]},
        cpu_ms={name: [] for name in [*names, FLOOR]},
    )
    clients = {s.name: Client() for s in servers}
    cpus = len(os.sched_getaffinity(0))
    floor_processes = ProcessPoolExecutor(cpus, mp_context=multiprocessing.get_context("spawn"))
    try:
        floor_per_second(floor_processes, cpus, jpeg, 0.2)  # start the floor's processes
        for _ in range(3):  # warm-up: connections, worker imports, caches
            for server in servers:
                sends[server.name](clients[server.name])
            codec_floor(jpeg)
        for server in servers:
            assert server.process is not None
            server.idle_pss_kib = tree_memory(server.process.pid)[0]
        for run in range(args.runs):
            for server in servers[:: 1 if run % 2 == 0 else -1]:  # alternate who goes first
                results.latency[server.name].append(
                    latency_ms(clients[server.name], sends[server.name])
                )
            began = time.perf_counter()
            codec_floor(jpeg)
            results.latency[FLOOR].append((time.perf_counter() - began) * 1000)
        print(
            "  latency: "
            + ", ".join(
                f"{name} {statistics.median(v):.1f} ms" for name, v in results.latency.items()
            ),
            flush=True,
        )
        for round_ in range(args.rounds):
            loads: list[tuple[str, Callable[[], tuple[float, float]]]] = [
                (s.name, functools.partial(server_load, s, sends[s.name], args.seconds))
                for s in servers
            ]
            loads.append(
                (
                    f"{FLOOR} in {cpus} processes",
                    functools.partial(floor_per_second, floor_processes, cpus, jpeg, args.seconds),
                )
            )
            for name, load in loads[:: 1 if round_ % 2 == 0 else -1]:
                rate, cpu_ms = load()
                results.rps[name.split(" in ")[0]].append(rate)
                results.cpu_ms[name.split(" in ")[0]].append(cpu_ms)
                print(
                    f"  round {round_ + 1}: {name} {rate:.1f} req/s, {cpu_ms:.2f} ms CPU each",
                    flush=True,
                )
        # memory: a round more of each server under the same load, its tree's memory sampled
        # meanwhile; the rounds above are not sampled, because reading smaps_rollup walks a
        # process's page tables (about 3 ms of CPU for pixelmill's tree, 20 times a second),
        # CPU the rounds measure and the floor's would not pay
        for server in servers:
            with sampling([server]):
                server_load(server, sends[server.name], max(2.0, args.seconds / 2))
    finally:
        for client in clients.values():
            client.close()
        floor_processes.shutdown()
    return results


def fixed_cost(servers: list[Server], args: argparse.Namespace) -> Results:
    """Each server's req/s and CPU per request for a thumbnail-sized upload (a 96x54 JPEG,
    the same chain): what a request costs beside the codec's work, which is next to none."""
    small = cv2.resize(
        make_photo(20240503), (SMALL_WIDTH, SMALL_HEIGHT), interpolation=cv2.INTER_AREA
    )
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok
    results = Results(rps={s.name: [] for s in servers}, cpu_ms={s.name: [] for s in servers})
    for round_ in range(args.rounds):
        for server in servers[:: 1 if round_ % 2 == 0 else -1]:
            send = pixelmill_request(server, encoded.tobytes())
            rate, cpu_ms = server_load(server, send, max(2.0, args.seconds / 2))
            results.rps[server.name].append(rate)
            results.cpu_ms[server.name].append(cpu_ms)
            print(
                f"  {SMALL_WIDTH}x{SMALL_HEIGHT} round {round_ + 1}: {server.name} "
                f"{rate:.1f} req/s, {cpu_ms:.2f} ms CPU each",
                flush=True,
            )
    return results


def spread(values: list[float], digits: int = 1) -> str:
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{middle:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f}"


def record_thumbor(
    bench: str,
    figures: list[str],
    results: Results,
    pixelmill: Server,
    thumbor: Server,
    bare: Server,
) -> None:
    """The figures against thumbor (one process, its default)."""
    ours_rps = statistics.median(results.rps["pixelmill"])
    their_rps = statistics.median(results.rps["thumbor"])
    ours_ms = statistics.median(results.latency["pixelmill"])
    their_ms = statistics.median(results.latency["thumbor"])
    record(
        Row(
            bench,
            figures[0],
            f"{spread(results.rps['pixelmill'])} req/s",
            f"thumbor: {spread(results.rps['thumbor'])} req/s",
            ours_rps / their_rps,
            ">=",
            GOAL_RPS,
        )
    )
    record(
        Row(
            bench,
            figures[1],
            f"{spread(results.latency['pixelmill'])} ms",
            f"thumbor: {spread(results.latency['thumbor'])} ms",
            their_ms / ours_ms,
        )
    )
    record(
        Row(
            bench,
            figures[2],
            f"{mib(pixelmill.peak_pss_kib)} MiB (RSS {mib(pixelmill.peak_rss_kib)})",
            f"thumbor: {mib(thumbor.peak_pss_kib)} MiB (RSS {mib(thumbor.peak_rss_kib)})",
            pixelmill.peak_pss_kib / thumbor.peak_pss_kib,
        )
    )
    record(
        Row(
            bench,
            figures[3],
            f"{BARE}: {mib(bare.peak_pss_kib)} MiB (RSS {mib(bare.peak_rss_kib)})",
            f"thumbor: {mib(thumbor.peak_pss_kib)} MiB (RSS {mib(thumbor.peak_rss_kib)})",
            bare.peak_pss_kib / thumbor.peak_pss_kib,
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter rounds")
    parser.add_argument("--runs", type=int, default=20, help="single-request pairs (20)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per round (8)")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (3)")
    parser.add_argument(
        "--thumbor-processes",
        type=int,
        default=2,
        help="also run thumbor --processes N (default 2; 0: only the default single process)",
    )
    parser.add_argument(
        "--without-thumbor",
        action="store_true",
        help="pixelmill, the bare app and the floor only (the thumbor figures: not measured)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set in pixelmill's environment, e.g. PIXELMILL_EXECUTION=threads (repeatable)",
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.seconds, args.rounds, args.thumbor_processes = 6, 3.0, 1, 0
    bench = "transform"
    figures = [
        "/v1/transform req/s, 8 clients, vs thumbor",
        "/v1/transform single-request median, thumbor / pixelmill",
        # no goal: the goal is memory per req/s (issue 19), held in bench/execution.py
        "/v1/transform peak memory (PSS), pixelmill / thumbor",
        "/v1/transform peak memory (PSS), a bare FastAPI app (no image work) / thumbor",
        "/v1/transform single-request median, pixelmill / codec floor",
        "/v1/transform req/s, 8 clients, pixelmill / codec floor on all CPUs",
        "/v1/transform CPU per request under load, pixelmill's processes / codec floor",
        # no goal: the floor with HTTP, the least a FastAPI server doing this work can take
        "/v1/transform single-request median, pixelmill / (codec floor + a bare FastAPI "
        "app's request)",
        # no goal: how much of the gap to the floor is HTTP's (bench/floor_http.py) ...
        "/v1/transform single-request median, the floor behind HTTP / codec floor",
        "/v1/transform req/s, 8 clients, the floor behind HTTP / codec floor on all CPUs",
        # ... and how much is pixelmill's own
        "/v1/transform single-request median, pixelmill / the floor behind HTTP",
        "/v1/transform req/s, 8 clients, pixelmill / the floor behind HTTP",
        # no goal: the cost of a request beside the codec's work, for thumbnail-sized images
        f"/v1/transform CPU per request, a {SMALL_WIDTH}x{SMALL_HEIGHT} JPEG, 8 clients, "
        "pixelmill / the floor behind HTTP",
        # no goal: the same through FastAPI (floor_http.fastapi_app), the least a server under
        # the contract (SPEC.md: one FastAPI application) can take, and pixelmill against it
        "/v1/transform single-request median, the floor behind FastAPI / codec floor",
        "/v1/transform req/s, 8 clients, the floor behind FastAPI / codec floor on all CPUs",
        "/v1/transform single-request median, pixelmill / the floor behind FastAPI",
        "/v1/transform req/s, 8 clients, pixelmill / the floor behind FastAPI",
        f"/v1/transform CPU per request, a {SMALL_WIDTH}x{SMALL_HEIGHT} JPEG, 8 clients, "
        "pixelmill / the floor behind FastAPI",
    ]
    thumbor_figures = figures[:4]
    venv: Path | None = None
    if args.without_thumbor:
        for figure in thumbor_figures:
            skipped(bench, figure, "run --without-thumbor")
    else:
        try:
            venv = thumbor_venv()
        except Unavailable as error:
            print(f"thumbor not measured: thumbor could not be installed: {error}", flush=True)
            for figure in thumbor_figures:
                skipped(bench, figure, "thumbor could not be installed")
    peer = thumbor_version(venv) if venv is not None else "no thumbor"
    print(
        f"transform benchmark: pixelmill against {peer}; {len(os.sched_getaffinity(0))} CPUs; "
        f"Python {platform.python_version()}, OpenCV {cv2.__version__}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="pixelmill-bench-") as tmp:
        work = Path(tmp)
        images = work / "images"
        images.mkdir()
        ok, encoded = cv2.imencode(".jpg", make_photo(20240503), [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        jpeg = encoded.tobytes()
        (images / IMAGE_NAME).write_bytes(jpeg)
        print(f"{IMAGE_NAME}: 1920x1080, quality {JPEG_QUALITY}, {len(jpeg):,} bytes")

        pixelmill = Server(
            "pixelmill",
            [sys.executable, "-m", "pixelmill", "serve"],
            {
                "PIXELMILL_DATA_DIR": str(work / "data"),
                "PIXELMILL_RESULTS_DIR": str(work / "results"),
                "PIXELMILL_LOG_LEVEL": "WARNING",
                **dict(item.partition("=")[::2] for item in args.env),
            },
            "/health",
            work / "pixelmill.log",
        )
        bare = Server(
            BARE,
            [
                *(sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "bare_fastapi:app"),
                *("--host", "127.0.0.1", "--log-level", "warning"),
            ],
            {},
            "/health",
            work / "bare.log",
        )
        floor_http, floor_fastapi = (
            Server(
                name,
                [
                    *(sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), app),
                    *("--host", "127.0.0.1", "--log-level", "warning"),
                ],
                {},
                "/health",
                work / f"{app.replace(':', '-')}.log",
            )
            for name, app in [
                (FLOOR_HTTP, "floor_http:app"),
                (FLOOR_FASTAPI, "floor_http:fastapi_app"),
            ]
        )
        conf = thumbor_conf(work, images)
        servers = [pixelmill]
        for processes in sorted({1, args.thumbor_processes} - {0}) if venv else []:
            thumbor_bin = str(venv / "bin" / "thumbor")
            name = "thumbor" if processes == 1 else f"thumbor --processes {processes}"
            command = [thumbor_bin, "--ip", "127.0.0.1", "--conf", str(conf), "-l", "warning"]
            if processes != 1:
                command += ["--processes", str(processes)]
            servers.append(
                Server(name, command, {}, "/healthcheck", work / f"thumbor-{processes}.log")
            )
        servers += [bare, floor_http, floor_fastapi]
        ours = (pixelmill, bare, floor_http, floor_fastapi)
        with contextlib.ExitStack() as stack:
            for server in servers:
                server.port = free_port()
                if server is pixelmill:
                    server.env["PIXELMILL_PORT"] = str(server.port)
                else:
                    server.command += ["--port", str(server.port)]
                try:
                    stack.enter_context(running(server))
                except Unavailable as error:
                    if server in ours:
                        raise
                    print(f"thumbor benchmark skipped: thumbor did not start: {error}")
                    for figure in figures:
                        skipped(bench, figure, "thumbor did not start")
                    return 0
            sends = {s.name: pixelmill_request(s, jpeg) for s in ours}
            thumbors = [s for s in servers if s not in ours]
            for server in thumbors:
                sends[server.name] = thumbor_request(server)

            client = Client()
            outputs = {s.name: sends[s.name](client) for s in (*ours, *thumbors) if s is not bare}
            client.close()
            checks, grays = [], {}
            for name, data in outputs.items():
                detail, passed, grays[name] = check(name, data)
                checks.append((detail, passed))
            floor_output = codec_floor(jpeg)
            detail, passed, grays[FLOOR] = check(FLOOR, floor_output)
            checks.append((detail, passed))
            for other in ("thumbor", FLOOR) if thumbors else (FLOOR,):
                difference = (
                    float(np.abs(grays["pixelmill"].astype(np.int16) - grays[other]).mean())
                    if grays["pixelmill"].shape == grays[other].shape
                    else float("inf")
                )
                checks.append(
                    (
                        f"pixelmill and {other} differ by {difference:.2f} levels on average",
                        difference <= MAX_MEAN_DIFFERENCE,
                    )
                )
            for detail, passed in checks:
                print(f"{'OK  ' if passed else 'FAIL'} {detail}")
            if not all(passed for _, passed in checks):
                return 1

            results = measure(servers, sends, jpeg, args)
            small = fixed_cost([pixelmill, floor_http, floor_fastapi], args)

    print()
    print(
        f"{'server':<24}{'median ms (min-max)':>26}{'req/s, 8 clients':>26}"
        f"{'peak PSS MiB':>14}{'peak RSS MiB':>14}{'idle PSS MiB':>14}"
    )
    for server in servers:
        print(
            f"{server.name:<24}{spread(results.latency[server.name]):>26}"
            f"{spread(results.rps[server.name]):>26}"
            f"{server.peak_pss_kib / 1024:>14.1f}{server.peak_rss_kib / 1024:>14.1f}"
            f"{server.idle_pss_kib / 1024:>14.1f}"
        )
    cpus = len(os.sched_getaffinity(0))
    print(
        f"{FLOOR:<24}{spread(results.latency[FLOOR]):>26}"
        f"{spread(results.rps[FLOOR]) + f' ({cpus} proc.)':>30}"
    )
    print()
    ours_rps = statistics.median(results.rps["pixelmill"])
    ours_ms = statistics.median(results.latency["pixelmill"])
    if thumbors:
        record_thumbor(bench, thumbor_figures, results, pixelmill, thumbors[0], bare)
    floor_ms = statistics.median(results.latency[FLOOR])
    floor_rps = statistics.median(results.rps[FLOOR])
    record(
        Row(
            bench,
            figures[4],
            f"{spread(results.latency['pixelmill'])} ms",
            f"floor: {spread(results.latency[FLOOR])} ms",
            ours_ms / floor_ms,
            "<=",
            GOAL_FLOOR_LATENCY,
        )
    )
    record(
        Row(
            bench,
            figures[5],
            f"{spread(results.rps['pixelmill'])} req/s",
            f"floor in {cpus} processes: {spread(results.rps[FLOOR])}/s",
            ours_rps / floor_rps,
            ">=",
            GOAL_FLOOR_RPS,
        )
    )
    record(
        Row(
            bench,
            figures[6],
            f"{spread(results.cpu_ms['pixelmill'])} ms",
            f"floor: {spread(results.cpu_ms[FLOOR])} ms",
            statistics.median(results.cpu_ms["pixelmill"])
            / statistics.median(results.cpu_ms[FLOOR]),
        )
    )
    bare_ms = statistics.median(results.latency[BARE])
    record(
        Row(
            bench,
            figures[7],
            f"{spread(results.latency['pixelmill'])} ms",
            f"floor {floor_ms:.1f} ms + {BARE} {spread(results.latency[BARE])} ms",
            ours_ms / (floor_ms + bare_ms),
        )
    )
    for floor, at in [(FLOOR_HTTP, 8), (FLOOR_FASTAPI, 13)]:
        behind_ms = statistics.median(results.latency[floor])
        behind_rps = statistics.median(results.rps[floor])
        for figure, ours, reference, ratio in [
            (
                figures[at],
                f"{spread(results.latency[floor])} ms",
                f"floor: {spread(results.latency[FLOOR])} ms",
                behind_ms / floor_ms,
            ),
            (
                figures[at + 1],
                f"{spread(results.rps[floor])} req/s",
                f"floor in {cpus} processes: {spread(results.rps[FLOOR])}/s",
                behind_rps / floor_rps,
            ),
            (
                figures[at + 2],
                f"{spread(results.latency['pixelmill'])} ms",
                f"{floor}: {spread(results.latency[floor])} ms",
                ours_ms / behind_ms,
            ),
            (
                figures[at + 3],
                f"{spread(results.rps['pixelmill'])} req/s",
                f"{floor}: {spread(results.rps[floor])} req/s",
                ours_rps / behind_rps,
            ),
            (
                figures[12 if floor == FLOOR_HTTP else 17],
                f"{spread(small.cpu_ms['pixelmill'], 2)} ms "
                f"({spread(small.rps['pixelmill'])} req/s)",
                f"{floor}: {spread(small.cpu_ms[floor], 2)} ms ({spread(small.rps[floor])} req/s)",
                statistics.median(small.cpu_ms["pixelmill"])
                / statistics.median(small.cpu_ms[floor]),
            ),
        ]:
            record(Row(bench, figure, ours, reference, ratio))
    for server in thumbors[1:]:
        record(
            Row(
                bench,
                f"/v1/transform req/s, 8 clients, vs {server.name}",
                f"{spread(results.rps['pixelmill'])} req/s",
                f"{server.name}: {spread(results.rps[server.name])} req/s, "
                f"peak PSS {server.peak_pss_kib / 1024:.0f} MiB",
                ours_rps / statistics.median(results.rps[server.name]),
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
