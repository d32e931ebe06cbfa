"""`GET /health`: the state of each component."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from pixelmill import __version__
from pixelmill.api.deps import PoolsDep, SettingsDep

router = APIRouter(tags=["health"])

_EXAMPLE = {
    "status": "ok",
    "version": __version__,
    "components": {
        "workers": {"status": "ok", "processes": 2, "threads": 2, "restarts": 0},
        "results_dir": {"status": "ok"},
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
        503: {"description": "A component is down: `status` is `degraded`, `failing` names it"},
    },
)
async def health(settings: SettingsDep, pools: PoolsDep) -> JSONResponse:
    """200 with each component's state; 503 `degraded` when one is down."""
    workers = await pools.ping(timeout=2.0)
    components: dict[str, dict[str, Any]] = {
        "workers": {
            # "busy": every worker is taken by requests in hand, which is healthy.
            "status": "down" if workers == "down" else "ok",
            "detail": workers,
            "processes": pools.processes,
            "threads": pools.threads,
            "restarts": pools.restarts,
        },
        "results_dir": {
            "status": "ok" if os.access(settings.results_dir, os.W_OK) else "down",
        },
    }
    failing = [name for name, state in components.items() if state["status"] != "ok"]
    body: dict[str, Any] = {
        "status": "degraded" if failing else "ok",
        "version": __version__,
        "components": components,
    }
    if failing:
        body["failing"] = failing
    return JSONResponse(body, status_code=503 if failing else 200)
