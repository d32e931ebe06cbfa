"""Dependencies shared by the routes: the settings and the pools the app was built with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from pixelmill.config import Settings
from pixelmill.execution.pools import Pools


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pools(request: Request) -> Pools:
    pools: Pools = request.app.state.pools
    return pools


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolsDep = Annotated[Pools, Depends(get_pools)]
