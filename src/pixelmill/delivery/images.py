"""What `/img` and `/info` compute on a miss: the URL's chain on the source's bytes (one image
out), or the image's facts as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pixelmill.delivery.cache import Entry
from pixelmill.errors import InvalidParameter
from pixelmill.execution.pipeline import Limits, check, choose, isolated, transform
from pixelmill.execution.pools import Pools
from pixelmill.imaging import codec, info, pipeline
from pixelmill.imaging.ops import output
from pixelmill.imaging.pipeline import Step

NONE = "_"  # the options of a URL that asks for no operation


def parse_options(options: str, max_steps: int) -> list[Step]:
    """The chain a URL's options name (`_`: none); 422 naming a bad one."""
    if options == NONE:
        return []
    if options.lstrip().startswith("["):
        raise InvalidParameter("options are comma-separated name=value items, not JSON")
    return pipeline.parse(pipeline.parse_text(options), max_steps)


def normalized(steps: Sequence[Step]) -> str:
    """The chain as one canonical text: equal chains written differently share results."""
    return json.dumps([step.describe() for step in steps], sort_keys=True, separators=(",", ":"))


def negotiates(steps: Sequence[Step]) -> bool:
    """Whether the chain leaves the format to the request's Accept (`format=auto`)."""
    return pipeline.output_options(steps).format == output.AUTO


def accepted(accept: str) -> str:
    """The part of an Accept header `format=auto` depends on (`output.negotiate`): `avif`,
    `webp`, or `` (JPEG, PNG with alpha, GIF for an animation)."""
    for name in ("avif", "webp"):
        if output.names(accept, codec.FORMATS[name].media_type):
            return name
    return ""


async def render(
    pools: Pools, name: str, data: bytes, steps: Sequence[Step], limits: Limits, accept: str
) -> Entry:
    """Check (header, pixel limits, planned sizes), then run the chain in a worker."""
    item = await pools.run_local(check, name, data, steps, limits)
    if len(item.sizes) != 1:
        raise InvalidParameter(
            f"the options make {len(item.sizes)} images; a delivery URL answers one "
            "(leave split out)"
        )
    out = choose(item, steps, None, None, "the URL's options", limits.max_animation_pixels, accept)
    (result,) = await pools.run(
        transform, item, steps, out, limits.png_compression, isolate=isolated(item.info)
    )
    return Entry(out.format.media_type, result)


def describe(name: str, data: bytes, limits: Limits) -> bytes:
    """In a worker: the limits checked from the header, then `info.describe` as JSON."""
    codec.check_bytes(len(data), limits.max_bytes, name)
    header = codec.sniff(
        data,
        max_pixels=limits.max_pixels,
        name=name,
        max_animation_pixels=limits.max_animation_pixels,
    )
    facts = info.describe(data, header, name=name)
    return json.dumps(facts, separators=(",", ":")).encode()
