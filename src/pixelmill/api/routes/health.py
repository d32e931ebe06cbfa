"""`GET /health`: the state of each component (`HEAD /health`, like every GET: api/head.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pixelmill import __version__
from pixelmill.api.deps import PoolsDep, SettingsDep
from pixelmill.services.registry import SERVICES
from pixelmill.services.runtime import Runtime

router = APIRouter(tags=["health"])


async def _check(probe: Callable[[], bool], timeout: float = 3.0) -> bool:
    """A blocking probe, off the event loop, that counts as down if it hangs or raises."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(probe), timeout)
    except Exception:
        return False


_EXAMPLE = {
    "status": "ok",
    "version": __version__,
    "components": {
        "workers": {
            "status": "ok",
            "execution": "processes",
            "processes": 2,
            "threads": 2,
            "restarts": 0,
        },
        "results_dir": {"status": "ok"},
        "database": {"status": "ok"},
        "queue": {"status": "ok", "kind": "embedded"},
        "captioner": {"status": "ok", "alive": 1},
        "storer": {"status": "ok", "alive": 1},
        "faces": {"status": "ok", "alive": 1},
        "events": {"status": "ok"},
        "storage": {"status": "ok", "kind": "local"},
    },
}


@router.get(
    "/health",
    summary="Service health",
    responses={
        200: {
            "description": "Every component works",
            "content": {"application/json": {"example": _EXAMPLE}},
        },
        503: {
            "description": "A component is down: `status` is `degraded`, `failing` names it",
            "content": {
                "application/json": {
                    "example": {**_EXAMPLE, "status": "degraded", "failing": ["database"]}
                }
            },
        },
    },
)
async def health(request: Request, settings: SettingsDep, pools: PoolsDep) -> JSONResponse:
    """200 with each component's state; 503 `degraded` when one is down."""
    runtime: Runtime = request.app.state.runtime
    workers, database, queue, events, storage = await asyncio.gather(
        pools.ping(timeout=2.0),
        _check(runtime.database.ping),
        _check(runtime.queue.ping),
        _check(runtime.broadcaster.ping),
        _check(runtime.blobs.ping),
    )
    components: dict[str, dict[str, Any]] = {
        "workers": {
            # "busy": every worker is taken by requests in hand, which is healthy.
            "status": "down" if workers == "down" else "ok",
            "detail": workers,
            "execution": pools.execution,
            "processes": pools.worker_processes,
            "threads": pools.threads,
            "restarts": pools.restarts,
        },
        "results_dir": {
            "status": "ok" if os.access(settings.results_dir, os.W_OK) else "down",
        },
        "database": {"status": "ok" if database else "down"},
        "queue": {
            "status": "ok" if queue else "down",
            "kind": "embedded" if runtime.embedded else "redis",
        },
        "events": {"status": "ok" if events else "down"},
        "storage": {"status": "ok" if storage else "down", "kind": runtime.blobs.kind},
    }
    for service in SERVICES:
        alive = await asyncio.to_thread(runtime.alive, service.name) if queue else 0
        components[service.name] = {"status": "ok" if alive else "down", "alive": alive}
    failing = [name for name, state in components.items() if state["status"] != "ok"]
    body: dict[str, Any] = {
        "status": "degraded" if failing else "ok",
        "version": __version__,
        "components": components,
    }
    if failing:
        body["failing"] = failing
    return JSONResponse(body, status_code=503 if failing else 200)
