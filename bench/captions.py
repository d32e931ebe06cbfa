"""Captions benchmark: sustained captions per second end to end, and latency at half that rate.

A private redis-server, a fresh PostgreSQL database, `pixelmill serve` (no workers inside),
one storer and N captioner processes (N = 1, then 2); then the embedded default, one
`pixelmill serve` with no Redis and every setting at its default (SQLite under its data dir,
the pools sized from the CPUs), whose service threads take, hand over and store while the
pixel work runs on the API's pools (`--embedded-database postgresql`: the same PostgreSQL
database as the others instead; `--embedded-only`: only this one). For each:

* throughput: 300 uploads of 640x480 JPEGs posted by 8 client threads as fast as the API
  takes them; captions/s = uploads / (last stored - first received), from the rows' own
  timestamps (received_at, updated_at), so polling does not count;
* latency: uploads at half that rate for 10 s; p50 and p99 of stored - received;
* where the time goes: CPU seconds per caption of every process (API, captioner, storer,
  Redis, the PostgreSQL server's processes, this benchmark's own clients) over the
  throughput run, from /proc/<pid>/stat.

The reference, measured in the same run before each deployment: captioning alone in one
process, the captioner's own code (`Captioner.__call__`: sniff, decode, caption, JPEG encode)
on the same messages, one after the other, with a queue that only keeps what it is given:
captions/s = uploads / time. The figure is end-to-end captions/s with 1 captioner over that
(goal >= 0.70: the queues, the storer, the database and HTTP cost at most 30%). A worker
captions each batch it takes on `thread_workers` threads (the CPUs), so the same work in
batches on that many threads in one process is measured too and reported beside it, without
a goal: the stricter reference. The embedded default is held to the same goal as 1 captioner
over Redis (>= 0.70 of captioning alone), since it is what a newcomer runs. On the default
`hybrid` design its captions all go to the one isolated worker process, so the reference is
the same work on the same share of the machine: one CPU (OpenCV's own threads play no part:
4.05 against 4.12 ms per caption with 1 or 2 of them), and the worker process spends what the
reference does per caption. End to end also needs the other CPU for the API process and the
clients, so load from outside the benchmark lowers the ratio more than the reference: compare
the CPU per caption of each process, which moves less.

    .venv/bin/python bench/captions.py [--uploads 300] [--quick] [--embedded-only]

Needs redis-server and PostgreSQL (127.0.0.1:5432, user postgres, database test).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import numpy as np
import psycopg
from psycopg import sql
from sqlalchemy import bindparam, create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import process_tree  # noqa: E402
from bench.report import Row, record  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402
from tests.server import free_port, start_pixelmill, stop, wait_healthy  # noqa: E402

from pixelmill.jobs.queue import Message  # noqa: E402
from pixelmill.services.captions import Captioner, accepted_message  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
GOAL_END_TO_END_OVER_ALONE = 0.70
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def images() -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(8):
        y, x = np.mgrid[0:480, 0:640]
        image = np.stack([x * 255 // 640, y * 255 // 480, (x + y * i) % 256], -1).astype(np.uint8)
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        out.append(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return out


class Deployment:
    """`captioners` worker processes beside Redis; 0: the embedded default, one `pixelmill
    serve` with no Redis that runs the services itself, on SQLite unless `database` says
    "postgresql"."""

    def __init__(self, tmp: Path, captioners: int, database: str = "postgresql") -> None:
        self.tmp, self.captioners = tmp, captioners
        self.embedded = captioners == 0
        self.redis = RedisServer(tmp, free_port())
        self.sqlite = self.embedded and database == "sqlite"
        self.database = f"pixelmill_bench_{secrets.token_hex(4)}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def db_url(self) -> str:
        if self.sqlite:  # the embedded default's own database
            return f"sqlite:///{self.tmp / 'data' / 'pixelmill.db'}"
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.database}"

    def __enter__(self) -> Deployment:
        if not self.embedded:
            self.redis.start()
        if not self.sqlite:
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        env = {
            "PIXELMILL_DATA_DIR": str(self.tmp / "data"),
            "PIXELMILL_RESULTS_DIR": str(self.tmp / "results"),
            "PIXELMILL_PORT": str(self.port),
            "PIXELMILL_HEARTBEAT_SECONDS": "0.5",
            "PIXELMILL_LOG_LEVEL": "WARNING",
        }
        if not self.sqlite:
            env["PIXELMILL_DATABASE_URL"] = self.db_url
        if not self.embedded:  # the API does no pixel work here: one pool process is plenty
            env["PIXELMILL_REDIS_URL"] = self.redis.url
            env["PIXELMILL_PROCESS_WORKERS"] = "1"
        log = self.tmp / "processes.log"
        self.roles: dict[int, str] = {}
        workers = [] if self.embedded else ["storer", "faces"] + ["captioner"] * self.captioners
        for role in workers:  # faces: for /health
            process = start_pixelmill(["worker", role], env, log)
            self.processes.append(process)
            self.roles[process.pid] = role
        api = start_pixelmill(["serve"], env, log)
        self.processes.append(api)
        self.roles[api.pid] = "API"
        wait_healthy(self.url, api, log)
        answered = httpx.get(self.url + "/health", timeout=5).headers.get("x-pixelmill-process")
        if not str(answered).endswith(f":{api.pid}"):
            raise SystemExit(f"port {self.port} is served by another process ({answered})")
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            stop(process)
        self.redis.stop()
        if self.sqlite:
            return
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.database)
                )
            )

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each role's processes (and their children; the API's apart),
        Redis, PostgreSQL and this process's client threads."""
        totals: dict[str, float] = {}
        for process in self.processes:
            role = self.roles[process.pid]
            tree = process_tree(process.pid)
            if role == "API":  # its own process apart from its pools' worker processes
                totals["API's worker processes"] = sum(
                    cpu_seconds(pid) for pid in tree if pid != process.pid
                )
                tree = [process.pid]
            seconds = sum(cpu_seconds(pid) for pid in tree)
            totals[role] = totals.get(role, 0.0) + seconds
        if self.redis.process is not None:
            totals["Redis"] = cpu_seconds(self.redis.process.pid)
        if not self.sqlite:
            totals["PostgreSQL"] = sum(cpu_seconds(pid) for pid in postgres_pids())
        totals["benchmark clients"] = time.process_time()
        return totals

    def times(
        self, ids: list[str], timeout: float = 300, table: str = "captions"
    ) -> list[tuple[float, float]]:
        """(received, stored) epoch seconds of each id of TABLE (captions or face_images),
        once all are stored."""
        received = {"captions": "received_at", "face_images": "created_at"}[table]
        engine = create_engine(self.db_url)
        query = text(
            f"SELECT {received}, updated_at FROM {table} WHERE status = 'stored' AND id IN :ids"
        ).bindparams(bindparam("ids", expanding=True))
        deadline = time.monotonic() + timeout
        try:
            while True:
                with engine.connect() as connection:
                    found = connection.execute(query, {"ids": ids}).all()
                if len(found) == len(ids):
                    return [(utc(r).timestamp(), utc(s).timestamp()) for r, s in found]
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {len(found)} of {len(ids)} stored")
                time.sleep(0.2)
        finally:
            engine.dispose()


