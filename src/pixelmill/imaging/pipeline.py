"""Operation chains: parse both spellings, validate the whole chain, then run it.

A chain is a list whose items are either strings, `"name"` or `"name=value"` (the seed
style, where the value sets the operation's primary parameter), or objects,
`{"op": "name", "param": value, ...}`. Every item is checked before any pixel is touched;
the first bad one is reported with its position, name and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from pixelmill.errors import InvalidParameter
from pixelmill.imaging.ops import OpParams
from pixelmill.imaging.registry import OPERATIONS, Operation, lookup

MAX_STEPS = 64


@dataclass(frozen=True)
class Step:
    """One validated operation of a chain."""

    op: Operation
    params: OpParams

    def describe(self) -> dict[str, Any]:
        """The normalized object form, as responses echo it."""
        return {"op": self.op.name, **self.params.model_dump()}


def parse(items: Sequence[str | Mapping[str, Any]], max_steps: int = MAX_STEPS) -> list[Step]:
    """Validate a whole chain; raise InvalidParameter naming the first bad item."""
    if len(items) > max_steps:
        raise InvalidParameter(f"too many operations: {len(items)} (the limit is {max_steps})")
    steps = []
    for position, item in enumerate(items, start=1):
        step = _parse_item(item, position)
        if step is not None:
            steps.append(step)
    return steps


def run(steps: Sequence[Step], images: list[np.ndarray]) -> list[np.ndarray]:
    """Apply the steps left to right; fan-outs replace an image by its parts in place."""
    for step in steps:
        if step.op.combines:
            images = [step.op.apply(images, step.params)]
            continue
        produced: list[np.ndarray] = []
        for image in images:
            result = step.op.apply(image, step.params)
            produced.extend(result if isinstance(result, list) else [result])
        images = produced
    return images


def params_error(exc: ValidationError, where: str) -> InvalidParameter:
    """A pydantic error turned into one readable sentence naming each bad field."""
    reasons = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "value"
        message = error["msg"].removeprefix("Value error, ")
        if "got" not in message:
            message += f" (got {error.get('input')!r})"
        reasons.append(f"{name}: {message}")
    return InvalidParameter(f"{where}: " + "; ".join(reasons))


def _parse_item(item: str | Mapping[str, Any], position: int) -> Step | None:
    if isinstance(item, str):
        name, has_value, value = (part.strip() for part in item.partition("="))
        op = _operation(name, position)
        if has_value and value in op.off_values:
            return None
        if not has_value or not value:
            raw: dict[str, Any] = {}
        elif op.primary is None:
            raise InvalidParameter(f"operation {position} ({name}) takes no value, got {value!r}")
        else:
            raw = {op.primary: value}
    elif isinstance(item, Mapping):
        raw = dict(item)
        name = raw.pop("op", None)
        if not isinstance(name, str):
            raise InvalidParameter(f'operation {position} has no "op" naming the operation')
        op = _operation(name, position)
    else:
        raise InvalidParameter(
            f"operation {position} must be a string or an object, got {type(item).__name__}"
        )
    try:
        params = op.params.model_validate(raw)
    except ValidationError as exc:
        raise params_error(exc, f"operation {position} ({name})") from None
    return Step(op, params)


def _operation(name: str, position: int) -> Operation:
    op = lookup(name)
    if op is None:
        known = ", ".join(sorted(OPERATIONS))
        raise InvalidParameter(f"operation {position}: unknown operation {name!r} (known: {known})")
    return op
