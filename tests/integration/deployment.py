"""A deployment for tests: `serve` and worker processes on real Redis and databases."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.images import encode, photo
from tests.server import free_port, start_pixelmill, stop, wait_healthy

DESCRIPTIONS = [
    "A quiet street at dawn",
    "Съешь же ещё этих мягких французских булок, да выпей чаю",
    "С начала фазы запрещающего сигнала прошло: 7 секунд",
    "Ünïcødé, ελληνικά and a very long word: Donaudampfschifffahrtsgesellschaftskapitän",
]


def description(i: int) -> str:
    return f"{DESCRIPTIONS[i % len(DESCRIPTIONS)]} #{i}"


IMAGES = [encode(photo(160 + 8 * i, 120, seed=i), ".jpg") for i in range(4)]


@dataclass
class Deployment:
    """An API process and worker processes sharing one database, one Redis and one storage."""

    tmp: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    api: subprocess.Popen[bytes] | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage(self) -> Path:
        return self.tmp / "storage"

    def environment(self) -> dict[str, str]:
        return {
            "PIXELMILL_DATA_DIR": str(self.tmp / "data"),
            "PIXELMILL_RESULTS_DIR": str(self.tmp / "results"),
            "PIXELMILL_STORAGE_DIR": str(self.storage),
            "PIXELMILL_PORT": str(self.port),
            "PIXELMILL_PROCESS_WORKERS": "1",
            "PIXELMILL_THREAD_WORKERS": "1",
            "PIXELMILL_HEARTBEAT_SECONDS": "0.5",
            **self.env,
        }

    def start_api(self, healthy: bool = True, args: tuple[str, ...] = ()) -> None:
        log = self.tmp / "api.log"
        self.api = start_pixelmill(["serve", *args], self.environment(), log)
        if healthy:
            wait_healthy(self.url, self.api, log)
        else:
            wait_healthy(self.url, self.api, log, statuses=(200, 503))

    def start_worker(self, service: str, name: str | None = None) -> None:
        """`pixelmill worker SERVICE`, known here as NAME (default: the service)."""
        name = name or service
        log = self.tmp / f"{name}.log"
        self.workers[name] = start_pixelmill(["worker", service], self.environment(), log)

    def kill_worker(self, name: str) -> None:
        process = self.workers.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def kill_while_holding(
        self, name: str, stream: str, redis_url: str, prefix: str = "pixelmill"
    ) -> int:
        """SIGKILL worker NAME at a moment it holds messages it has not acknowledged; how many.

        The worker is frozen (SIGSTOP) and its own pending entries read from Redis; when it
        holds none it is let go for a moment and frozen again.
        """
        process = self.workers[name]
        service = name.split("-")[0]
        consumer = f"{socket.gethostname()}:{process.pid}:{service}"
        client = redis.Redis.from_url(redis_url)
        try:
            for _ in range(1000):
                process.send_signal(signal.SIGSTOP)
                held = client.xpending_range(
                    f"{prefix}:{stream}", service, min="-", max="+", count=10, consumername=consumer
                )
                if held:
                    self.kill_worker(name)
                    return len(held)
                process.send_signal(signal.SIGCONT)
                time.sleep(0.003)
        finally:
            client.close()
        raise AssertionError(f"{name} never held a message")

    def stop_all(self) -> None:
        for process in self.workers.values():
            stop(process)
        if self.api is not None:
            stop(self.api)

    def post(self, client: httpx.Client, i: int) -> httpx.Response:
        files = {"image": (f"{i}.jpg", IMAGES[i % len(IMAGES)], "image/jpeg")}
        return client.post(
            self.url + "/api/images", files=files, data={"description": description(i)}
        )

    def listing(self, client: httpx.Client) -> dict[str, dict[str, Any]]:
        response = client.get(self.url + "/api/images", params={"limit": 1000})
        assert response.status_code == 200, response.text
        return {item["id"]: item for item in response.json()}

    def wait_for(
        self,
        client: httpx.Client,
        ids: list[str],
        done: Callable[[dict[str, Any]], bool] = lambda item: item["status"] == "stored",
        timeout: float = 180,
    ) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            items = self.listing(client)
            if all(id in items and done(items[id]) for id in ids):
                return items
            if time.monotonic() > deadline:
                waiting = {
                    id: items.get(id, {}).get("status")
                    for id in ids
                    if not done(items.get(id, {"status": None}))
                }
                logs = {
                    p.name: p.read_text(errors="replace")[-2000:] for p in self.tmp.glob("*.log")
                }
                raise AssertionError(
                    f"not done: {len(waiting)} {list(waiting.items())[:5]}\n{logs}"
                )
            time.sleep(0.2)
