"""`make cluster-test`: pixelmill on seven hosts, faults injected under a mixed load, and the count.

Hosts and links: tests/cluster/cluster.py. The load: tests/cluster/load.py. The count:
tests/cluster/count.py. Each fault runs for a set time while the load runs, is healed, and the
recovery time is measured: from the heal until a caption and a face job posted through the
balancer are both stored. At the end every attempt is counted; the last line of the log is
`cluster: accepted=N stored=N dead=N lost=0 duplicated=0 max_recovery_s=X`.

Run as root (network namespaces); `CLUSTER_REDIS_APPENDFSYNC=everysec` and
`CLUSTER_DURABLE_ACCEPT=none` run it the way a default Redis is set up, to see what that loses.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import suppress
from functools import partial
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from tests.cluster import count as counting
from tests.cluster.cluster import ADDRESSES, API_PORT, Cluster, Hosts, enter, leave
from tests.cluster.load import CAPTION_IMAGES, FACE_IMAGE, Attempt, Load
from tests.redis_server import missing

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1800)]

URL_KEY = "cluster-test-url-key-0123456789abcdef"
LOG = Path(os.environ.get("PIXELMILL_CLUSTER_LOG", "/tmp/pixelmill-cluster-test.log"))
PARTITION_SECONDS = float(os.environ.get("CLUSTER_PARTITION_SECONDS", "30"))
FAULT_SECONDS = float(os.environ.get("CLUSTER_FAULT_SECONDS", "15"))
# what "nothing accepted is lost" takes on Redis 7.0 (no WAITAOF): fsync every write
APPENDFSYNC = os.environ.get("CLUSTER_REDIS_APPENDFSYNC", "always")
DURABLE_ACCEPT = os.environ.get("CLUSTER_DURABLE_ACCEPT", "fsync")
ONLY = os.environ.get("CLUSTER_FAULTS", "")  # e.g. "1,3": only these faults


def say(line: str, stamp: bool = True) -> None:
    stamped = f"{time.strftime('%H:%M:%S')} {line}" if stamp else line
    print(stamped, flush=True)
    with LOG.open("a") as out:
        out.write(stamped + "\n")


def require_tools() -> None:
    if os.geteuid() != 0:
        missing("the cluster test builds network namespaces: run it as root")
    for tool in ("ip", "haproxy", "redis-server", "redis-cli", "nft", "runuser"):
        if shutil.which(tool) is None:
            missing(
                f"{tool} is not installed (apt-get install iproute2 haproxy redis-server nftables)"
            )


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    require_tools()
    tmp = Path(tempfile.mkdtemp(prefix="pixelmill-cluster-"))
    tmp.chmod(0o755)  # PostgreSQL's own user reaches its data directory inside
    cluster = Cluster(tmp)
    LOG.write_text("")
    say(f"cluster {cluster.prefix}: files in {tmp}; redis appendfsync {APPENDFSYNC}, "
        f"PIXELMILL_REDIS_DURABLE_ACCEPT={DURABLE_ACCEPT}")  # fmt: skip
    try:
        cluster.build()
        deployment = Hosts(
            cluster,
            appendfsync=APPENDFSYNC,
            env={"PIXELMILL_URL_KEYS": URL_KEY, "PIXELMILL_REDIS_DURABLE_ACCEPT": DURABLE_ACCEPT},
        )
        deployment.up()
        yield deployment
    finally:
        cluster.close()
        for log in sorted((tmp / "logs").glob("*.log")):
            errors = [
                line for line in log.read_text(errors="replace").splitlines() if "Traceback" in line
            ]
            print(f"log {log.name}: {log.stat().st_size} bytes, {len(errors)} tracebacks")
        if os.environ.get("CLUSTER_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)


class Faults:
    """The faults, each injected, held, healed; and the recovery after it."""

    def __init__(self, hosts: Hosts, load: Load, client: httpx.AsyncClient) -> None:
        self.hosts = hosts
        self.cluster = hosts.cluster
        self.load = load
        self.client = client
        self.recovery: dict[str, float] = {}
        self.failures: list[str] = []

    async def shell(self, work: Callable[..., object], *args: object) -> None:
        await asyncio.to_thread(work, *args)

    async def healthy(self, host: str, timeout: float = 90) -> None:
        """Until HOST's API answers /health (200, or 503 for a component down elsewhere)."""
        url = f"http://{ADDRESSES[host]}:{API_PORT}/health"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                response = await self.client.get(url, timeout=3)
                if response.status_code == 200:
                    await asyncio.sleep(1.5)  # HAProxy's checks see it (rise 2 × 500 ms)
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
        raise AssertionError(f"{host} not healthy after {timeout} s")

    async def probe(self, kind: str, healed: float, timeout: float = 240) -> float:
        """Post one job through the balancer until accepted, then wait until it is stored."""
        deadline = time.monotonic() + timeout
        token = self.load.token("probe")
        while True:
            if kind == "captions":
                files = {"image": ("p.jpg", CAPTION_IMAGES[0], "image/jpeg")}
                path, data, get = (
                    "/api/images",
                    {"description": f"cluster {token}"},
                    "/api/images/{}",
                )
            else:
                files = {"file": (f"{token}.jpg", FACE_IMAGE, "image/jpeg")}
                path, data, get = "/api/v1/images", {}, "/api/v1/images/{}"
            attempt = Attempt(kind, token, time.time(), phase=self.load.phase)
            self.load.attempts.append(attempt)
            try:
                response = await self.client.post(self.hosts.url + path, files=files, data=data)
                attempt.status = response.status_code
                if response.status_code in (201, 202):
                    attempt.id = str(response.json()["id"])
                    break
            except httpx.HTTPError as exc:
                attempt.error = repr(exc)
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind} job accepted {timeout} s after the heal")
            token = self.load.token("probe")
            await asyncio.sleep(0.2)
        while time.monotonic() < deadline:
            try:
                response = await self.client.get(self.hosts.url + get.format(attempt.id))
                if response.status_code == 200:
                    return time.time() - healed
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"{kind} job {attempt.id} not stored {timeout} s after the heal")

    async def recovered(self, name: str, healed: float) -> None:
        captions, faces = await asyncio.gather(
            self.probe("captions", healed), self.probe("faces", healed)
        )
        seconds = max(captions, faces)
        self.recovery[name] = seconds
        say(
            f"fault {name}: healed; recovered in {seconds:.1f} s (a caption stored "
            f"{captions:.1f} s after the heal, a face {faces:.1f} s)"
        )

    async def hold(self, name: str, seconds: float) -> None:
        say(f"fault {name}: held {seconds:.0f} s")
        await asyncio.sleep(seconds)

    # the faults

    def freeze_when(
        self,
        host: str,
        moment: Callable[[list[int]], bool],
        act: Callable[[], object],
        settle: float = 0.0,
    ) -> None:
        """Freeze HOST's processes (SIGSTOP) until MOMENT(their pids) holds, then ACT and let
        them go: the fault lands while, say, a transaction is open, not by luck."""
        for _ in range(300):
            pids = self.cluster.pids(host)
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            time.sleep(settle)  # what the frozen processes had sent is handled meanwhile
            try:
                if moment(pids):
                    act()
                    return
            finally:
                for pid in pids:
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGCONT)
            time.sleep(0.05 + 0.05 * random.random())
        raise AssertionError(f"{host} never came to the moment wanted")

    def in_transaction(self, pids: list[int]) -> bool:
        """A session is idle in a transaction, with its host frozen: the frozen host's."""
        with psycopg.connect(self.hosts.database_url, connect_timeout=5) as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' "
                "AND state_change < now() - interval '200 milliseconds'"
            ).fetchone()
        return bool(row and row[0])

    def holding(self, pids: list[int]) -> bool:
        """Some consumer of these processes holds a message it has not acknowledged."""
        client = redis.Redis.from_url(self.hosts.redis_url, socket_timeout=5)
        try:
            for key in client.scan_iter(match="pixelmill:*", _type="stream"):
                for group in client.xinfo_groups(key):
                    for consumer in client.xinfo_consumers(key, group["name"]):
                        name = consumer["name"].decode()
                        if consumer["pending"] and int(name.split(":")[1]) in pids:
                            return True
        finally:
            client.close()
        return False

    async def partition_worker(self) -> None:
        name = "1-partition-w1"
        self.load.phase = name
        cut = partial(self.cluster.link, "w1", False)
        await self.shell(self.freeze_when, "w1", self.in_transaction, cut, 0.25)
        say(f"fault {name}: w1's link down (cut from svc and everyone) inside a transaction")
        await self.hold(name, PARTITION_SECONDS)
        await self.shell(self.cluster.link, "w1", True)
        await self.recovered(name, time.time())

    async def kill_worker_host(self) -> None:
        name = "2-kill-w1"
        self.load.phase = name
        await self.shell(
            self.freeze_when, "w1", self.holding, partial(self.cluster.kill_host, "w1")
        )
        say(f"fault {name}: kill -9 of every process on w1 while it held messages")
        await self.shell(self.cluster.wait_gone, "w1")
        await self.hold(name, FAULT_SECONDS / 2)
        await self.shell(self.hosts.start_worker, "w1")
        await self.recovered(name, time.time())

    async def restart_redis(self, kill: bool) -> None:
        name = "3b-kill-redis" if kill else "3a-restart-redis"
        self.load.phase = name
        if kill:
            os.kill(self.cluster.processes["redis"].pid, signal.SIGKILL)
            say(f"fault {name}: kill -9 of redis-server (AOF appendfsync {APPENDFSYNC})")
        else:
            await self.shell(self.hosts.redis_cli, "shutdown")
            say(f"fault {name}: redis-server shut down")
        await self.shell(self.cluster.processes["redis"].wait)
        await self.hold(name, 5)
        await self.shell(self.hosts.start_redis)
        say(f"fault {name}: redis-server started again (AOF replayed)")
        await self.recovered(name, time.time())

    async def restart_postgres(self) -> None:
        name = "4-restart-postgres"
        self.load.phase = name
        await self.shell(self.hosts.pg_ctl, "stop", "-m", "fast", "-w")
        say(f"fault {name}: PostgreSQL stopped (fast)")
        await self.hold(name, 5)
        await self.shell(self.hosts.start_postgres)
        await self.recovered(name, time.time())

    async def lose_api_host(self) -> None:
        name = "5-lose-api1"
        self.load.phase = name
        await self.shell(self.cluster.link, "api1", False)
        killed = self.cluster.kill_host("api1")
        say(f"fault {name}: api1 gone (link down, kill -9 of its {killed} processes)")
        await self.hold(name, FAULT_SECONDS)
        await self.shell(self.cluster.wait_gone, "api1")
        await self.shell(self.cluster.link, "api1", True)
        await self.shell(self.hosts.start_api, "api1")
        await self.healthy("api1")
        await self.recovered(name, time.time())

    async def slow_links(self) -> None:
        name = "6-delay-loss-svc"
        self.load.phase = name
        os.kill(self.cluster.processes["link"].pid, signal.SIGUSR1)
        await self.shell(self.cluster.loss, 5)
        say(f"fault {name}: +200 ms per round trip to svc, 5% of packets on svc's link dropped")
        await self.hold(name, 2 * FAULT_SECONDS)
        os.kill(self.cluster.processes["link"].pid, signal.SIGUSR2)
        await self.shell(self.cluster.loss, 0)
        await self.recovered(name, time.time())

    async def rolling_restart(self) -> None:
        name = "7-rolling-restart"
        self.load.phase = name
        started = time.time()
        for host in ("api1", "api2"):
            # as Kubernetes and `docker stop` do: to the main process, which ends its children
            say(f"fault {name}: SIGTERM to {host}'s pixelmill serve")
            self.cluster.processes[host].send_signal(signal.SIGTERM)
            await self.shell(self.cluster.wait_gone, host, 90)
            say(f"fault {name}: {host} drained and exited; starting it again")
            await self.shell(self.hosts.start_api, host)
            await self.healthy(host)
        await self.recovered(name, time.time())
        say(f"fault {name}: both API hosts replaced in {time.time() - started:.1f} s")


