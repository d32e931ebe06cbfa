"""`POST /v1/transform`: any chain of operations on one uploaded image, the result returned."""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pixelmill.api.metrics import RequestMetrics
from pixelmill.api.openapi import CPU_ERRORS
from pixelmill.api.uploads import FilePart, Form, read_form
from pixelmill.config import Settings
from pixelmill.execution.pipeline import Limits, run_upload
from pixelmill.execution.pools import Pools
from pixelmill.imaging import codec, pipeline
from pixelmill.imaging.ops import output

router = APIRouter(tags=["transform"])


class TransformFields(BaseModel):
    """The request's text fields."""

    model_config = ConfigDict(title="Body_transform_v1_transform_post")

    ops: str = Field(
        description='Operations: a JSON array (`["resize=0.5", {"op": "blur", '
        '"kernel_size": 5}]`) or comma-separated `name=value` items.',
        examples=["resize=0.5,grayscale,blur=5"],
    )
    format: str | None = Field(
        None,
        description=f"Output format: {', '.join(codec.format_names())}, in any case "
        "(default: a `format=` step of the chain, else the input's; PNG for BMP, TIFF, HEIC)"
        "; `auto`: AVIF when the request's Accept names image/avif, else WebP when it names "
        "image/webp, else JPEG (PNG with alpha), answered with `Vary: Accept`",
        examples=["webp"],
    )
    quality: int | None = Field(
        None,
        ge=1,
        le=100,
        description="JPEG, WebP and AVIF quality, 1-100 (default: a `quality=` step of the "
        f"chain, else {codec.DEFAULT_QUALITY})",
    )


def _request_body() -> dict[str, Any]:
    """The multipart body as OpenAPI shows it: the upload and the text fields (what FastAPI
    wrote from File and Form parameters)."""
    schema = TransformFields.model_json_schema()
    schema["properties"] = {
        "file": {
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "title": "File",
            "description": "The image",
        },
        **schema["properties"],
    }
    schema["required"] = ["file", *schema.get("required", [])]
    schema.pop("description", None)
    return {"content": {"multipart/form-data": {"schema": schema}}, "required": True}


@router.post(
    "/v1/transform",
    summary="Transform one uploaded image",
    response_class=Response,
    responses={
        200: {
            "description": "The result image; a ZIP of `<name>_<i>.<ext>` files when the chain "
            "fans out (split)",
            "content": {
                **{fmt.media_type: {} for fmt in codec.FORMATS.values()},
                "application/zip": {},
            },
        },
        413: {"description": "The file is over the byte or pixel limit"},
        415: {"description": "The file is not a decodable image"},
        422: {"description": "Bad ops, format or quality; a result too large"},
        **CPU_ERRORS,
    },
    openapi_extra={"requestBody": _request_body()},
)
async def transform(request: Request) -> Response:
    """Run `ops` on the image and return the result in the chosen format."""
    # The form is read here, in one pass over the body (`uploads.read_form`), rather than by
    # FastAPI's File and Form parameters; the app's state is read here too, rather than by
    # dependencies that FastAPI would run on its thread pool (docs/performance.md).
    state = request.app.state
    settings: Settings = state.settings
    pools: Pools = state.pools
    metrics: RequestMetrics = state.metrics
    upload, form = _validated(await read_form(request))
    steps = pipeline.parse(pipeline.parse_text(form.ops), settings.max_operations)
    if form.format is not None and form.format.strip().lower() != output.AUTO:
        codec.output_format(form.format)  # a bad name is a 422 before any image work
    codec.check_bytes(len(upload.data), settings.max_upload_bytes, "file")
    limits = Limits.from_settings(settings)
    async with pools.admit(request.is_disconnected):
        accept = request.headers.get("accept")
        out, results = await run_upload(
            pools, "file", upload.data, steps, limits, form.format, form.quality, accept
        )
        metrics.processed([step.op.name for step in steps], 1)
        vary = {"Vary": "Accept"} if out.negotiated else {}
        if len(results) == 1:
            return Response(results[0], media_type=out.format.media_type, headers=vary)
        stem = PurePath(upload.filename or "image").stem or "image"
        archive = await pools.run_local(_zip, stem, out.format.extension, results)
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": attachment(f"{stem}.zip"), **vary},
    )


def _validated(form: Form) -> tuple[FilePart, TransformFields]:
    """The upload and the text fields, or the 422 FastAPI's File and Form parameters gave."""
    errors: list[dict[str, Any]] = []
    upload = form.files.get("file")
    if upload is None:
        if "file" in form.fields:  # the handler words it (errors._validation_error)
            value = form.fields["file"]
            msg = f"Expected UploadFile, received: {type(value)}"
            errors.append({"type": "value_error", "loc": ("body", "file"), "msg": msg})
            errors[-1]["input"] = value
        else:
            errors.append(_missing("file"))
    # an empty field is one not given, as FastAPI's Form parameters take it (a browser sends
    # the form's empty Quality box as quality=""); an empty ops is then "Field required"
    text: dict[str, Any] = {name: value for name, value in form.fields.items() if value != ""}
    text.pop("file", None)
    for name in TransformFields.model_fields:
        if name in form.files:  # a file where text belongs: as FastAPI, a missing field
            errors.append(_missing(name) if name == "ops" else _not_text(name))
    fields: TransformFields | None = None
    try:
        fields = TransformFields.model_validate(text)
    except ValidationError as exc:
        known = {tuple(error["loc"]) for error in errors}
        for error in exc.errors(include_url=False):
            loc = ("body", *error["loc"])
            if loc not in known:
                errors.append({**error, "loc": loc})
    if errors or upload is None or fields is None:
        raise RequestValidationError(errors)
    return upload, fields


def _missing(name: str) -> dict[str, Any]:
    return {"type": "missing", "loc": ("body", name), "msg": "Field required", "input": None}


def _not_text(name: str) -> dict[str, Any]:
    return {
        "type": "string_type",
        "loc": ("body", name),
        "msg": f"{name} is a plain form field, not a file",
        "input": None,
    }


def attachment(name: str) -> str:
    """A Content-Disposition for `name`: an ASCII `filename` for every client, and the name
    itself in RFC 6266's `filename*` (UTF-8, percent-encoded) when it is not plain ASCII."""
    plain = "".join(c if " " <= c <= "~" and c not in '"\\;' else "_" for c in name)
    if plain == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def _zip(stem: str, extension: str, results: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # images are compressed
        for i, data in enumerate(results):
            archive.writestr(f"{stem}_{i}{extension}", data)
    return buffer.getvalue()