def utc(moment: datetime | str) -> datetime:
    """A stored time as an aware datetime (SQLite hands back text, without the zone)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def description(i: int) -> str:
    return f"Съешь же ещё этих мягких французских булок #{i}, да выпей чаю"


class KeepingQueue:
    """A queue that keeps the last message put on it: the captioner's output, unsent."""

    last: dict[str, bytes] | None = None

    def put(self, stream: str, fields: dict[str, bytes]) -> str:
        self.last = dict(fields)
        return "0-0"

    def put_many(self, stream: str, messages: list[dict[str, bytes]]) -> list[str]:
        self.last = dict(messages[-1])
        return ["0-0"] * len(messages)


def captioning_alone(payloads: list[bytes], count: int, threads: int = 1) -> float:
    """Captions/s of the captioner's own work in this process: one message after the other
    (threads=1, the reference), or in batches of 16 on THREADS threads, as a worker does."""
    queue = KeepingQueue()
    captioner = Captioner(
        queue=queue,  # type: ignore[arg-type]
        font=None,
        font_size=12,
        overlay=False,
        max_pixels=50_000_000,
        max_deliveries=5,
        threads=threads,
    )
    now = datetime.now(UTC)
    messages = [
        Message(
            f"{i}-0", accepted_message(str(i), payloads[i % len(payloads)], description(i), now), 1
        )
        for i in range(count)
    ]
    captioner.many(messages[:16])  # the font, the first allocations, the threads
    began = time.perf_counter()
    if threads == 1:
        for message in messages:
            captioner(message)
    else:
        for start in range(0, count, 16):
            captioner.many(messages[start : start + 16])
    seconds = time.perf_counter() - began
    assert queue.last is not None and queue.last["image"].startswith(b"\xff\xd8")
    return count / seconds


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_pids() -> list[int]:
    """Every PostgreSQL server process on the machine (its backends serve our connections)."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry.name}/comm").read_text().strip().startswith("postgres"):
                    pids.append(int(entry.name))
    return pids


BOUNDARY = "pixelmill-bench-boundary"


class Client:
    """One keep-alive connection through the standard library's http.client.

    The clients share the 2 CPUs with the deployment they measure: httpx costs ~2.5 ms of
    CPU per upload here, http.client ~0.3 ms, and what the load generator does not burn the
    deployment can use.
    """

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> dict[str, object]:
        self.connection.request("POST", path, body, headers)
        response = self.connection.getresponse()
        answer = response.read()
        if response.status >= 400:
            raise RuntimeError(f"POST {path}: {response.status} {answer[:200]!r}")
        result: dict[str, object] = json.loads(answer)
        return result

    def close(self) -> None:
        self.connection.close()


def post(client: Client, data: bytes, i: int) -> str:
    """Upload `data` as caption `i`; its id."""
    # The multipart body joined by hand: httpx's or any encoder's costs the shared CPUs more.
    body = b"".join(
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="description"\r\n\r\n'
            f"{description(i)}\r\n".encode(),
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="{i}.jpg"'
            "\r\nContent-Type: image/jpeg\r\n\r\n".encode(),
            data,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        )
    )
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    return str(client.post("/api/images", body, headers)["id"])


Post = Callable[[Client, bytes, int], str]


def throughput(
    deployment: Deployment,
    payloads: list[bytes],
    count: int,
    send: Post = post,
    table: str = "captions",
) -> float:
    """Jobs per second from the first received to the last stored, `count` uploads sent by
    8 clients with `send` (a caption by default; bench/faces_embedded.py sends faces)."""
    local = threading.local()

    def one(i: int) -> str:
        if not hasattr(local, "client"):
            local.client = Client(deployment.url)
        return send(local.client, payloads[i % len(payloads)], i)

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(one, range(count)))
    stamps = deployment.times(ids, table=table)
    first = min(r for r, _ in stamps)
    last = max(s for _, s in stamps)
    return count / (last - first)


def latency(
    deployment: Deployment,
    payloads: list[bytes],
    rate: float,
    seconds: float,
    send: Post = post,
    table: str = "captions",
) -> list[float]:
    """Each job's time from received to stored (ms, sorted), sent one by one at `rate`."""
    ids = []
    client = Client(deployment.url)
    try:
        start = time.perf_counter()
        i = 0
        while (now := time.perf_counter() - start) < seconds:
            due = i / rate
            if now < due:
                time.sleep(due - now)
            ids.append(send(client, payloads[i % len(payloads)], 10_000 + i))
            i += 1
    finally:
        client.close()
    return sorted((s - r) * 1000 for r, s in deployment.times(ids, table=table))


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per captioner count (2)")
    parser.add_argument("--quick", action="store_true", help="150 uploads, 5 s, one round")
    parser.add_argument(
        "--embedded-only", action="store_true", help="only the embedded default (no Redis)"
    )
    parser.add_argument(
        "--embedded-database",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="the embedded default's database (sqlite: its own default)",
    )
    args = parser.parse_args()
    if args.quick:
        args.uploads, args.seconds, args.rounds = 150, 5.0, 1
    payloads = images()
    rates: dict[int, list[float]] = {0: []} if args.embedded_only else {1: [], 2: [], 0: []}
    alone: list[float] = []
    threads = os.cpu_count() or 1
    alone_threaded: list[float] = []
    delays: dict[int, list[float]] = {}
    shares: dict[int, dict[str, float]] = {}
    for round_ in range(args.rounds):
        for captioners in rates:
            alone.append(captioning_alone(payloads, args.uploads))
            alone_threaded.append(captioning_alone(payloads, args.uploads, threads))
            with (
                tempfile.TemporaryDirectory(prefix="pixelmill-bench-") as tmp,
                Deployment(Path(tmp), captioners, args.embedded_database) as deployment,
            ):
                throughput(deployment, payloads, 40)  # warm-up
                before = deployment.cpu()
                rate = throughput(deployment, payloads, args.uploads)
                after = deployment.cpu()
                rates[captioners].append(rate)
                if round_ == 0:
                    shares[captioners] = {role: after[role] - before[role] for role in after}
                    delays[captioners] = latency(deployment, payloads, rate / 2, args.seconds)
            print(
                f"round {round_ + 1}: captioning alone {alone[-1]:.1f}/s; {label(captioners)} "
                f"end to end {rate:.1f} captions/s",
                flush=True,
            )
    reference = statistics.median(alone)
    print(f"\n{os.cpu_count()} CPUs; 640x480 JPEGs; API, storer, Redis and PostgreSQL share them")
    print(f"captioning alone in one process: {spread(alone)} captions/s")
    print(f"captioning alone, batches on {threads} threads: {spread(alone_threaded)} captions/s")
    print("end to end: " + ", ".join(f"{label(c)} {spread(v)}" for c, v in rates.items()))
    for captioners, values in delays.items():
        print(
            f"{label(captioners)} at half rate: p50 {percentile(values, 0.5):.0f} ms, "
            f"p99 {percentile(values, 0.99):.0f} ms ({len(values)} uploads)"
        )
    for captioners, used in shares.items():
        total = sum(used.values())
        print(f"\nCPU per caption, {label(captioners)}, {args.uploads} uploads (ms; share):")
        for role, seconds in sorted(used.items(), key=lambda item: -item[1]):
            print(f"  {role:<22} {seconds / args.uploads * 1000:>6.2f} ms  {seconds / total:>5.0%}")
    print(f"  (captioning alone: {1000 / reference:.2f} ms per caption)")
    if not args.embedded_only:
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        record(
            Row(
                "captions",
                "captions/s end to end (1 captioner) / captioning alone",
                f"{spread(rates[1])}/s",
                f"alone in one process: {spread(alone)}/s",
                one / reference,
                ">=",
                GOAL_END_TO_END_OVER_ALONE,
            )
        )
        record(
            Row(
                "captions",
                "captions/s end to end (2 captioners) / captioning alone",
                f"{spread(rates[2])}/s",
                f"alone in one process: {spread(alone)}/s",
                two / reference,
            )
        )
    record(
        Row(
            "captions",
            "captions/s end to end, embedded (`pixelmill serve`, no Redis, "
            f"{args.embedded_database}) / captioning alone",
            f"{spread(rates[0])}/s",
            f"alone in one process: {spread(alone)}/s",
            statistics.median(rates[0]) / reference,
            ">=",
            GOAL_END_TO_END_OVER_ALONE,
        )
    )
    if not args.embedded_only:
        record(
            Row(
                "captions",
                f"captions/s end to end (1 captioner) / captioning alone on {threads} threads",
                f"{spread(rates[1])}/s",
                f"alone, batches on {threads} threads: {spread(alone_threaded)}/s",
                statistics.median(rates[1]) / statistics.median(alone_threaded),
            )
        )
    return 0


def label(captioners: int) -> str:
    return "embedded (no Redis)" if captioners == 0 else f"{captioners} captioner(s)"


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


if __name__ == "__main__":
    sys.exit(main())
