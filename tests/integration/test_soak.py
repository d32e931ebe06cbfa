"""Soak: mixed traffic above capacity for a bounded time against a live `pixelmill serve`.

In the embedded mode, and on Redis + PostgreSQL with the services in a worker process of
their own, 24 clients send transforms, collages, captions, face uploads, list reads and
health checks back to back, with no pause, for `LOAD_SECONDS`: far more than two worker
processes can do.
The service must shed the excess with 429 (CPU work) and 503 (full queues), both with
`Retry-After`, never another 5xx; the memory of its whole process tree stays under a bound
(sampled all along, printed); when the load stops it recovers by itself; and every upload it
accepted (202) is processed and stored, none lost.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.images import astronaut, encode, photo
from tests.integration.deployment import Deployment
from tests.processes import parents as process_parents
from tests.server import running_server

pytestmark = [pytest.mark.slow, pytest.mark.long]

LOAD_SECONDS = 30
CLIENTS = 24
MEMORY_BOUND_MB = 2500  # the server, its worker processes and threads, all together
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants, from /proc."""
    parents = process_parents()
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        with contextlib.suppress(OSError):  # a process that has just ended
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total / 2**20


def server_pid(url: str) -> int:
    return int(httpx.get(url + "/health").headers["x-pixelmill-process"].rsplit(":", 1)[1])


LIMITS = {
    "PIXELMILL_PROCESS_WORKERS": "2",
    "PIXELMILL_THREAD_WORKERS": "2",
    "PIXELMILL_MAX_IN_FLIGHT": "6",
    "PIXELMILL_QUEUE_MAX_LENGTH": "8",
    "PIXELMILL_LOG_LEVEL": "WARNING",
}


@pytest.fixture(
    params=[
        "embedded",
        pytest.param("redis+postgresql", marks=[pytest.mark.redis, pytest.mark.postgres]),
    ]
)
def service(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: Callable[[str], str]
) -> Iterator[tuple[str, list[Path]]]:
    """The service under load: its URL and the logs of its processes."""
    if request.param == "embedded":
        with running_server(tmp_path, env=LIMITS) as url:
            yield url, [tmp_path / "server.log"]
        return
    env = {
        **LIMITS,
        "PIXELMILL_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PIXELMILL_REDIS_PREFIX": request.getfixturevalue("redis_prefix"),
        "PIXELMILL_DATABASE_URL": database_url("postgresql"),
    }
    deployment = Deployment(tmp_path, env)
    try:
        deployment.start_worker("all")  # captioner, storer and faces in one process
        deployment.start_api()
        yield deployment.url, [tmp_path / "api.log", tmp_path / "all.log"]
    finally:
        deployment.stop_all()


def stored_captions(http: httpx.Client) -> set[str]:
    """The ids of every stored caption, page by page (a page holds at most 1,000)."""
    ids: set[str] = set()
    while True:
        page = http.get(
            "/api/images", params={"limit": 1000, "offset": len(ids), "status": "stored"}
        ).json()
        ids |= {item["id"] for item in page}
        if len(page) < 1000:
            return ids


def test_above_capacity_it_sheds_load_stays_bounded_recovers_and_loses_nothing(
    service: tuple[str, list[Path]],
) -> None:
    big = encode(photo(1600, 1200, seed=5), ".jpg")
    medium = encode(photo(800, 600, seed=6), ".jpg")
    face = encode(astronaut(), ".jpg")
    url, logs = service
    pid = server_pid(url)
    baseline_mb = tree_rss_mb(pid)
    requests: dict[str, Callable[[httpx.Client], httpx.Response]] = {
        "transform": lambda c: c.post(
            "/v1/transform",
            files={"file": ("a.jpg", big)},
            data={"ops": "resize=0.75,blur=15,sharpen", "format": "png"},
        ),
        "collage": lambda c: c.post(
            "/process", files={"image1": ("a", medium), "image2": ("b", medium)}
        ),
        "caption": lambda c: c.post(
            "/api/images", files={"image": ("a.jpg", medium)}, data={"description": "soak"}
        ),
        "faces": lambda c: c.post("/api/v1/images", files={"file": ("f.jpg", face)}),
        "list": lambda c: c.get("/api/images", params={"limit": 5}),
        "health": lambda c: c.get("/health"),
    }
    kinds = itertools.cycle(requests)
    lock = threading.Lock()
    statuses: Counter[tuple[str, int]] = Counter()
    accepted: dict[str, list[str]] = {"caption": [], "faces": []}
    problems: list[str] = []
    stop_at = time.monotonic() + LOAD_SECONDS
    samples: list[float] = []

    def client() -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while time.monotonic() < stop_at:
                with lock:
                    kind = next(kinds)
                response = requests[kind](http)
                with lock:
                    statuses[(kind, response.status_code)] += 1
                    if response.status_code in (429, 503):
                        if response.headers.get("retry-after") != "1":
                            problems.append(f"{kind} {response.status_code} no Retry-After")
                    elif response.status_code >= 500:
                        problems.append(f"{kind} {response.status_code}: {response.text}")
                    elif response.status_code == 202:
                        accepted[kind].append(response.json()["id"])

    def watch() -> None:
        while time.monotonic() < stop_at + 1:
            samples.append(tree_rss_mb(pid))
            time.sleep(0.5)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(client) for _ in range(CLIENTS)]:
            future.result()
    watcher.join()

    peak_mb = max(samples)
    by_status = Counter(status for (_, status), n in statuses.items() for _ in range(n))
    print(
        f"\nsoak: {sum(statuses.values())} requests in {LOAD_SECONDS} s, by status "
        f"{dict(sorted(by_status.items()))}; accepted {len(accepted['caption'])} captions, "
        f"{len(accepted['faces'])} face images; memory of the process tree: "
        f"{baseline_mb:.0f} MB idle, peak {peak_mb:.0f} MB"
    )
    assert not problems, problems[:10]
    assert statuses[("transform", 200)] > 0 and statuses[("collage", 200)] > 0
    # the excess was shed, both ways
    assert statuses[("transform", 429)] + statuses[("collage", 429)] > 0, statuses
    assert statuses[("caption", 503)] + statuses[("faces", 503)] > 0, statuses
    assert accepted["caption"] and accepted["faces"]
    assert peak_mb < MEMORY_BOUND_MB, f"peak {peak_mb:.0f} MB"

    # it recovers by itself: healthy, serving, and it works off every accepted job
    with httpx.Client(base_url=url, timeout=60) as http:
        deadline = time.monotonic() + 90
        while True:
            stored = stored_captions(http)
            done_faces = [
                http.get(f"/api/v1/images/{id}/meta").status_code for id in accepted["faces"]
            ]
            if stored >= set(accepted["caption"]) and set(done_faces) == {200}:
                break
            assert time.monotonic() < deadline, (len(stored), Counter(done_faces))
            time.sleep(0.5)
        # exactly what was accepted: nothing lost, nothing half-accepted left behind
        listed = http.get("/api/images", params={"limit": 1})
        assert int(listed.headers["x-total-count"]) == len(accepted["caption"])
        assert http.get("/health").json()["status"] == "ok"
        again = http.post(
            "/v1/transform", files={"file": ("a.jpg", medium)}, data={"ops": "grayscale"}
        )
        assert again.status_code == 200
        for id in accepted["caption"][:: max(1, len(accepted["caption"]) // 10)]:
            assert http.get(f"/api/images/{id}").headers["content-type"] == "image/jpeg"
    assert tree_rss_mb(pid) < MEMORY_BOUND_MB
    for log in logs:
        text = log.read_text()
        assert "Traceback" not in text, text[-3000:]
