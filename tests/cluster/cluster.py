"""A cluster of hosts on one machine: Linux network namespaces on one bridge.

    net  (namespace <prefix>-net, holds the bridge br0; nothing else)
     ├── svc   10.77.0.2   redis-server (AOF) and PostgreSQL on its loopback, reached
     │                     through the link relay (tests/cluster/link.py) on 10.77.0.2
     ├── api1  10.77.0.11  pixelmill serve
     ├── api2  10.77.0.12  pixelmill serve
     ├── w1    10.77.0.21  pixelmill worker all
     ├── w2    10.77.0.22  pixelmill worker all
     ├── lb    10.77.0.30  HAProxy in front of api1 and api2, on :80
     └── cli   10.77.0.40  the clients (the test's own sockets: `enter`)

Every namespace and the bridge live under one unique prefix, so parallel runs do not clash,
and the veth pairs are made straight inside the namespaces: nothing is added to the
machine's own network namespace. `close` kills every process left in a namespace and deletes
the namespaces (and with them their links), whatever happened before.

Storage is a folder every host sees (all namespaces share the file system, as hosts share an
NFS mount): `PIXELMILL_STORAGE_DIR`.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

SUBNET = "10.77.0"
ADDRESSES = {
    "svc": f"{SUBNET}.2",
    "api1": f"{SUBNET}.11",
    "api2": f"{SUBNET}.12",
    "w1": f"{SUBNET}.21",
    "w2": f"{SUBNET}.22",
    "lb": f"{SUBNET}.30",
    "cli": f"{SUBNET}.40",
}
REDIS_PORT, POSTGRES_PORT, API_PORT = 6379, 5432, 8000
_CLONE_NEWNET = 0x40000000


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None
    )
    if found is None:
        raise FileNotFoundError(f"{name} (PostgreSQL) is not installed")
    return str(found)


def enter(namespace: str) -> int:
    """Move this thread into NAMESPACE's network; returns a descriptor of the one it left."""
    libc = ctypes.CDLL(None, use_errno=True)
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        if libc.setns(there, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(there)
    return here


def leave(previous: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        if libc.setns(previous, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
    finally:
        os.close(previous)


@dataclass
class Cluster:
    tmp: Path
    prefix: str = field(default_factory=lambda: f"pm{uuid.uuid4().hex[:6]}")
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    made: list[str] = field(default_factory=list)

    def ns(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    # --- the network --------------------------------------------------------------------

    def build(self) -> None:
        net = self.ns("net")
        run("ip", "netns", "add", net)
        self.made.append(net)
        run("ip", "-n", net, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", net, "link", "set", "br0", "up")
        run("ip", "-n", net, "link", "set", "lo", "up")
        for host, address in ADDRESSES.items():
            ns = self.ns(host)
            run("ip", "netns", "add", ns)
            self.made.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run(
                "ip", "link", "add", "eth0", "netns", ns, "type", "veth",
                "peer", "name", f"v-{host}", "netns", net,
            )  # fmt: skip
            run("ip", "-n", net, "link", "set", f"v-{host}", "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")

    def link(self, host: str, up: bool) -> None:
        """Set HOST's veth (its end on the bridge) down or up: a cut cable."""
        run("ip", "-n", self.ns("net"), "link", "set", f"v-{host}", "up" if up else "down")

    def loss(self, percent: int) -> None:
        """Drop PERCENT % of the packets in and out of svc's veth (0: none)."""
        ns = self.ns("svc")
        run("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "loss", check=False)
        if not percent:
            return
        drop = f"numgen random mod 100 < {percent} drop"
        rules = f"""
table inet loss {{
    chain in {{ type filter hook input priority 0; iifname "eth0" {drop}; }}
    chain out {{ type filter hook output priority 0; oifname "eth0" {drop}; }}
}}
"""
        subprocess.run(
            ["ip", "netns", "exec", ns, "nft", "-f", "-"], input=rules, text=True, check=True
        )

    # --- processes ----------------------------------------------------------------------

    def start(
        self, name: str, host: str, args: list[str], env: dict[str, str] | None = None,
        user: str | None = None,
    ) -> subprocess.Popen[bytes]:  # fmt: skip
        command = ["ip", "netns", "exec", self.ns(host)]
        if user:
            command += ["runuser", "-u", user, "--"]
        log = (self.tmp / "logs" / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [*command, *args], env={**os.environ, **(env or {})}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        self.processes[name] = process
        return process

    def pids(self, host: str) -> list[int]:
        out = run("ip", "netns", "pids", self.ns(host), check=False).stdout
        return [int(pid) for pid in out.split()]

    def kill_host(self, host: str, sig: int = signal.SIGKILL) -> int:
        """Send SIG to every process in HOST's namespace; how many there were."""
        pids = self.pids(host)
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        return len(pids)

    def wait_gone(self, host: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.pids(host):
            if time.monotonic() > deadline:
                raise AssertionError(f"processes of {host} still alive: {self.pids(host)}")
            time.sleep(0.1)
        for process in self.processes.values():
            process.poll()  # reap

    def close(self) -> None:
        for ns in reversed(self.made):
            out = run("ip", "netns", "pids", ns, check=False).stdout
            for pid in out.split():
                with suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        for process in self.processes.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        for ns in reversed(self.made):
            run("ip", "netns", "del", ns, check=False)
        self.made.clear()


def python() -> str:
    return sys.executable


# --- what runs on the hosts -------------------------------------------------------------------

HAPROXY = """
global
    maxconn 4096
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
    timeout check 3s
    # a request whose connection to one API host failed goes to the other: nothing was sent,
    # so this is safe for a POST. Never retry-on empty-response or response-timeout: those
    # resend a POST the first host may have accepted (the first run of this test stored a
    # caption twice that way)
    retries 3
    option redispatch 1
    retry-on conn-failure
frontend web
    bind {lb}:80
    default_backend api
backend api
    balance roundrobin
    # /health/ready: 503 only for what is this host's own (its pool, its results folder) or
    # while it drains after SIGTERM; Redis or PostgreSQL down is everyone's, and the host
    # still serves what it can. /health, which reports those too, would take every host out
    option httpchk GET /health/ready
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
    server api1 {api1}:{port} check
    server api2 {api2}:{port} check
"""


class Hosts:
    """The services of the cluster, started and stopped by host."""

    def __init__(self, cluster: Cluster, *, appendfsync: str, env: dict[str, str]) -> None:
        self.cluster = cluster
        self.tmp = cluster.tmp
        self.appendfsync = appendfsync
        self.env = env
        svc = ADDRESSES["svc"]
        self.redis_url = f"redis://{svc}:{REDIS_PORT}/0"
        self.database_url = f"postgresql://postgres@{svc}:{POSTGRES_PORT}/postgres"
        self.storage = self.tmp / "storage"
        self.url = f"http://{ADDRESSES['lb']}"

    # svc

    def start_svc(self) -> None:
        (self.tmp / "redis").mkdir(exist_ok=True)
        pg = self.tmp / "pg"
        if not (pg / "data").exists():
            pg.mkdir(exist_ok=True)
            shutil.chown(pg, "postgres", "postgres")
            subprocess.run(
                ["runuser", "-u", "postgres", "--", postgres_bin("initdb"), "-D", str(pg / "data"),
                 "-A", "trust", "-U", "postgres", "--no-sync"],
                check=True, capture_output=True,
            )  # fmt: skip
        self.start_redis()
        self.start_postgres()
        self.cluster.start(
            "link", "svc",
            [python(), "-m", "tests.cluster.link", ADDRESSES["svc"],
             f"{REDIS_PORT}:{REDIS_PORT}", f"{POSTGRES_PORT}:{POSTGRES_PORT}"],
        )  # fmt: skip

    def start_redis(self) -> None:
        self.cluster.start(
            "redis", "svc",
            [shutil.which("redis-server") or "redis-server", "--bind", "127.0.0.1",
             "--port", str(REDIS_PORT), "--dir", str(self.tmp / "redis"), "--save", "",
             "--appendonly", "yes", "--appendfsync", self.appendfsync,
             "--protected-mode", "no"],
        )  # fmt: skip
        self._wait_tcp("svc", REDIS_PORT)

    def redis_cli(self, *args: str) -> str:
        out = run(
            "ip",
            "netns",
            "exec",
            self.cluster.ns("svc"),
            "redis-cli",
            "-p",
            str(REDIS_PORT),
            *args,
            check=False,
        )
        return out.stdout.strip()

    def start_postgres(self) -> None:
        self.pg_ctl("start", "-w", "-t", "60")

    def pg_ctl(self, *args: str) -> None:
        pg = self.tmp / "pg"
        options = (
            f"-h 127.0.0.1 -p {POSTGRES_PORT} -k {pg} -c fsync=on -c max_connections=200 "
            "-c log_lock_waits=on -c deadlock_timeout=1s"
        )
        subprocess.run(
            ["ip", "netns", "exec", self.cluster.ns("svc"), "runuser", "-u", "postgres", "--",
             postgres_bin("pg_ctl"), "-D", str(pg / "data"), "-l", str(pg / "postgres.log"),
             "-o", options, *args],
            check=True, capture_output=True,
        )  # fmt: skip

    def _wait_tcp(self, host: str, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while run("ip", "netns", "exec", self.cluster.ns(host), python(), "-c",
                  f"import socket; socket.create_connection(('127.0.0.1', {port}), 1)",
                  check=False).returncode:  # fmt: skip
            if time.monotonic() > deadline:
                raise AssertionError(f"{host}:{port} did not open")
            time.sleep(0.2)

    # pixelmill

    def environment(self, host: str) -> dict[str, str]:
        source = os.environ.get("CLUSTER_PIXELMILL_SRC")  # another pixelmill, e.g. before a fix
        return {
            **({"PYTHONPATH": source} if source else {}),
            "PIXELMILL_REDIS_URL": self.redis_url,
            "PIXELMILL_DATABASE_URL": self.database_url,
            "PIXELMILL_STORAGE_DIR": str(self.storage),
            "PIXELMILL_DATA_DIR": str(self.tmp / "hosts" / host / "data"),
            "PIXELMILL_RESULTS_DIR": str(self.tmp / "hosts" / host / "results"),
            "PIXELMILL_HOST": "0.0.0.0",
            "PIXELMILL_PORT": str(API_PORT),
            "PIXELMILL_PROCESS_WORKERS": "1",
            "PIXELMILL_THREAD_WORKERS": "2",
            "PIXELMILL_HEARTBEAT_SECONDS": "1",
            "PIXELMILL_CLAIM_IDLE_MS": "10000",
            # HAProxy checks every 500 ms and takes a host out after two failed checks
            "PIXELMILL_DRAIN_SECONDS": "2",
            **self.env,
        }

    def start_api(self, host: str) -> None:
        self.cluster.start(
            host, host, [python(), "-m", "pixelmill", "serve"], self.environment(host)
        )

    def start_worker(self, host: str) -> None:
        self.cluster.start(
            host, host, [python(), "-m", "pixelmill", "worker", "all"], self.environment(host)
        )

    def start_lb(self) -> None:
        config = self.tmp / "haproxy.cfg"
        config.write_text(
            HAPROXY.format(
                lb=ADDRESSES["lb"], api1=ADDRESSES["api1"], api2=ADDRESSES["api2"], port=API_PORT
            )
        )
        self.cluster.start(
            "lb", "lb", [shutil.which("haproxy") or "haproxy", "-db", "-f", str(config)]
        )

    def up(self) -> None:
        for name in ("logs", "storage"):
            (self.tmp / name).mkdir(exist_ok=True)
        self.start_svc()
        # migrate once, so that four processes do not race at their start (they may: it is
        # locked; this only saves time)
        subprocess.run(
            ["ip", "netns", "exec", self.cluster.ns("api1"),
             python(), "-m", "pixelmill", "migrate"],
            env={**os.environ, **self.environment("api1")}, check=True, capture_output=True,
        )  # fmt: skip
        for host in ("api1", "api2"):
            self.start_api(host)
        for host in ("w1", "w2"):
            self.start_worker(host)
        self.start_lb()
