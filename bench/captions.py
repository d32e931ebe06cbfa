"""Captions benchmark: sustained captions per second end to end, and latency at half that rate.

A private redis-server, a fresh PostgreSQL database, `pixelmill serve` (no workers inside),
one storer and N captioner processes (N = 1, then 2). For each N:

* throughput: 300 uploads of 640x480 JPEGs posted by 8 client threads as fast as the API
  takes them; captions/s = uploads / (last stored - first received), from the rows' own
  timestamps (received_at, updated_at), so polling does not count;
* latency: uploads at half that rate for 10 s; p50 and p99 of stored - received.

    .venv/bin/python bench/captions.py [--uploads 300]

Needs redis-server and PostgreSQL (127.0.0.1:5432, user postgres, database test).
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
import psycopg
from psycopg import sql
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer  # noqa: E402
from tests.server import free_port, start_pixelmill, stop, wait_healthy  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


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
    def __init__(self, tmp: Path, captioners: int) -> None:
        self.tmp, self.captioners = tmp, captioners
        self.redis = RedisServer(tmp, free_port())
        self.database = f"pixelmill_bench_{secrets.token_hex(4)}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def db_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.database}"

    def __enter__(self) -> Deployment:
        self.redis.start()
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
        env = {
            "PIXELMILL_REDIS_URL": self.redis.url,
            "PIXELMILL_DATABASE_URL": self.db_url,
            "PIXELMILL_DATA_DIR": str(self.tmp / "data"),
            "PIXELMILL_RESULTS_DIR": str(self.tmp / "results"),
            "PIXELMILL_PORT": str(self.port),
            "PIXELMILL_PROCESS_WORKERS": "1",
            "PIXELMILL_HEARTBEAT_SECONDS": "0.5",
            "PIXELMILL_LOG_LEVEL": "WARNING",
        }
        log = self.tmp / "processes.log"
        self.processes.append(start_pixelmill(["worker", "storer"], env, log))
        self.processes.append(start_pixelmill(["worker", "faces"], env, log))  # for /health
        for _ in range(self.captioners):
            self.processes.append(start_pixelmill(["worker", "captioner"], env, log))
        api = start_pixelmill(["serve"], env, log)
        self.processes.append(api)
        wait_healthy(self.url, api, log)
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            stop(process)
        self.redis.stop()
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.database)
                )
            )

    def times(self, ids: list[str], timeout: float = 300) -> list[tuple[float, float]]:
        """(received, stored) epoch seconds of each id, once all are stored."""
        engine = create_engine(self.db_url)
        query = text(
            "SELECT received_at, updated_at FROM captions"
            " WHERE status = 'stored' AND id = ANY(:ids)"
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                with engine.connect() as connection:
                    found = connection.execute(query, {"ids": ids}).all()
                if len(found) == len(ids):
                    return [(r.timestamp(), s.timestamp()) for r, s in found]
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {len(found)} of {len(ids)} stored")
                time.sleep(0.2)
        finally:
            engine.dispose()


def post(client: httpx.Client, url: str, data: bytes, i: int) -> str:
    files = {"image": (f"{i}.jpg", data, "image/jpeg")}
    form = {"description": f"Съешь же ещё этих мягких французских булок #{i}, да выпей чаю"}
    response = client.post(url + "/api/images", files=files, data=form)
    response.raise_for_status()
    return str(response.json()["id"])


def throughput(deployment: Deployment, payloads: list[bytes], count: int) -> float:
    local = threading.local()

    def one(i: int) -> str:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=60)
        return post(local.client, deployment.url, payloads[i % len(payloads)], i)

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(one, range(count)))
    stamps = deployment.times(ids)
    first = min(r for r, _ in stamps)
    last = max(s for _, s in stamps)
    return count / (last - first)


def latency(
    deployment: Deployment, payloads: list[bytes], rate: float, seconds: float
) -> list[float]:
    ids = []
    with httpx.Client(timeout=60) as client:
        start = time.perf_counter()
        i = 0
        while (now := time.perf_counter() - start) < seconds:
            due = i / rate
            if now < due:
                time.sleep(due - now)
            ids.append(post(client, deployment.url, payloads[i % len(payloads)], 10_000 + i))
            i += 1
    return sorted((s - r) * 1000 for r, s in deployment.times(ids))


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    payloads = images()
    results = {}
    for captioners in (1, 2):
        with (
            tempfile.TemporaryDirectory(prefix="pixelmill-bench-") as tmp,
            Deployment(Path(tmp), captioners) as deployment,
        ):
            throughput(deployment, payloads, 40)  # warm-up
            rate = throughput(deployment, payloads, args.uploads)
            delays = latency(deployment, payloads, rate / 2, args.seconds)
            results[captioners] = (rate, delays)
            print(
                f"{captioners} captioner(s): {rate:.1f} captions/s; at {rate / 2:.1f}/s: "
                f"p50 {percentile(delays, 0.5):.0f} ms, p99 {percentile(delays, 0.99):.0f} ms "
                f"({len(delays)} uploads)",
                flush=True,
            )
    one, two = results[1][0], results[2][0]
    print(f"\n{os.cpu_count()} CPUs; 640x480 JPEGs; API, storer, Redis and PostgreSQL share them")
    print(f"captions/s: 1 captioner {one:.1f}, 2 captioners {two:.1f}; scaling {two / one:.2f}x")
    print(f"median latency at half rate: {statistics.median(results[1][1]):.0f} ms (1 captioner)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
