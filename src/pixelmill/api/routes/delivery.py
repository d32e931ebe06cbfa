"""`GET /img/{signature}/{options}/{source}` and `POST /v1/urls`: signed delivery URLs.

The signature is its own authorization: `/img` is open even when API keys are set (an `<img>`
cannot send a key), and only a URL signed with a key of `PIXELMILL_URL_KEYS` does any work.
Signing (`POST /v1/urls`) is behind the API keys.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from pixelmill.api.deps import MetricsDep, PoolsDep, RuntimeDep, SettingsDep
from pixelmill.api.metrics import RequestMetrics
from pixelmill.api.openapi import CPU_ERRORS
from pixelmill.config import Settings
from pixelmill.delivery import images, signing, sources
from pixelmill.delivery.cache import Entry
from pixelmill.delivery.results import Results, cache_key
from pixelmill.errors import Forbidden, PixelmillError
from pixelmill.execution.pipeline import Limits
from pixelmill.imaging import codec

router = APIRouter(tags=["delivery"])
INFO_VERSION = "info-1"  # part of /info's cache keys: change it when the facts change

SIGNATURE = Path(
    description="base64url (no padding) of HMAC-SHA256(key, `{options}/{source}`), or `unsafe` "
    "when PIXELMILL_URL_UNSAFE=true",
    examples=["unsafe"],
)
OPTIONS = Path(
    description="Operations, comma-separated, as in /v1/transform; `_` for none",
    examples=["resize=0.5,format=webp"],
)
SOURCE = Path(
    description="`local/<path>`, `captions/<id>`, `faces/<id>`, `s3/<key>` or `url/<base64url>`",
    examples=["local/photos/cat.jpg"],
)


# what both delivery routes answer besides their 200 and 422
_ANSWERS: dict[int | str, dict[str, Any]] = {
    304: {"description": "`If-None-Match` names the current ETag; no body"},
    403: {"description": "A wrong, missing or truncated signature; a path outside the root"},
    404: {"description": "The source does not exist"},
    413: {"description": "The source is over the byte or pixel limit"},
    415: {"description": "The source is not a decodable image"},
    502: {"description": "A remote source failed"},
    504: {"description": "A remote source did not answer in time"},
    **CPU_ERRORS,
}


@router.get(
    "/img/{signature}/{options}/{source:path}",
    summary="An image through a signed URL, cached",
    response_class=Response,
    responses={
        200: {
            "description": "The image; `ETag`, `Cache-Control`, `X-Cache: hit|miss`, and "
            "`Vary: Accept` with `format=auto`",
            "content": {fmt.media_type: {} for fmt in codec.FORMATS.values()},
        },
        **_ANSWERS,
        422: {"description": "A bad option (named), or a malformed source"},
    },
)
async def image(
    request: Request,
    settings: SettingsDep,
    runtime: RuntimeDep,
    pools: PoolsDep,
    metrics: MetricsDep,
    signature: Annotated[str, SIGNATURE],
    options: Annotated[str, OPTIONS],
    source: Annotated[str, SOURCE],
) -> Response:
    """Verify, resolve the source's version, then 304, a cached hit, or the result made once."""
    started = time.perf_counter()
    signing.verify(
        settings.url_key_list, signature, f"{options}/{source}", unsafe=settings.url_unsafe
    )
    steps = images.parse_options(options, settings.max_operations)
    accept_header = request.headers.get("accept", "")
    accept = images.accepted(accept_header) if images.negotiates(steps) else ""
    found = await _resolve(source, runtime, settings, metrics)
    key = cache_key("img", found.tag, images.normalized(steps), accept)
    headers = _caching(settings, key)
    if images.negotiates(steps):
        headers["Vary"] = "Accept"
    if _matches(request.headers.get("if-none-match"), headers["ETag"]):
        metrics.delivered("revalidated", time.perf_counter() - started)
        return Response(status_code=304, headers=headers)

    async def make() -> Entry:
        async with pools.admit(request.is_disconnected):
            data = await asyncio.to_thread(found.read)
            entry = await images.render(
                pools,
                f"source {source[:80]!r}",
                data,
                steps,
                Limits.from_settings(settings),
                accept_header,
            )
        metrics.processed([step.op.name for step in steps], 1)
        return entry

    return await _answer(request, metrics, key, make, headers, started)


class Info(BaseModel):
    """What `/info` answers (imaging/info.py)."""

    width: int = Field(description="Upright width, in pixels")
    height: int = Field(description="Upright height, in pixels")
    format: str = Field(examples=["jpeg"])
    orientation: int = Field(description="The EXIF orientation the file states (1: none)")
    has_alpha: bool
    icc: str | None = Field(description="The ICC profile's description, or null")
    animated: bool
    frames: int
    faces: list[dict[str, int]] = Field(description="`{x, y, width, height}` in upright pixels")
    dominant_color: str = Field(examples=["#3a6ea5"])
    blurhash: str = Field(description="A placeholder, 4×3 components", examples=["LEHV6nWB2yk8"])


