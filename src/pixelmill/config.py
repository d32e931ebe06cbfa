"""Settings: every knob declared once, with its default and what it means.

Sources, strongest first: keyword arguments (tests, the CLI), `PIXELMILL_*` environment
variables, the YAML file named by `PIXELMILL_CONFIG` (or `--config`), the defaults below.
Settings are built once at start-up and passed down; nothing reads the environment later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

MiB = 1024 * 1024


class Settings(BaseSettings):
    """pixelmill's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="PIXELMILL_", extra="forbid", frozen=True, populate_by_name=True
    )

    config: Path | None = Field(None, description="YAML file with settings (env vars win).")

    # network
    host: str = Field(
        default_factory=lambda: "0.0.0.0" if _in_container() else "127.0.0.1",
        description="Address to listen on: 127.0.0.1, or 0.0.0.0 inside a container.",
    )
    port: int = Field(
        8000,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("PIXELMILL_PORT", "PORT"),
        description="Port to listen on: PIXELMILL_PORT, else PORT, else 8000.",
    )

    # places
    data_dir: Path = Field(Path("data"), description="Database, logs and stored files.")
    results_dir: Path = Field(Path("results"), description="Where final_collage.png is written.")
    files_root: Path | None = Field(
        None, description="Root of server-side files for /pipeline (default <data dir>/files)."
    )
    log_file: Path | None = Field(
        None, description="Log file (default <data dir>/logs/pixelmill.log); stderr gets it too."
    )
    log_level: str = Field("INFO", description="Logging level name.")

    # database, queues, stored files
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL (postgresql+psycopg://... in production); "
        "default: SQLite at <data dir>/pixelmill.db.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL; set it to run queues and broadcast through Redis and workers "
        "as separate processes. Unset: the embedded default (in-process queues and workers).",
    )
    redis_prefix: str = Field(
        "pixelmill", min_length=1, description="Prefix of every Redis key and stream."
    )
    storage_dir: Path | None = Field(
        None, description="Where processed images are stored (default <data dir>/images)."
    )
    storage_url: str | None = Field(
        None,
        description="Where stored images live, shared by every process: file:///abs/path or "
        "s3://bucket/optional/prefix. Unset: the storage dir on this machine. S3 credentials "
        "come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, read by boto3 itself.",
    )
    s3_endpoint_url: str | None = Field(
        None, description="S3 endpoint for MinIO, Ceph, R2 ... (unset: AWS)."
    )
    s3_region: str | None = Field(None, description="S3 region (unset: boto3's default).")
    queue_max_length: int = Field(
        10_000, ge=1, description="Messages a queue may hold; past it, new jobs get a 503."
    )
    max_deliveries: int = Field(
        5, ge=1, description="Deliveries of a message before it goes to the dead-letter stream."
    )
    claim_idle_ms: int = Field(
        60_000,
        ge=100,
        description="A message pending this long with a consumer is taken over by another "
        "(longer than the longest job).",
    )
    worker_batch: int = Field(
        16,
        ge=1,
        le=1000,
        description="Messages a captioner or storer takes at once when that many are waiting; "
        "they are written in one transaction and acknowledged in one call (1: one at a time).",
    )
    run_workers: bool | None = Field(
        None,
        description="Run the background services (captioner, storer) inside `serve`. "
        "Default: yes in the embedded mode, no when Redis is configured (run "
        "`pixelmill worker ...` processes instead).",
    )
    heartbeat_seconds: float = Field(
        5.0, gt=0, description="How often workers report that they are alive."
    )

    # captions
    caption_font: str | None = Field(
        None, description="Font for captions: a file path or a family name (default DejaVu Sans)."
    )
    caption_font_size: int = Field(12, ge=4, le=512, description="Caption font size in pixels.")
    caption_overlay: bool = Field(
        False, description="Lay the caption band over the bottom of the image instead of below."
    )
    # faces
    faces_min_size: int = Field(
        30, ge=8, le=4096, description="Smallest face side to detect, in pixels."
    )
    faces_model: Path | None = Field(
        None, description="A YuNet ONNX model file for cv2.FaceDetectorYN (default: Haar)."
    )
    max_websocket_clients: int = Field(
        10_000, ge=1, description="Websocket clients on /faces per API process."
    )

    # ocr
    ocr_engine: str = Field(
        "auto",
        description="OCR engine: `tesseract`, `rapidocr` (the pure-PyPI fallback) or `auto` "
        "(Tesseract when its binary is installed, else the fallback).",
    )
    ocr_lang: str = Field("eng", description="Default OCR language(s), Tesseract style: eng+rus.")
    tmp_dir: Path | None = Field(
        None, description="Where uploads to /ocr are kept (default <data dir>/tmp)."
    )
    tmp_max_files: int = Field(200, ge=0, description="Uploads kept in the tmp dir at most.")
    tmp_max_age_seconds: int = Field(
        24 * 3600, ge=0, description="Uploads older than this are removed from the tmp dir."
    )

    max_description_chars: int = Field(
        200, ge=1, le=200, description="Caption text limit, in characters (at most 200)."
    )

    # limits
    max_upload_bytes: int = Field(25 * MiB, ge=1, description="Largest uploaded file (413).")
    max_request_bytes: int = Field(100 * MiB, ge=1, description="Largest request body (413).")
    max_pixels: int = Field(
        50_000_000,
        ge=1,
        description="Largest decoded image, in pixels, checked from the header (413).",
    )
    max_output_pixels: int = Field(
        100_000_000, ge=1, description="Largest image pixelmill will make (collage, resize): 413."
    )
    max_collage_images: int = Field(16, ge=2, le=64, description="Images per /process request.")
    max_operations: int = Field(
        64, ge=1, le=1000, description="Operations in one chain (/pipeline, /v1/transform): 422."
    )

    # execution
    process_workers: int | None = Field(
        None, ge=1, description="Worker processes (default: the CPUs this process may use)."
    )
    thread_workers: int | None = Field(
        None, ge=1, description="Threads per worker process (default: the CPUs it may use)."
    )
    max_in_flight: int | None = Field(
        None,
        ge=1,
        description="Requests doing CPU work (collage, pipeline, transform, OCR) at once in one "
        "API process; past it, 429 with Retry-After (default: 16 per worker process, at least 32).",
    )
    processing_timeout_seconds: float = Field(
        300.0,
        gt=0,
        description="Longest a request's CPU work may take; past it, 503 and its queued work "
        "is dropped.",
    )
    request_body_timeout_seconds: float = Field(
        60.0,
        gt=0,
        description="Longest wait for the next piece of a request body; past it, 408.",
    )
    png_compression: int = Field(
        1,
        ge=0,
        le=9,
        description="PNG deflate level: 0-3 use ISA-L (fast), 4-9 use zlib (smaller, slower).",
    )
    api_keys: str = Field(
        "",
        description="API keys, comma-separated; when set, requests need `Authorization: Bearer "
        "<key>` or `X-API-Key: <key>` (empty: no keys asked).",
    )

    @field_validator(
        "redis_url",
        "database_url",
        "caption_font",
        "faces_model",
        "files_root",
        "storage_dir",
        "tmp_dir",
        "log_file",
        "process_workers",
        "thread_workers",
        "run_workers",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """`PIXELMILL_REDIS_URL=` (set but empty, as compose files often leave it) means unset."""
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _request_holds_a_file(self) -> Settings:
        if self.max_request_bytes < self.max_upload_bytes:
            raise ValueError("max_request_bytes must be at least max_upload_bytes")
        return self

    @property
    def files_root_path(self) -> Path:
        return self.files_root or self.data_dir / "files"

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'pixelmill.db'}"

    @property
    def tmp_path(self) -> Path:
        return self.tmp_dir or self.data_dir / "tmp"

    @property
    def storage_path(self) -> Path:
        return self.storage_dir or self.data_dir / "images"

    @property
    def api_key_list(self) -> list[str]:
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]

    @property
    def log_path(self) -> Path:
        return self.log_file or self.data_dir / "logs" / "pixelmill.log"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        yaml_file = _yaml_file(init_settings)
        if yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, the YAML file and explicit overrides."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _yaml_file(init_settings: PydanticBaseSettingsSource) -> Path | None:
    named = init_settings().get("config") or os.environ.get("PIXELMILL_CONFIG")
    if not named:
        return None
    path = Path(named)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    return path


def _in_container() -> bool:
    # podman and systemd-nspawn set "container" (lower case) in the environment
    return Path("/.dockerenv").exists() or os.environ.get("container") is not None  # noqa: SIM112
