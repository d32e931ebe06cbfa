"""Health, three ways (each answers `HEAD` too, like every GET: api/head.py):

- `GET /health`: the state of every component, this process's and what all processes share
  (database, queue, events, storage, a live consumer of each service); 503 `degraded` when
  any is down. For people and dashboards.
- `GET /health/live`: 200 while this process answers and its worker pool works or can be
  replaced. Nothing shared is asked: a Redis or database outage restarts no process.
- `GET /health/ready`: 200 when this process can take requests: its pool and results folder
  are up and it is not draining. A shared dependency being down does not make it 503.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pixelmill import __version__
from pixelmill.api.deps import PoolsDep, SettingsDep
from pixelmill.config import Settings
from pixelmill.execution.pools import Pools
from pixelmill.services.registry import SERVICES
from pixelmill.services.runtime import Runtime

router = APIRouter(tags=["health"])

# The probes' own pool check: shorter than a probe's usual 5 s timeout. All runners busy
# with requests ("busy") is healthy.
PROBE_POOL_TIMEOUT = 2.0


async def _check(probe: Callable[[], bool], timeout: float = 3.0) -> bool:
    """A blocking probe, off the event loop, that counts as down if it hangs or raises."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(probe), timeout)
    except Exception:
        return False


async def _pool_state(pools: Pools) -> str:
    """The pool's `ping` ('ok', 'busy' or 'down'), asked twice when down: a ping that finds
    the process pool broken replaces it, and the second one asks the new pool."""
    try:
        state = await pools.ping(timeout=PROBE_POOL_TIMEOUT)
        if state == "down":
            state = await pools.ping(timeout=PROBE_POOL_TIMEOUT)
    except Exception:  # a new pool that cannot start its processes
        return "down"
    return state


def _workers(pools: Pools, state: str) -> dict[str, Any]:
    return {
        # "busy": every worker is taken by requests in hand, which is healthy.
        "status": "down" if state == "down" else "ok",
        "detail": state,
        "execution": pools.execution,
        "processes": pools.worker_processes,
        "threads": pools.threads,
        "restarts": pools.restarts,
    }


def _results_dir(settings: Settings) -> dict[str, Any]:
    return {"status": "ok" if os.access(settings.results_dir, os.W_OK) else "down"}


def _answer(components: dict[str, dict[str, Any]], failed: str) -> JSONResponse:
    """200 `ok`, or 503 with status FAILED and `failing` naming what is down."""
    failing = [name for name, state in components.items() if state["status"] != "ok"]
    body: dict[str, Any] = {
        "status": failed if failing else "ok",
        "version": __version__,
        "components": components,
    }
    if failing:
        body["failing"] = failing
    return JSONResponse(body, status_code=503 if failing else 200)


_WORKERS = {
    "status": "ok",
    "detail": "ok",
    "execution": "processes",
    "processes": 2,
    "threads": 2,
    "restarts": 0,
}
_EXAMPLE = {
    "status": "ok",
    "version": __version__,
    "components": {
        "workers": _WORKERS,
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
_LIVE = {"status": "ok", "version": __version__, "components": {"workers": _WORKERS}}
_READY = {
    "status": "ok",
    "version": __version__,
    "components": {"workers": _WORKERS, "results_dir": {"status": "ok"}},
}
# what `pixelmill serve` answers on /health and /health/ready while it drains (cli.py)
_DRAINING = {"status": "draining", "failing": ["draining"]}


def _json(example: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"example": example}}


@router.get(
    "/health",
    summary="Service health",
    responses={
        200: {"description": "Every component works", "content": _json(_EXAMPLE)},
        503: {
            "description": "A component is down: `status` is `degraded`, `failing` names it",
            "content": _json({**_EXAMPLE, "status": "degraded", "failing": ["database"]}),
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
        "workers": _workers(pools, workers),
        "results_dir": _results_dir(settings),
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
    return _answer(components, "degraded")


@router.get(
    "/health/live",
    summary="Liveness: restart this process when it fails",
    responses={
        200: {
            "description": "The process answers and its worker pool works",
            "content": _json(_LIVE),
        },
        503: {
            "description": "The worker pool is down and could not be replaced",
            "content": _json(
                {
                    **_LIVE,
                    "status": "down",
                    "components": {"workers": {**_WORKERS, "status": "down", "detail": "down"}},
                    "failing": ["workers"],
                }
            ),
        },
    },
)
async def live(pools: PoolsDep) -> JSONResponse:
    """200 while this process's event loop answers and its worker pool works or was just
    replaced (a pool whose processes died is replaced by the check itself; all runners busy
    counts as working); 503 `down` when even a new pool does not answer. Never asks Redis,
    the database or storage, so an outage there restarts no process: a liveness probe."""
    return _answer({"workers": _workers(pools, await _pool_state(pools))}, "down")


@router.get(
    "/health/ready",
    summary="Readiness: send this process requests",
    responses={
        200: {"description": "This process can take requests", "content": _json(_READY)},
        503: {
            "description": "Not now: `unready` when its worker pool or results folder is down "
            "(`failing` names it), `draining` after SIGTERM with `PIXELMILL_DRAIN_SECONDS`",
            "content": {
                "application/json": {
                    "examples": {
                        "unready": {
                            "summary": "The results folder is not writable",
                            "value": {
                                **_READY,
                                "status": "unready",
                                "components": {
                                    "workers": _WORKERS,
                                    "results_dir": {"status": "down"},
                                },
                                "failing": ["results_dir"],
                            },
                        },
                        "draining": {
                            "summary": "Stopping: finishing what it holds",
                            "value": _DRAINING,
                        },
                    }
                }
            },
        },
    },
)
async def ready(settings: SettingsDep, pools: PoolsDep) -> JSONResponse:
    """200 when this process can take requests: its worker pool answers (or is busy) and its
    results folder is writable; 503 `unready` naming what is not. While `pixelmill serve`
    drains after SIGTERM (`PIXELMILL_DRAIN_SECONDS`) it is 503 `draining`, as `/health` is
    (cli.py answers both), so that a load balancer stops sending it requests.

    Shared dependencies (database, Redis, storage, events) and the background services'
    consumers are left out, and so this is 200 while they are down: every process sees the
    same outage, and taking them all out of the load balancer would turn away the requests
    that still work (transforms, collages, OCR and pipelines need none of them; signed
    delivery needs only storage) along with the ones that do not, which answer their own
    503 with a `detail` (a caption or face upload while Redis is down). Nothing shared is
    asked, so the answer is quick whatever is down."""
    components = {
        "workers": _workers(pools, await _pool_state(pools)),
        "results_dir": _results_dir(settings),
    }
    return _answer(components, "unready")
