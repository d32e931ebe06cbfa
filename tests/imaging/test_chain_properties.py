"""Properties of any chain a client may send: refused with InvalidParameter or run as planned."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pixelmill.errors import InvalidParameter
from pixelmill.imaging import pipeline
from pixelmill.imaging.registry import OPERATIONS

# No example database: nothing written into the working tree; failures print their example.
SETTINGS = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

NAMES = [*OPERATIONS, "splitQuadrants"]
FIELDS = sorted(
    {name for op in OPERATIONS.values() for name in op.params.model_fields} | {"geometry"}
)
# Values users write, in range and out of it, as the string form carries them.
WORDS = [
    *("None", "false", "False", "True", "true", "", " ", "0", "1", "2", "3", "0.5", "-1"),
    *("0.05", "101", "255", "256", "1e400", "nan", "inf", "-inf", "1_000", "0x10", "٣"),
    *("jpg", "JPEG", "png", "gif", "horizontal", "both", "mean", "#ffffff", "#12345678"),
    *("4x3", "4x3+1+1", "100x100+0+0", "0x0", "3x2+99+0", "x", "=", "é", "\x00"),
]

scalars = (
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=8)
)
# Nested junk as JSON carries it, and as Python callers may pass it (non-string keys, tuples).
json_junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
junk = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner)
        | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=3)
    ),
    max_leaves=8,
)
names = st.sampled_from(NAMES) | st.text(max_size=12)
values = st.sampled_from(WORDS) | st.integers(-(10**30), 10**30).map(str) | st.text(max_size=10)
plausible = (
    st.integers(-5, 300)
    | st.floats(-10, 400, allow_nan=False)
    | st.sampled_from(WORDS)
    | st.sampled_from(["middle", "vertical", "webp", "#000000ff"])
)
string_items = st.builds(
    lambda name, value: name if value is None else f"{name}={value}", names, st.none() | values
)


def objects(nested: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`{"op": name, field: value, ...}` with real and made-up names, fields and values."""
    return st.builds(
        lambda name, fields: {"op": name, **fields},
        names | nested,
        st.dictionaries(
            st.sampled_from(FIELDS) | st.text(max_size=8), plausible | nested, max_size=3
        ),
    )


items = string_items | objects(junk) | junk
chains = st.lists(items, max_size=6) | junk
json_items = string_items | objects(json_junk) | json_junk

# Chains most of which are accepted, to run them: every operation with values in range.
COMMON = [
    *("resize=0.5", "resize=2", "split", "splitQuadrants=True", "split=False", "crop=3x2+1+1"),
    *("crop=5x5", "rotate=90", "rotate=-90", "rotate=180", "flip", "flip=vertical", "flip=both"),
    *("autorotate", "grayscale", "brightness=40", "contrast=2", "threshold=100", "blur=3"),
    *("blur=0", "sharpen", "grid=3", "collage", "format=webp", "quality=30"),
]
in_range = (
    st.sampled_from(COMMON)
    | st.floats(0.06, 4).map(lambda f: f"resize={f}")
    | st.builds(
        lambda w, h: {"op": "resize", "width": w, "height": h},
        st.integers(1, 30),
        st.none() | st.integers(1, 30),
    )
    | st.builds(
        lambda angle, colour: {"op": "rotate", "angle": angle, "background": colour},
        st.floats(-360, 360),
        st.sampled_from(["#000000", "#ff8000", "12345678"]),
    )
    | st.builds(
        lambda x, y, w, h: {"op": "crop", "x": x, "y": y, "width": w, "height": h},
        st.integers(0, 12),
        st.integers(0, 12),
        st.none() | st.integers(1, 12),
        st.none() | st.integers(1, 12),
    )
    | st.builds(
        lambda offset, factor: {"op": "brightness", "offset": offset, "factor": factor},
        st.floats(-255, 255),
        st.floats(0, 10),
    )
    | st.builds(
        lambda factor, pivot: {"op": "contrast", "factor": factor, "pivot": pivot},
        st.floats(0, 10),
        st.sampled_from(["middle", "mean"]),
    )
    | st.integers(0, 255).map(lambda v: f"threshold={v}")
    | st.integers(0, 30).map(lambda k: f"blur={2 * k + 1}")
    | st.builds(
        lambda amount, radius: {"op": "sharpen", "amount": amount, "radius": radius},
        st.floats(0, 10),
        st.floats(0.1, 50),
    )
    | st.builds(
        lambda size, threshold: {"op": "grid", "segment_size": size, "threshold": threshold},
        st.integers(1, 20),
        st.floats(0, 255),
    )
)
runnable_chains = st.lists(in_range | string_items, min_size=1, max_size=5)


def outcome(chain: Any) -> list[dict[str, Any]] | str:
    """The normalized steps, or the refusal's message; any other exception escapes."""
    try:
        return [step.describe() for step in pipeline.parse(chain)]
    except InvalidParameter as exc:
        assert exc.detail and exc.status_code == 422
        return exc.detail


@SETTINGS
@given(chains)
def test_parse_returns_steps_or_refuses(chain: Any) -> None:
    outcome(chain)


@SETTINGS
@given(st.text(max_size=60) | st.lists(values, max_size=4).map(",".join))
def test_text_form_returns_items_or_refuses(text: str) -> None:
    try:
        parsed = pipeline.parse_text(text)
    except InvalidParameter:
        return
    outcome(parsed)


@SETTINGS
@given(st.lists(json_items, max_size=6))
def test_json_text_means_the_same_as_the_list(chain: list[Any]) -> None:
    assert outcome(pipeline.parse_text(json.dumps(chain))) == outcome(chain)


@SETTINGS
@given(
    runnable_chains,
    st.integers(1, 12),
    st.integers(1, 12),
    st.sampled_from([1, 3, 4]),
    st.integers(0, 2**32 - 1),
)
def test_accepted_chains_run_to_the_planned_sizes(
    chain: list[Any], width: int, height: int, channels: int, seed: int
) -> None:
    try:
        steps = pipeline.parse(chain)
        planned = pipeline.plan(steps, (width, height), max_pixels=4096, max_images=64)
    except InvalidParameter:
        event("refused")
        return
    event("run")
    shape = (height, width) if channels == 1 else (height, width, channels)
    image = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    before = image.copy()
    results = pipeline.run(steps, [image])
    assert [(r.shape[1], r.shape[0]) for r in results] == planned
    assert all(r.dtype == np.uint8 and r.ndim in (2, 3) for r in results)
    assert all(r.ndim == 2 or r.shape[2] in (3, 4) for r in results)
    assert np.array_equal(image, before)
