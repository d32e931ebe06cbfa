"""`GET /metrics`: Prometheus text format, every name prefixed `pixelmill_`.

Request counts and latencies are recorded by `MetricsMiddleware` per route template (so
`/api/v1/images/{id}`, not each id). Queue depths, worker heartbeats, websocket clients and pool
restarts are read when scraped (`LiveCollector`). With `PROMETHEUS_MULTIPROC_DIR` set (`serve
--workers N` sets it), request metrics are written there by every API process and summed when
scraped; otherwise each app keeps its own registry, so tests can build several apps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixelmill.jobs.stats import BUCKETS, bucket_label
from pixelmill.services.registry import SERVICES

router = APIRouter(tags=["metrics"])


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class RequestMetrics:
    """The request counter and latency histogram of one app."""

    def __init__(self) -> None:
        # multi-process: values go to files in the directory; nothing registered in-process
        self.registry = None if multiprocess_dir() else CollectorRegistry()
        labels = ["method", "route", "status"]
        self.requests = Counter(
            "pixelmill_http_requests", "HTTP requests answered.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "pixelmill_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            labels,
            registry=self.registry,
        )
        self.images = Counter(
            "pixelmill_images_processed",
            "Images through each operation in the API's own requests (collage, pipeline, "
            "transform, ocr); the background services' work is pixelmill_jobs_total.",
            ["op"],
            registry=self.registry,
        )

        self.delivery = Histogram(
            "pixelmill_delivery_duration_seconds",
            "Time to answer /img and /info, by cache status (hit, miss, revalidated: a 304).",
            ["cache"],
            registry=self.registry,
        )
        self.delivered_bytes = Counter(
            "pixelmill_delivery_bytes",
            "Bytes of images and facts answered by /img and /info, by cache status.",
            ["cache"],
            registry=self.registry,
        )
        self.upstream_fetch = Histogram(
            "pixelmill_upstream_fetch_duration_seconds",
            "Time to fetch a remote (url/) source, by outcome (ok, or the HTTP status).",
            ["outcome"],
            registry=self.registry,
        )

    def delivered(self, cache: str, seconds: float, size: int = 0) -> None:
        """A delivery answer: `cache` is hit, miss or revalidated."""
        self.delivery.labels(cache).observe(seconds)
        if size:
            self.delivered_bytes.labels(cache).inc(size)

    def upstream(self, seconds: float, outcome: str) -> None:
        """A remote source fetched (`ok`) or failed (its status)."""
        self.upstream_fetch.labels(outcome).observe(seconds)

    def processed(self, ops: Iterable[str], images: int) -> None:
        """`images` went through each of `ops`."""
        for op in ops:
            self.images.labels(op).inc(images)


class MetricsMiddleware:
    """Count and time every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            labels = (scope["method"], route, str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)


