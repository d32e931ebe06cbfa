"""`create_app(settings)`: the FastAPI application, built from settings, nothing global."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pixelmill import __version__
from pixelmill.api.docs import install_docs
from pixelmill.api.errors import install_error_handlers
from pixelmill.api.head import HeadAsGetMiddleware
from pixelmill.api.limits import BodyLimitMiddleware, ProcessHeaderMiddleware
from pixelmill.api.metrics import MetricsMiddleware, RequestMetrics
from pixelmill.api.metrics import router as metrics_router
from pixelmill.api.openapi import install_openapi
from pixelmill.api.request_id import RequestIdMiddleware
from pixelmill.api.routes import (
    admin,
    captions,
    collage,
    delivery,
    faces,
    health,
    ocr,
    pipeline,
    preview,
    transform,
    ui,
)
from pixelmill.api.security import ApiKeyMiddleware
from pixelmill.api.warm import warm_routes
from pixelmill.config import Settings
from pixelmill.delivery import signing
from pixelmill.delivery.cache import BlobCache, DiskCache, ResultCache
from pixelmill.delivery.results import Results
from pixelmill.events.hub import Hub
from pixelmill.execution.cpus import available_cpus
from pixelmill.execution.memory import cap_arenas, keep_freed_buffers
from pixelmill.execution.pools import Pools
from pixelmill.imaging.registry import markdown_table
from pixelmill.log import setup_logging
from pixelmill.services.faces import CHANNEL as FACES_CHANNEL
from pixelmill.services.runtime import Runtime
from pixelmill.web import STATIC_DIR

DESCRIPTION = """
Self-hosted image processing: collages, operation pipelines, captions, face detection and
OCR on one engine of pure image operations. Errors are JSON `{"detail": ...}`.

## Operations

`POST /pipeline` and `POST /v1/transform` take chains of these operations, written
`"name=value"` (the value sets the parameter marked as such) or `{"op": "name", ...}`.
"""


def create_app(
    settings: Settings | None = None, *, started: Callable[[], None] | None = None
) -> FastAPI:
    """Build the application; pools start with it and stop with it. `started` is called once
    they have started and been warmed, before the first request is served."""
    settings = settings or Settings()
    setup_logging(settings)
    keep_freed_buffers()  # every API process: uploads, results and the embedded services
    if settings.malloc_arenas is not None:  # before the threads that would make their own
        cap_arenas(settings.malloc_arenas)
    cpus = available_cpus()
    pools = Pools(
        settings.process_workers or cpus,
        settings.thread_workers or cpus,
        max_in_flight=settings.max_in_flight,
        timeout=settings.processing_timeout_seconds,
        execution=settings.execution,
        isolated=settings.isolated_workers or settings.process_workers or cpus,
        trim_seconds=settings.memory_trim_seconds,
        arenas=settings.malloc_arenas,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.results_dir.mkdir(parents=True, exist_ok=True)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.files_root_path.mkdir(parents=True, exist_ok=True)
        # side by side: the database (and its migrations), the pools' warm-up and the
        # router's (so that no first request builds its route's models)
        runtime, _, _ = await asyncio.gather(
            asyncio.to_thread(Runtime.open, settings),
            asyncio.to_thread(pools.start),
            warm_routes(app),
        )
        app.state.runtime = runtime
        app.state.results = result_cache(settings, runtime)
        try:
            run_workers = settings.run_workers
            if run_workers is None:
                run_workers = runtime.embedded
            if run_workers:
                runtime.start_workers(pools=pools)  # their pixel work: on the pools
            runtime.start_requeue()
            hub = Hub(max_clients=settings.max_websocket_clients)
            app.state.hub = hub
            pump = asyncio.create_task(
                hub.pump(runtime.broadcaster, FACES_CHANNEL, with_images(settings.url_key_list))
            )
            if started is not None:
                started()
            try:
                yield
            finally:
                pump.cancel()
                await hub.close_all()
        finally:
            await asyncio.to_thread(runtime.close)
            await asyncio.to_thread(pools.shutdown)

    app = FastAPI(
        title="pixelmill",
        version=__version__,
        description=DESCRIPTION + "\n" + markdown_table(),
        lifespan=lifespan,
        docs_url=None,  # install_docs: the same pages, with their files served from here
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.pools = pools
    app.add_middleware(HeadAsGetMiddleware)  # innermost, so the middlewares outside see a HEAD
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.max_request_bytes,
        timeout=settings.request_body_timeout_seconds,
    )
    if settings.api_key_list:  # inside the header middleware, so a 401 names its process too
        app.add_middleware(ApiKeyMiddleware, keys=settings.api_key_list)
    app.add_middleware(ProcessHeaderMiddleware)
    app.state.metrics = RequestMetrics()
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestIdMiddleware)  # outermost: every log line of the request has it
    install_error_handlers(app)
    install_openapi(app, api_keys=bool(settings.api_key_list))
    install_docs(app)
    app.include_router(health.router)
    app.include_router(metrics_router)
    app.include_router(collage.router)
    app.include_router(pipeline.router)
    app.include_router(transform.router)
    app.include_router(captions.router)
    app.include_router(faces.router)
    app.include_router(ocr.router)
    app.include_router(preview.router)
    app.include_router(delivery.router)
    app.include_router(admin.router)
    app.include_router(ui.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def result_cache(settings: Settings, runtime: Runtime) -> Results:
    """Delivery's results: in the S3 bucket when the blob store is one, else on disk."""
    cache: ResultCache | None = None
    if runtime.blobs.kind == "s3":
        cache = BlobCache(runtime.blobs)
    elif settings.cache_bytes > 0:
        cache = DiskCache(settings.cache_path, settings.cache_bytes)
    return Results(cache, runtime.redis, settings.redis_prefix)


def with_images(url_keys: list[str]) -> Callable[[str], str] | None:
    """What this process adds to each faces event for its websocket clients: the signed
    delivery paths the gallery shows the image with (None without URL keys)."""
    if not url_keys:
        return None

    def edit(message: str) -> str:
        try:
            event = json.loads(message)
            event["images"] = signing.gallery(url_keys, f"faces/{event['id']}")
        except (ValueError, KeyError, TypeError):
            return message  # not an event of ours: passed on as it came
        return json.dumps(event)

    return edit
