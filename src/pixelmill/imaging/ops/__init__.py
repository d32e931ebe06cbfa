"""Image operations, one module per family; each is a frozen params model plus pure functions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class OpParams(BaseModel):
    """Base of every operation's parameters: immutable, unknown names refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")
