"""`POST /pipeline` (alias `POST /items/`): chains of operations on server-side files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from pixelmill.api.deps import MetricsDep, PoolsDep, SettingsDep
from pixelmill.api.openapi import CPU_ERRORS
from pixelmill.errors import InvalidParameter
from pixelmill.execution.pipeline import FileJob, Limits, run_files
from pixelmill.imaging import pipeline
from pixelmill.storage.paths import existing_file, writable_file

router = APIRouter(tags=["pipeline"])


class ImagePaths(BaseModel):
    """One input file and where its result goes, both relative to the files root."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(
        description="Input file, relative to the files root.", examples=["cyclo1.jpg"]
    )
    output: str = Field(
        description="Output file; its extension picks the format. When the chain fans out "
        "(split), files are numbered `<stem>_<i><ext>`.",
        examples=["out/cyclo1_processed.png"],
    )


class PipelineRequest(BaseModel):
    """Files and the chain of operations to run on each of them, left to right."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "images": [{"input": "cyclo1.jpg", "output": "out/cyclo1_processed.png"}],
                    "operations": ["splitQuadrants=True", "resize=2", "blur=5"],
                },
                {
                    "images": [{"input": "a.jpg", "output": "small/a.webp"}],
                    "operations": [{"op": "resize", "factor": 0.5}, "grayscale", "quality=80"],
                },
            ]
        },
    )

    images: list[ImagePaths] = Field(max_length=1000)
    operations: list[str | dict[str, Any]] = Field(
        description='Operations: "name=value" strings or {"op": name, ...} objects; see the '
        "operation table in the API description."
    )


class ImageResult(BaseModel):
    input: str
    outputs: list[str] = Field(description="Files written, relative to the files root.")


class PipelineResult(BaseModel):
    images: list[ImageResult]
    operations: list[dict[str, Any]] = Field(description="The chain as understood, normalized.")


_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "A path leads outside the files root (the detail says how)"},
    404: {"description": "An input file does not exist"},
    413: {"description": "An input is over the byte or pixel limit"},
    415: {"description": "An input is not a decodable image"},
    422: {"description": "An unknown operation, a value out of range, a result too large"},
    **CPU_ERRORS,
}


@router.post("/pipeline", summary="Run operations on server-side files", responses=_ERRORS)
@router.post("/items/", summary="Alias of /pipeline (py-image-server)", responses=_ERRORS)
async def run_pipeline(
    request: PipelineRequest,
    http: Request,
    settings: SettingsDep,
    pools: PoolsDep,
    metrics: MetricsDep,
) -> PipelineResult:
    """Validate the whole request (chain, paths, headers, result sizes), then process every
    image in parallel worker processes and write the outputs atomically."""
    steps = pipeline.parse(request.operations, settings.max_operations)
    root = settings.files_root_path

    def confined() -> list[FileJob]:  # a stat and a resolve per path: not on the event loop
        return [
            FileJob(item.input, existing_file(root, item.input), writable_file(root, item.output))
            for item in request.images
        ]

    jobs = await asyncio.to_thread(confined)
    seen: dict[Path, str] = {}
    for item, job in zip(request.images, jobs, strict=True):
        if job.target in seen:
            raise InvalidParameter(
                f"outputs {seen[job.target]!r} and {item.output!r} are the same file; "
                "each image needs its own output"
            )
        seen[job.target] = item.output
    limits = Limits.from_settings(settings)
    async with pools.admit(http.is_disconnected):
        written = await run_files(pools, jobs, steps, limits)
    metrics.processed([step.op.name for step in steps], len(jobs))
    real_root = await asyncio.to_thread(root.resolve)
    return PipelineResult(
        images=[
            ImageResult(input=job.input, outputs=[str(p.relative_to(real_root)) for p in paths])
            for job, paths in zip(jobs, written, strict=True)
        ],
        operations=[step.describe() for step in steps],
    )
