"""Faces feed benchmark: 1,000 websocket clients on `/faces`, 50 uploads.

`pixelmill serve` in the embedded default; 1,000 clients connect to `/faces`, then 50 images
with a face are uploaded one after the other. Every client must receive every event. The
delivery latency of an event at a client is its arrival time minus the event's `stored_at`
(when the worker stored the result; same machine clock); the server's memory per client is
the growth of its resident set from before the clients connected to after.

    .venv/bin/python bench/faces_ws.py [--clients 1000] [--uploads 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import cv2
import httpx
import numpy as np
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import Row, record  # noqa: E402
from tests.server import free_port, start_pixelmill, stop, wait_healthy  # noqa: E402


def face_jpeg() -> bytes:
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def listen(ws: ClientConnection, count: int, arrivals: list[float]) -> set[str]:
    seen = set()
    for _ in range(count):
        event = json.loads(await asyncio.wait_for(ws.recv(), 120))
        stored = datetime.fromisoformat(event["stored_at"]).timestamp()
        arrivals.append((time.time() - stored) * 1000)
        seen.add(event["id"])
    return seen


async def run(base: str, pid: int, clients: int, uploads: int) -> None:
    url = base.replace("http", "ws") + "/faces"
    before = rss_kib(pid)
    sockets: list[ClientConnection] = []
    for start in range(0, clients, 100):  # connect in waves of 100
        sockets += await asyncio.gather(
            *(connect(url, max_queue=None) for _ in range(min(100, clients - start)))
        )
    await asyncio.sleep(1)
    after = rss_kib(pid)
    arrivals: list[float] = []
    listeners = [asyncio.create_task(listen(ws, uploads, arrivals)) for ws in sockets]
    ids = []
    image = face_jpeg()
    async with httpx.AsyncClient(timeout=60) as client:
        for i in range(uploads):
            files = {"file": (f"{i}.jpg", image, "image/jpeg")}
            response = await client.post(base + "/api/v1/images", files=files)
            response.raise_for_status()
            ids.append(response.json()["id"])
    seen = await asyncio.gather(*listeners)
    complete = sum(s == set(ids) for s in seen)
    await asyncio.gather(*(ws.close() for ws in sockets))
    arrivals.sort()
    print(f"{clients} clients, {uploads} uploads: {complete} clients got every event")
    print(
        f"delivery latency from stored: p50 {statistics.median(arrivals):.1f} ms, "
        f"p99 {arrivals[int(0.99 * (len(arrivals) - 1))]:.1f} ms, "
        f"max {arrivals[-1]:.1f} ms ({len(arrivals)} deliveries)"
    )
    print(
        f"server memory: {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB with the "
        f"clients: {(after - before) / clients:.1f} KiB per client"
    )
    received = len(arrivals)
    record(
        Row(
            "faces",
            f"/faces: events received / sent, {clients} websocket clients x {uploads} uploads",
            f"{received:,} received; p50 {statistics.median(arrivals):.0f} ms, "
            f"p99 {arrivals[int(0.99 * (len(arrivals) - 1))]:.0f} ms; "
            f"{(after - before) / clients:.0f} KiB per client",
            f"{clients * uploads:,} sent ({complete} clients got every event)",
            received / (clients * uploads),
            ">=",
            1.0,
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="200 clients, 20 uploads")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.uploads = 200, 20
    with tempfile.TemporaryDirectory(prefix="pixelmill-bench-") as tmp:
        port = free_port()
        env = {
            "PIXELMILL_DATA_DIR": f"{tmp}/data",
            "PIXELMILL_RESULTS_DIR": f"{tmp}/results",
            "PIXELMILL_PORT": str(port),
            "PIXELMILL_LOG_LEVEL": "WARNING",
        }
        log = Path(tmp) / "server.log"
        server = start_pixelmill(["serve"], env, log)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, server, log)
            asyncio.run(run(base, server.pid, args.clients, args.uploads))
        finally:
            stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