class LiveCollector(Collector):
    """What is read at scrape time: queues, heartbeats, websocket clients, pool restarts."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Any]:
        runtime = getattr(self.state, "runtime", None)
        if runtime is not None:
            depth = GaugeMetricFamily(
                "pixelmill_queue_depth", "Messages not yet acknowledged.", labels=["stream"]
            )
            pending = GaugeMetricFamily(
                "pixelmill_queue_pending",
                "Messages taken by a worker and not yet acknowledged.",
                labels=["stream", "group"],
            )
            dead = GaugeMetricFamily(
                "pixelmill_queue_dead_letters", "Messages given up on.", labels=["stream"]
            )
            alive = GaugeMetricFamily(
                "pixelmill_workers_alive",
                "Workers of a service whose heartbeat is recent.",
                labels=["service"],
            )
            for service in SERVICES:
                stream, group = service.stream, service.name
                try:
                    depth.add_metric([stream], runtime.queue.depth(stream))
                    pending.add_metric([stream, group], runtime.queue.pending(stream, group))
                    dead.add_metric([stream], runtime.queue.dead(stream))
                except Exception:  # a queue that is down must not break the scrape
                    pass
                alive.add_metric([service.name], runtime.alive(service.name))
            yield from (depth, pending, dead, alive)
            yield from _job_metrics(runtime)
        hub = getattr(self.state, "hub", None)
        if hub is not None:
            yield GaugeMetricFamily(
                "pixelmill_websocket_clients", "Websocket clients connected.", value=hub.clients
            )
            stats = CounterMetricFamily(
                "pixelmill_websocket_events", "Websocket hub counters.", labels=["event"]
            )
            for event, count in vars(hub.stats).items():
                stats.add_metric([event], count)
            yield stats
        results = getattr(self.state, "results", None)
        if results is not None:
            yield from _delivery_metrics(results)
        pools = getattr(self.state, "pools", None)
        if pools is not None:
            yield CounterMetricFamily(
                "pixelmill_pool_restarts", "Process pool restarts.", value=pools.restarts
            )
            yield GaugeMetricFamily(
                "pixelmill_work_in_flight",
                "Requests doing CPU work in this process now.",
                value=pools.in_flight,
            )
            yield GaugeMetricFamily(
                "pixelmill_work_in_flight_limit",
                "Requests this process takes at once before answering 429.",
                value=pools.max_in_flight,
            )
            yield CounterMetricFamily(
                "pixelmill_work_refused", "Requests refused with 429: busy.", value=pools.refused
            )
            yield CounterMetricFamily(
                "pixelmill_work_timeouts",
                "Requests whose work passed the processing timeout (503).",
                value=pools.timeouts,
            )
            yield CounterMetricFamily(
                "pixelmill_work_stopped",
                "Chains a worker stopped between two steps: past their deadline, or their "
                "client gone.",
                value=pools.stopped,
            )


def _delivery_metrics(results: Any) -> Iterator[Any]:
    """The result cache of /img and /info: hits, misses, results computed, bytes, evictions."""
    stats = results.stats
    lookups = CounterMetricFamily(
        "pixelmill_delivery_cache",
        "Result cache lookups of /img and /info in this process, by outcome.",
        labels=["outcome"],
    )
    lookups.add_metric(["hit"], stats.hits)
    lookups.add_metric(["miss"], stats.misses)
    yield lookups
    yield CounterMetricFamily(
        "pixelmill_delivery_computed",
        "Results this process computed (each one decoded its source once); concurrent "
        "requests for one result share one computation.",
        value=stats.computed,
    )
    yield CounterMetricFamily(
        "pixelmill_delivery_joined",
        "Requests that waited for a result another request was computing.",
        value=stats.joined,
    )
    cache = results.cache
    if cache is not None:
        yield GaugeMetricFamily(
            "pixelmill_delivery_cache_bytes",
            "Bytes the result cache holds (as this process last saw it).",
            value=cache.stats.stored_bytes,
        )
        yield CounterMetricFamily(
            "pixelmill_delivery_cache_evictions",
            "Results this process removed from the cache to keep it under its bound.",
            value=cache.stats.evictions,
        )
        yield CounterMetricFamily(
            "pixelmill_delivery_cache_evicted_bytes",
            "Bytes of the results this process evicted.",
            value=cache.stats.evicted_bytes,
        )


def _job_metrics(runtime: Any) -> Iterator[Any]:
    """Messages handled by each background service, by outcome, and how long they took."""
    try:
        totals = runtime.job_stats.read(tuple(service.name for service in SERVICES))
    except Exception:  # statistics that cannot be read must not break the scrape
        return
    jobs = CounterMetricFamily(
        "pixelmill_jobs",
        "Messages handled by a service, by outcome.",
        labels=["service", "outcome"],
    )
    durations = HistogramMetricFamily(
        "pixelmill_job_duration_seconds", "Time to handle one message.", labels=["service"]
    )
    for service, stats in totals.items():
        for outcome, count in stats.outcomes.items():
            jobs.add_metric([service, outcome], count)
        buckets = [(bucket_label(b), n) for b, n in zip(BUCKETS, stats.buckets, strict=True)]
        durations.add_metric([service], buckets, stats.sum)
    yield from (jobs, durations)


def _scrape(request: Request) -> bytes:
    metrics: RequestMetrics = request.app.state.metrics
    registry = CollectorRegistry()
    if metrics.registry is None:
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(LiveCollector(request.app.state))
        return generate_latest(registry)
    registry.register(LiveCollector(request.app.state))
    return generate_latest(metrics.registry) + generate_latest(registry)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format; a plain `def`, so the queue is read off the event loop."""
    return Response(_scrape(request), media_type=CONTENT_TYPE_LATEST)
