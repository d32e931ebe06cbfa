"""What the operations dashboard (`/ui/status`, `GET /api/admin/status`) shows, and its history.

Everything comes from what the server already keeps for `/metrics`: queue depths, pending and
dead letters (the queue), messages by service and outcome (`jobs.stats`), heartbeats, the
request latency histograms (`api.metrics`) and the delivery cache's hits and misses.

    Sample    one reading of those counters, taken every SAMPLE_SECONDS by a task of the app
    Ring      the last RING_SIZE samples (15 minutes): rates and percentiles over a window are
              differences between two samples, so the charts cost no store of their own
    report    the JSON of GET /api/admin/status: the now (a fresh sample), per-route latency
              percentiles and per-service rates over the ring's window, and the series

Each API process keeps its own ring. Job totals and queues are shared (Redis), so every
process shows the same; request latencies are this process's (or, with several processes
and PROMETHEUS_MULTIPROC_DIR, all of them summed).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from pixelmill.jobs.stats import OUTCOMES
from pixelmill.services.registry import SERVICES

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 5.0
RING_SIZE = 180  # 15 minutes of samples
PERCENTILES = (50, 95, 99)
LATENCY_METRIC = "pixelmill_http_request_duration_seconds"
# requests the dashboard itself makes, and the static files, are not what it is watching
_UNWATCHED = ("/api/admin/status", "/static", "unmatched")


@dataclass
class Sample:
    """The counters at one moment."""

    at: float  # Unix time
    depth: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, dict[str, int]] = field(default_factory=dict)  # service -> outcome -> n
    latency: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # cumulative
    cache: tuple[int, int] = (0, 0)  # hits, misses


class Ring:
    """The last RING_SIZE samples; thread-safe."""

    def __init__(self, size: int = RING_SIZE) -> None:
        self._samples: deque[Sample] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, sample: Sample) -> None:
        with self._lock:
            self._samples.append(sample)

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)


def take_sample(state: Any) -> Sample:
    """Read every counter now; a part that is down leaves its numbers out."""
    sample = Sample(at=time.time())
    runtime = getattr(state, "runtime", None)
    if runtime is not None:
        for service in SERVICES:
            try:
                sample.depth[service.stream] = runtime.queue.depth(service.stream)
                sample.pending[service.stream] = runtime.queue.pending(service.stream, service.name)
                sample.dead[service.stream] = runtime.queue.dead(service.stream)
            except Exception as exc:  # the queue is down: the dashboard says so, not a 500
                log.debug("status: queue not read: %s", exc)
        try:
            totals = runtime.job_stats.read(tuple(service.name for service in SERVICES))
            sample.jobs = {name: dict(stats.outcomes) for name, stats in totals.items()}
        except Exception as exc:
            log.debug("status: job statistics not read: %s", exc)
    metrics = getattr(state, "metrics", None)
    if metrics is not None:
        sample.latency = _latency_buckets(metrics)
    results = getattr(state, "results", None)
    if results is not None:
        sample.cache = (results.stats.hits, results.stats.misses)
    return sample


def report(state: Any, ring: Ring) -> dict[str, Any]:
    """The dashboard's JSON: now, over the ring's window, and the series to draw."""
    now = take_sample(state)
    samples = ring.samples()
    first = samples[0] if samples else None
    window = now.at - first.at if first is not None else 0.0
    runtime = getattr(state, "runtime", None)
    return {
        "time": _iso(now.at),
        "mode": "embedded" if runtime is None or runtime.embedded else "redis",
        "window_seconds": round(window, 1),
        "sample_seconds": SAMPLE_SECONDS,
        "queues": [
            {
                "stream": service.stream,
                "service": service.name,
                "depth": now.depth.get(service.stream),
                "pending": now.pending.get(service.stream),
                "dead": now.dead.get(service.stream),
            }
            for service in SERVICES
        ],
        "services": [_service(service.name, now, first, window, runtime) for service in SERVICES],
        "routes": _routes(now, first),
        "cache": _cache(now, first),
        "history": _history(
            [*samples, now] if not samples or now.at - samples[-1].at >= 1.0 else samples
        ),
    }


@asynccontextmanager
async def sampling(app: FastAPI) -> AsyncIterator[None]:
    """A lifespan: a ring on `app.state.status_ring`, filled every SAMPLE_SECONDS."""
    ring = Ring()
    app.state.status_ring = ring

    async def sample_forever() -> None:
        while True:
            try:
                ring.add(await asyncio.to_thread(take_sample, app.state))
            except Exception:  # never let the dashboard's history take the app down
                log.exception("status: sample failed")
            await asyncio.sleep(SAMPLE_SECONDS)

    task = asyncio.create_task(sample_forever())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def _service(
    name: str, now: Sample, first: Sample | None, window: float, runtime: Any
) -> dict[str, Any]:
    totals = now.jobs.get(name, dict.fromkeys(OUTCOMES, 0))
    before = first.jobs.get(name, {}) if first is not None else {}
    done_in_window = {o: totals.get(o, 0) - before.get(o, 0) for o in OUTCOMES}
    beats: dict[str, float] = {}
    if runtime is not None:
        with suppress(Exception):  # heartbeats down: no worker shown alive
            beats = runtime.heartbeats.beats(name)
    return {
        "service": name,
        "totals": totals,
        "window": done_in_window,
        "jobs_per_second": round(sum(done_in_window.values()) / window, 3) if window else None,
        "workers": [
            {"consumer": c, "last_beat": _iso(at), "seconds_ago": round(now.at - at, 1)}
            for c, at in sorted(beats.items())
        ],
    }


def _routes(now: Sample, first: Sample | None) -> list[dict[str, Any]]:
    routes = []
    for route, buckets in sorted(now.latency.items()):
        earlier = dict(first.latency.get(route, [])) if first is not None else {}
        window = [(bound, n - earlier.get(bound, 0.0)) for bound, n in buckets]
        count = window[-1][1] if window else 0
        if count <= 0:
            continue
        percentiles = {f"p{p}_ms": _percentile(window, p / 100) for p in PERCENTILES}
        routes.append({"route": route, "requests": int(count), **percentiles})
    return routes


def _cache(now: Sample, first: Sample | None) -> dict[str, Any]:
    hits, misses = now.cache
    before = first.cache if first is not None else (0, 0)
    lookups = hits + misses
    window_hits, window_misses = hits - before[0], misses - before[1]
    window_lookups = window_hits + window_misses
    return {
        "hits": hits,
        "misses": misses,
        "hit_rate": round(hits / lookups, 4) if lookups else None,
        "window_hit_rate": round(window_hits / window_lookups, 4) if window_lookups else None,
    }


def _history(samples: list[Sample]) -> dict[str, Any]:
    """Series for the charts: one point per interval between two samples."""
    pairs = list(itertools.pairwise(samples))
    jobs: dict[str, list[float]] = {service.name: [] for service in SERVICES}
    failed: list[float] = []
    p95: list[float | None] = []
    hit_rate: list[float | None] = []
    for a, b in pairs:
        seconds = max(b.at - a.at, 1e-3)
        lost = 0
        for name in jobs:
            now, then = b.jobs.get(name, {}), a.jobs.get(name, {})
            handled = sum(now.get(o, 0) - then.get(o, 0) for o in OUTCOMES)
            jobs[name].append(round(max(handled, 0) / seconds, 3))
            lost += now.get("failed", 0) - then.get("failed", 0)
        failed.append(round(max(lost, 0) / seconds, 3))
        p95.append(_overall_percentile(a, b, 0.95))
        hits, misses = b.cache[0] - a.cache[0], b.cache[1] - a.cache[1]
        hit_rate.append(round(hits / (hits + misses), 4) if hits + misses > 0 else None)
    return {
        "t": [round(b.at, 1) for _, b in pairs],
        "depth": {s.stream: [b.depth.get(s.stream, 0) for _, b in pairs] for s in SERVICES},
        "dead": {s.stream: [b.dead.get(s.stream, 0) for _, b in pairs] for s in SERVICES},
        "jobs_per_second": jobs,
        "failed_per_second": failed,
        "latency_p95_ms": p95,
        "cache_hit_rate": hit_rate,
    }


def _overall_percentile(a: Sample, b: Sample, q: float) -> float | None:
    """The percentile of every watched request answered between samples A and B."""
    merged: dict[float, float] = {}
    for route, buckets in b.latency.items():
        earlier = dict(a.latency.get(route, []))
        for bound, n in buckets:
            merged[bound] = merged.get(bound, 0.0) + n - earlier.get(bound, 0.0)
    window = sorted(merged.items())
    if not window or window[-1][1] <= 0:
        return None
    return _percentile(window, q)


def _percentile(buckets: list[tuple[float, float]], q: float) -> float:
    """The Q quantile in ms from cumulative histogram buckets, linear within a bucket (as
    Prometheus's histogram_quantile does); past the last finite bound, that bound."""
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return round(lower * 1000, 2)
            inside = count - below
            share = (rank - below) / inside if inside > 0 else 1.0
            return round((lower + (bound - lower) * share) * 1000, 2)
        lower, below = bound, count
    return round(lower * 1000, 2)


def _latency_buckets(metrics: Any) -> dict[str, list[tuple[float, float]]]:
    """Cumulative latency buckets per `METHOD /route`, all statuses together."""
    if metrics.registry is None:  # several processes: their files, summed
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        families = registry.collect()
    else:
        families = metrics.latency.collect()
    merged: dict[str, dict[float, float]] = {}
    for family in families:
        if family.name != LATENCY_METRIC:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_bucket"):
                continue
            route = sample.labels.get("route", "")
            if route.startswith(_UNWATCHED):
                continue
            key = f"{sample.labels.get('method', '')} {route}"
            bound = float(sample.labels["le"])
            buckets = merged.setdefault(key, {})
            buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return {key: sorted(buckets.items()) for key, buckets in merged.items()}


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
