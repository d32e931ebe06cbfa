"""Dependencies shared by the routes: the settings, pools, metrics and runtime of the app.

They are `async def` although they only read the app's state: FastAPI runs a plain `def`
dependency on its thread pool, a hop per dependency per request for an attribute read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pixelmill.api.metrics import RequestMetrics
from pixelmill.config import Settings
from pixelmill.execution.pools import Pools
from pixelmill.services.runtime import Runtime


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_pools(request: Request) -> Pools:
    pools: Pools = request.app.state.pools
    return pools


async def get_metrics(request: Request) -> RequestMetrics:
    metrics: RequestMetrics = request.app.state.metrics
    return metrics


async def get_runtime(request: Request) -> Runtime:
    """The database, queue and blob store, opened when the app started."""
    runtime: Runtime = request.app.state.runtime
    return runtime


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[RequestMetrics, Depends(get_metrics)]
PoolsDep = Annotated[Pools, Depends(get_pools)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
