"""The published OpenAPI document: every error answer described as it really leaves.

Routes declare the statuses that are theirs (404 for an unknown id, 415 for a file that is
not an image, 429 where they do CPU work). What every route can answer is added here, once:
400 for a body that cannot be parsed, 408 and 413 from the body limits, 422 for fields, 401
when API keys are on. Every error has the same body, `Problem`: FastAPI's `{"detail": ...}`,
a sentence, or the list of field errors for a request FastAPI itself could not validate.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from pixelmill.api.security import is_open

BODY_ERRORS = {
    "400": "The body cannot be parsed (broken JSON or multipart)",
    "408": "The body stalled (no data for `request_body_timeout_seconds`)",
    "413": "The body, a file or an image is over its limit",
    "422": "A field is missing, of the wrong type or out of range",
}
QUERY_ERRORS = {"422": "A parameter is of the wrong type or out of range"}
# What routes that do CPU work add to their own statuses (`responses={..., **CPU_ERRORS}`).
CPU_ERRORS: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Busy: as many requests are being processed as this process takes; "
        "retry after `Retry-After` seconds"
    },
    503: {
        "description": "The work took longer than the processing timeout, or a worker process "
        "died; `Retry-After` says when to retry"
    },
}
UNAUTHORIZED = {"401": "No valid API key (`Authorization: Bearer <key>` or `X-API-Key`)"}


class Problem(BaseModel):
    """Every error: `detail` says what is wrong (a sentence, or FastAPI's list of field errors)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"detail": "kernel_size: must be odd (got 4)"}]},
    )

    detail: str | list[dict[str, Any]] = Field(description="What is wrong.")


def install_openapi(app: FastAPI, api_keys: bool) -> None:
    """Replace `app.openapi` by a builder that completes the error answers (built once)."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            complete_errors(document, api_keys)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]


def complete_errors(document: dict[str, Any], api_keys: bool) -> None:
    """Add the statuses every route can answer and give each error the `Problem` body."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    problem = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            extra: dict[str, str] = {}
            if "requestBody" in operation:
                extra |= BODY_ERRORS
            elif operation.get("parameters"):
                extra |= QUERY_ERRORS
            if api_keys and not is_open(path):
                extra |= UNAUTHORIZED
            for status, description in extra.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                # FastAPI's own 422 (HTTPValidationError) is replaced: ours say it in words
                if status == "422" or (status[0] in "45" and not response.get("content")):
                    response["content"] = problem
