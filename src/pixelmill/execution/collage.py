"""The collage job: validate every upload, render each image in its own worker process
straight into a shared canvas, encode the canvas once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from pixelmill.errors import TooLarge
from pixelmill.execution.pipeline import Limits, isolated
from pixelmill.execution.pools import Pools
from pixelmill.execution.tasks import render_collage_cell, shared_canvas
from pixelmill.imaging import codec
from pixelmill.imaging.ops.collage import CollageRequest, layout


@dataclass(frozen=True, slots=True)
class Upload:
    """One input image: the name users know it by (field or file name) and its bytes."""

    name: str
    data: bytes


async def make_collage(
    pools: Pools,
    uploads: Sequence[Upload],
    params: CollageRequest,
    limits: Limits,
) -> bytes:
    """The collage of `uploads` as PNG bytes. Every header is checked before any decoding."""
    infos = [codec.sniff(u.data, max_pixels=limits.max_pixels, name=u.name) for u in uploads]
    plan = layout([(info.width, info.height) for info in infos])
    if plan.width * plan.height > limits.max_output_pixels:
        raise TooLarge(
            f"the collage would be {plan.width}×{plan.height} = {plan.width * plan.height:,} "
            f"pixels; the limit is {limits.max_output_pixels:,} pixels"
        )
    with shared_canvas(plan.width, plan.height) as (ref, canvas):
        results = await asyncio.gather(
            *(
                pools.run(
                    render_collage_cell,
                    *(ref, corner, upload.data, info, params, upload.name),
                    isolate=isolated(info),
                )
                for upload, info, corner in zip(uploads, infos, plan.corners, strict=True)
            ),
            return_exceptions=True,  # wait for every worker before the canvas goes away
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        encode = partial(
            codec.encode,
            canvas,
            png_compression=limits.png_compression,
            bands=pools.threads,
            map_fn=pools.band_map,
        )
        png = await pools.run_local(encode)
        del canvas
    return png
