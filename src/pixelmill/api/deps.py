"""Dependencies shared by the routes: the settings, pools, metrics and runtime of the app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pixelmill.api.metrics import RequestMetrics
from pixelmill.config import Settings
from pixelmill.execution.pools import Pools
from pixelmill.services.runtime import Runtime


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pools(request: Request) -> Pools:
    pools: Pools = request.app.state.pools
    return pools


def get_metrics(request: Request) -> RequestMetrics:
    metrics: RequestMetrics = request.app.state.metrics
    return metrics


def get_runtime(request: Request) -> Runtime:
    """The database, queue and blob store, opened when the app started."""
    runtime: Runtime = request.app.state.runtime
    return runtime


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[RequestMetrics, Depends(get_metrics)]
PoolsDep = Annotated[Pools, Depends(get_pools)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