def test_cluster(hosts: Hosts) -> None:
    previous = enter(hosts.cluster.ns("cli"))
    try:
        result, recovery, posts, unsafe_attempts = asyncio.run(scenario(hosts))
    finally:
        leave(previous)
    for phase, seconds in sorted(result.slowest.items()):
        say(f"phase {phase}: the slowest job accepted then was stored {seconds:.1f} s after")
    say(f"sessions on /faces by how they ended: {dict(result.sessions)}")
    for line in result.missed:
        say(line)
    for line in result.lost[:20]:
        say(f"lost: {line}")
    orphans, unconfirmed = len(result.orphan_files), result.unconfirmed_stored
    say(f"orphan files: {orphans}; stored without a 202 seen: {unconfirmed}")
    for attempt in unsafe_attempts:
        say(f"unsafe to retry: {attempt}")
    rolling = {k: v for k, v in posts.items() if k[0] == "7-rolling-restart"}
    unsafe = {k: v for k, v in rolling.items() if k[2] not in ("201", "202", "503", "429")}
    say(
        f"cluster: accepted={result.accepted} stored={result.stored} dead={result.dead} "
        f"lost={len(result.lost)} duplicated={len(result.duplicated)} "
        f"max_recovery_s={max(recovery.values(), default=0):.1f}",
        stamp=False,
    )
    assert not result.failures, result.failures
    assert not result.lost, result.lost[:10]
    assert not result.duplicated, result.duplicated[:10]
    assert not result.missed, result.missed[:10]
    assert not unsafe, f"requests failed in a way a client cannot safely retry: {unsafe}"