@router.get(
    "/info/{signature}/{source:path}",
    summary="Facts of an image through a signed URL, cached",
    response_model=Info,
    responses={
        **_ANSWERS,
        422: {"description": "A malformed source"},
    },
)
async def image_info(
    request: Request,
    settings: SettingsDep,
    runtime: RuntimeDep,
    pools: PoolsDep,
    metrics: MetricsDep,
    signature: Annotated[str, Path(description="Signs `info/{source}`", examples=["unsafe"])],
    source: Annotated[str, SOURCE],
) -> Response:
    """Size, format, orientation, alpha, ICC, frames, faces, dominant colour and blurhash;
    computed on a reduced copy once per version of the source, then cached like images."""
    started = time.perf_counter()
    signing.verify(settings.url_key_list, signature, f"info/{source}", unsafe=settings.url_unsafe)
    found = await _resolve(source, runtime, settings, metrics)
    key = cache_key("info", found.tag, INFO_VERSION)
    headers = _caching(settings, key)
    if _matches(request.headers.get("if-none-match"), headers["ETag"]):
        metrics.delivered("revalidated", time.perf_counter() - started)
        return Response(status_code=304, headers=headers)

    async def make() -> Entry:
        async with pools.admit(request.is_disconnected):
            data = await asyncio.to_thread(found.read)
            name = f"source {source[:80]!r}"
            facts = await pools.run(images.describe, name, data, Limits.from_settings(settings))
        return Entry("application/json", facts)

    return await _answer(request, metrics, key, make, headers, started)


class UrlRequest(BaseModel):
    options: str = Field("_", description="Operations, comma-separated; `_` for none")
    source: str = Field(description="`local/<path>`, `captions/<id>`, ...")
    info: bool = Field(False, description="Sign the `/info` URL of the source instead")

    model_config = ConfigDict(
        strict=True,  # `"info": "no"` is a 422, not a guess
        extra="forbid",
        json_schema_extra={"examples": [{"options": "resize=0.5", "source": "local/cat.jpg"}]},
    )


class SignedUrl(BaseModel):
    options: str
    source: str
    path: str = Field(description="The signed path: `/img/{signature}/{options}/{source}`")


@router.post(
    "/v1/urls",
    summary="Sign delivery URLs (for a web app's back end)",
    responses={
        422: {"description": "A bad option or source"},
        403: {"description": "This server signs no URLs: no key is configured"},
    },
)
async def sign_urls(
    settings: SettingsDep,
    items: Annotated[list[UrlRequest], Body(max_length=1000)],
) -> list[SignedUrl]:
    """Each `{options, source}` with its signed path, signed with the first URL key."""
    keys = settings.url_key_list
    if not keys:
        raise Forbidden("this server signs no URLs: PIXELMILL_URL_KEYS is not set")
    signed = []
    for item in items:
        sources.check_form(item.source)
        if item.info:
            path = signing.info_path(keys[0], item.source)
        else:
            images.parse_options(item.options, settings.max_operations)
            path = signing.image_path(keys[0], item.options, item.source)
        signed.append(SignedUrl(options=item.options, source=item.source, path=path))
    return signed


async def _answer(
    request: Request,
    metrics: RequestMetrics,
    key: str,
    make: Callable[[], Awaitable[Entry]],
    headers: dict[str, str],
    started: float,
) -> Response:
    """The cached entry of `key` (made once, however many ask at once), with its headers."""
    entry, hit = await results_of(request).get_or_make(key, make)
    status = "hit" if hit else "miss"
    headers["X-Cache"] = status
    metrics.delivered(status, time.perf_counter() - started, len(entry.data))
    return Response(entry.data, media_type=entry.media_type, headers=headers)


def results_of(request: Request) -> Results:
    results: Results = request.app.state.results
    return results


async def _resolve(
    source: str, runtime: RuntimeDep, settings: Settings, metrics: RequestMetrics
) -> sources.Source:
    """`sources.resolve`, timing remote fetches and counting how they end."""
    if not source.startswith("url/"):
        return await sources.resolve(source, runtime, settings)
    started = time.perf_counter()
    try:
        found = await sources.resolve(source, runtime, settings)
    except PixelmillError as exc:
        metrics.upstream(time.perf_counter() - started, str(exc.status_code))
        raise
    metrics.upstream(time.perf_counter() - started, "ok")
    return found


def _caching(settings: Settings, key: str) -> dict[str, str]:
    return {
        "ETag": f'"{key}"',
        "Cache-Control": f"public, max-age={settings.cache_max_age}",
    }


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names `etag` (weakly, as RFC 9110 compares it), or is `*`."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False