async def scenario(
    hosts: Hosts,
) -> tuple[counting.Count, dict[str, float], Counter[tuple[str, str, str]], list[Attempt]]:
    load = Load(
        hosts.url,
        {host: f"http://{ADDRESSES[host]}:{API_PORT}" for host in ("api1", "api2")},
        hosts.redis_url,
        URL_KEY,
    )
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
        faults = Faults(hosts, load, client)
        await faults.healthy("api1")
        await faults.healthy("api2")
        running = asyncio.create_task(load.run())
        load.phase = "0-steady"
        await faults.hold("0-steady", 10)
        await faults.recovered("0-steady", time.time())
        plan: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("1", faults.partition_worker),
            ("2", faults.kill_worker_host),
            ("3", lambda: faults.restart_redis(kill=False)),
            ("3", lambda: faults.restart_redis(kill=True)),
            ("4", faults.restart_postgres),
            ("5", faults.lose_api_host),
            ("6", faults.slow_links),
            ("7", faults.rolling_restart),
        ]
        for number, fault in plan:
            if ONLY and number not in ONLY.split(","):
                continue
            try:
                await fault()
            except AssertionError as failure:  # counted all the same; the test fails at the end
                faults.failures.append(f"{load.phase}: {failure}")
                say(f"fault {load.phase}: FAILED: {failure}")
            await asyncio.sleep(3)
        load.phase = "end"
        load.running = False
        await asyncio.wait_for(running, 60)
        say("load stopped; waiting for every accepted job to be stored or dead-lettered")
        deadline = time.monotonic() + 300
        while True:
            result = await asyncio.to_thread(
                counting.count, load, hosts.database_url, hosts.redis_url, hosts.storage
            )
            depth = await asyncio.to_thread(counting.backlog, hosts.redis_url)
            if (not result.lost and not depth) or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
    posts: Counter[tuple[str, str, str]] = Counter()
    for attempt in load.attempts:
        outcome = (
            str(attempt.status)
            if attempt.status is not None
            else (attempt.error or "?").split(":")[0]
        )
        posts[(attempt.phase, attempt.kind, outcome)] += 1
    for phase in sorted({key[0] for key in posts} | {key[0] for key in load.reads}):
        writes = {f"{k}:{o}": n for (p, k, o), n in sorted(posts.items()) if p == phase}
        reads = {f"{k}:{o}": n for (p, k, o), n in sorted(load.reads.items()) if p == phase}
        say(f"phase {phase}: posts {writes}; reads {reads}")
    result.sessions = Counter(str(s.code) for s in load.sessions)
    result.failures = faults.failures
    unsafe = [
        a for a in load.attempts
        if a.phase == "7-rolling-restart" and str(a.status) not in ("201", "202", "503", "429")
    ]  # fmt: skip
    return result, faults.recovery, posts, unsafe
