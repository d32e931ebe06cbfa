"""Settings: every knob declared once, with its default and what it means.

Sources, strongest first: keyword arguments (tests, the CLI), `PIXELMILL_*` environment
variables, the YAML file named by `PIXELMILL_CONFIG` (or `--config`), the defaults below.
Settings are built once at start-up and passed down; nothing reads the environment later.

    load_settings(**overrides)   Settings, or SettingsError: one line naming the variable
    settings_table()             the README's settings table, between its markers
    with_settings_table(readme)  the README with the table brought up to date
                                 (`.venv/bin/python docs/gen_settings.py` writes it)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    AliasChoices,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

MiB = 1024 * 1024
# The engine's own bound (pixelmill.imaging.pipeline.MAX_STEPS, checked equal by the tests),
# written out: importing the engine here would load NumPy and OpenCV before `pixelmill serve`
# has started its forkserver, which imports them beside the API process (cold start).
MAX_STEPS = 64
ENV_PREFIX = "PIXELMILL_"
README_MARKERS = ("<!-- settings:start -->", "<!-- settings:end -->")

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# the values pixelmill.imaging.ocr.engines.choose takes (imaging does not import config)
OcrEngine = Literal["auto", "tesseract", "rapidocr"]
# the values pixelmill.execution.pools.Execution takes (docs/performance.md compares them)
Execution = Literal["processes", "threads", "hybrid"]


class SettingsError(ValueError):
    """A setting is missing, misspelt or out of range; the message is one line for the user."""


class Settings(BaseSettings):
    """pixelmill's configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, populate_by_name=True
    )

    config: Path | None = Field(
        None,
        description="YAML file of settings, named as here in lower case without the prefix "
        "(`max_pixels: 1000`); the environment wins over it, command-line flags over both.",
        json_schema_extra={"unset": "none"},
    )

    # network
    host: str = Field(
        default_factory=lambda: "0.0.0.0" if _in_container() else "127.0.0.1",
        description="Address to listen on (`--host` wins).",
        json_schema_extra={"unset": "`127.0.0.1` (`0.0.0.0` in a container)"},
    )
    port: int = Field(
        8000,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("PIXELMILL_PORT", "PORT"),
        description="Port to listen on (`--port` wins).",
    )

    # places
    data_dir: Path = Field(
        Path("data"), description="Database, logs, stored images and `/ocr` uploads."
    )
    results_dir: Path = Field(Path("results"), description="Where `final_collage.png` is written.")
    files_root: Path | None = Field(
        None,
        description="Server-side files `/pipeline` may read; a path leading outside is a 403.",
        json_schema_extra={"unset": "`<data dir>/files`"},
    )
    log_file: Path | None = Field(
        None,
        description="Log file, rotated at 10 MiB with 5 kept; stderr gets the log too.",
        json_schema_extra={"unset": "`<data dir>/logs/pixelmill.log`"},
    )
    log_level: LogLevel = Field(
        "INFO", description="Least severe level logged; any case (`debug` is `DEBUG`)."
    )

    # database, queues, stored files
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; `postgresql://...` (PostgreSQL in production) uses psycopg 3.",
        json_schema_extra={"unset": "SQLite at `<data dir>/pixelmill.db`"},
    )
    redis_url: str | None = Field(
        None,
        description="Redis URL; set it to run queues and websocket broadcast through Redis, "
        "workers as separate processes and more than one API process.",
        json_schema_extra={"unset": "none: embedded (in-process queues and workers)"},
    )
    redis_prefix: str = Field(
        "pixelmill", min_length=1, description="Prefix of every Redis key and stream."
    )
    storage_dir: Path | None = Field(
        None,
        description="Where stored images (captions, faces) go on this machine.",
        json_schema_extra={"unset": "`<data dir>/images`"},
    )
    storage_url: str | None = Field(
        None,
        description="Where stored images live, shared by every process and machine: "
        "`s3://bucket/optional/prefix` or `file:///abs/path`. S3 credentials come from "
        "`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, read by boto3 itself.",
        json_schema_extra={"unset": "none: the storage dir"},
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="Endpoint of an S3-compatible store: MinIO, Ceph, R2 ...",
        json_schema_extra={"unset": "AWS"},
    )
    s3_region: str | None = Field(
        None, description="S3 region.", json_schema_extra={"unset": "boto3's default"}
    )
    queue_max_length: int = Field(
        10_000, ge=1, description="Messages a stream may hold; past it, new jobs get a 503."
    )
    redis_durable_accept: Literal["none", "fsync", "replica"] = Field(
        "none",
        description="What the API waits for before it answers 202 to a caption or face job: "
        "`none`, Redis's memory (with `appendfsync everysec` a crash of Redis loses up to a "
        "second of accepted jobs); `fsync`, the job on Redis's disk (`WAITAOF` on Redis 7.2+, "
        "else Redis must run with `appendonly yes` and `appendfsync always`, or the job is "
        "refused with a 503); `replica`, the job on at least one replica (`WAIT`). Unconfirmed "
        "in `redis_durable_timeout_ms`, the job is taken back and answered 503.",
    )
    redis_durable_timeout_ms: int = Field(
        1000, ge=1, description="How long the API waits for `redis_durable_accept`."
    )
    drain_seconds: float = Field(
        0.0,
        ge=0,
        description="`pixelmill serve`, on SIGTERM: keep serving this long while `/health` "
        "and `/health/ready` answer 503 `draining`, so that a load balancer's checks take "
        "the host out before it stops (a second SIGTERM, or SIGINT, stops at once, "
        "gracefully). With `--workers N` the SIGTERM goes to the supervisor (the process "
        "started), which drains every API process; under systemd, `KillMode=mixed`.",
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
        description="Run the background services (captioner, storer, faces) inside `serve`; "
        "with Redis, `pixelmill worker ...` processes usually run them instead.",
        json_schema_extra={"unset": "yes when embedded, no with Redis"},
    )
    heartbeat_seconds: float = Field(
        5.0, gt=0, description="How often workers report that they are alive."
    )

    # captions
    caption_font: str | None = Field(
        None,
        description="Font for captions: a file path or a family name.",
        json_schema_extra={"unset": "DejaVu Sans, else the packaged Noto Sans"},
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
        None,
        description="A YuNet ONNX model file for `cv2.FaceDetectorYN`.",
        json_schema_extra={"unset": "none: Haar cascade"},
    )
    max_websocket_clients: int = Field(
        10_000,
        ge=1,
        description="Websocket clients on `/faces` per API process; past it, new ones are "
        "closed with 1013 (try again later).",
    )

    # ocr
    ocr_engine: OcrEngine = Field(
        "auto",
        description="OCR engine: `tesseract`, `rapidocr` (installed with pixelmill by pip) or "
        "`auto` (Tesseract when its binary is installed, else RapidOCR).",
    )
    ocr_lang: str = Field(
        "eng",
        description="Languages `/ocr` reads when a request names none, Tesseract's names "
        "joined by `+`: `eng+rus`.",
    )
    tmp_dir: Path | None = Field(
        None,
        description="Where uploads to `/ocr` are kept, pruned by count and by age (below).",
        json_schema_extra={"unset": "`<data dir>/tmp`"},
    )
    tmp_max_files: int = Field(
        200, ge=0, description="Uploads kept in the tmp dir at most; the oldest go first."
    )
    tmp_max_age_seconds: int = Field(
        24 * 3600, ge=0, description="Uploads older than this are removed from the tmp dir."
    )

    max_description_chars: int = Field(
        200, ge=1, le=200, description="Caption text limit, in characters."
    )

    # limits
    max_upload_bytes: int = Field(25 * MiB, ge=1, description="Largest uploaded file: 413.")
    max_request_bytes: int = Field(100 * MiB, ge=1, description="Largest request body: 413.")
    max_pixels: int = Field(
        50_000_000,
        ge=1,
        description="Largest input image, in pixels, checked from its header: 413.",
    )
    max_output_pixels: int = Field(
        100_000_000,
        ge=1,
        description="Largest image pixelmill will make: a chain (`/pipeline`, "
        "`/v1/transform`, `pixelmill run`) past it is a 422 before any work, a collage a 413.",
    )
    max_animation_pixels: int = Field(
        100_000_000,
        ge=1,
        description="Largest animation (GIF, WebP, AVIF), in pixels of all its frames (frames "
        "× width × height), checked from its headers before any frame is decoded: 413; a chain "
        "making more is a 422.",
    )
    max_collage_images: int = Field(
        16, ge=2, le=64, description="Images in one collage (`/process`, `pixelmill collage`)."
    )
    max_operations: int = Field(
        MAX_STEPS,
        ge=1,
        le=1000,
        description="Operations in one chain (`/pipeline`, `/v1/transform`, `pixelmill run`): 422.",
    )

    # remote sources (`url/…` in /img and /info)
    source_hosts: str = Field(
        "",
        description="Hosts remote sources may come from, comma-separated: `host` (the default "
        "port of http or https) or `host:port`. A host must resolve to public addresses; a "
        "loopback, private or link-local one (169.254.169.254) only when listed itself too "
        "(`10.0.0.5:9000`). Redirects are followed only within the list.",
        json_schema_extra={"unset": "empty: no remote sources"},
    )
    source_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Longest a remote source may take, name lookup to last byte: 504.",
    )
    source_max_bytes: int = Field(
        25 * MiB,
        ge=1,
        description="Largest remote source, counted as it arrives: 413 (an image whose header "
        "states more than `max_pixels` is refused before the rest arrives).",
    )

    @field_validator("source_hosts")
    @classmethod
    def _source_hosts_are_hosts(cls, value: str) -> str:
        if not value.strip():  # the default: nothing to check, and no httpx at every start
            return value
        from pixelmill.delivery.remote import parse_hosts  # httpx, only when the list is set

        parse_hosts(value)
        return value

    # execution
    execution: Execution = Field(
        "hybrid",
        description="Where per-image work runs. `processes`: worker processes (a native crash "
        "costs only its requests); `threads`: threads in the API process (least memory, "
        "fastest start; a native crash takes the server down); `hybrid`: threads for plain "
        "JPEG, PNG and WebP after their header checks, worker processes (`isolated_workers`) "
        "for every other decoder (HEIC, AVIF, TIFF, GIF, animations). docs/performance.md "
        "compares them.",
    )
    isolated_workers: int | None = Field(
        None,
        ge=1,
        description="Worker processes for the isolated decoders of `hybrid` execution (and "
        "the embedded captioner's and faces' pixel work); each starts when work first needs "
        "it.",
        json_schema_extra={"unset": "`process_workers`, else the CPUs available"},
    )
    memory_trim_seconds: float | None = Field(
        1.0,
        ge=0,
        description="A process that has done no image work for this long gives its free memory "
        "back to the system (glibc's malloc_trim), instead of staying at its high-water mark "
        "after a big job.",
        json_schema_extra={"unset": "never"},
    )
    malloc_arenas: int | None = Field(
        1,
        ge=1,
        description="glibc malloc arenas per process (MALLOC_ARENA_MAX, set by pixelmill). With "
        "one, every thread's freed buffers can go back to the system (`memory_trim_seconds`): "
        "glibc trims the top of the main arena only, so a thread's own arena keeps its "
        "high-water mark. Empty: glibc's default, 8 per CPU.",
        json_schema_extra={"unset": "glibc's default, 8 per CPU"},
    )
    process_workers: int | None = Field(
        None,
        ge=1,
        description="Worker processes (job threads with `threads` execution, and the job threads "
        "of `hybrid`).",
        json_schema_extra={"unset": "CPUs available"},
    )
    thread_workers: int | None = Field(
        None,
        ge=1,
        description="Threads per worker process.",
        json_schema_extra={"unset": "CPUs available"},
    )
    max_in_flight: int | None = Field(
        None,
        ge=1,
        description="Requests doing CPU work (collage, pipeline, transform, OCR) at once in one "
        "API process; past it, 429 with Retry-After.",
        json_schema_extra={"unset": "16 per worker process, at least 32"},
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
    # delivery (/img, /info)
    url_keys: str = Field(
        "",
        description="Keys that sign delivery URLs (`/img`, `/info`), comma-separated: the first "
        "signs, any of them verifies (rotation: put the new key first, keep the old one a while).",
        json_schema_extra={"unset": "empty: only `unsafe` URLs, if allowed"},
    )
    url_unsafe: bool = Field(
        False,
        description="Accept `unsafe` in place of a signature (development only: anyone may then "
        "make the server do any work).",
    )
    cache_dir: Path | None = Field(
        None,
        description="Where delivery results are cached on this machine (unused when "
        "`PIXELMILL_STORAGE_URL` names an S3 bucket: the bucket's `cache/` holds them).",
        json_schema_extra={"unset": "`<data dir>/cache`"},
    )
    cache_bytes: int = Field(
        1024 * MiB,
        ge=0,
        description="Bytes the result cache dir may hold; least recently used results go first "
        "(0: no cache).",
    )
    cache_max_age: int = Field(
        31_536_000,
        ge=0,
        description="`Cache-Control: public, max-age=` of delivery answers, in seconds.",
    )

    api_keys: str = Field(
        "",
        description="API keys, comma-separated; when set, requests need `Authorization: Bearer "
        "<key>` or `X-API-Key: <key>`.",
        json_schema_extra={"unset": "empty: no keys asked"},
    )

    @field_validator(
        "redis_url",
        "database_url",
        "caption_font",
        "faces_model",
        "files_root",
        "storage_dir",
        "tmp_dir",
        "cache_dir",
        "log_file",
        "process_workers",
        "thread_workers",
        "run_workers",
        "memory_trim_seconds",
        "malloc_arenas",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """`PIXELMILL_REDIS_URL=` (set but empty, as compose files often leave it) means unset."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", "ocr_engine", "execution", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: ValidationInfo) -> Any:
        """`debug` is `DEBUG`, `Tesseract` is `tesseract`: the word is what counts."""
        if info.field_name is None or not isinstance(value, str):
            return value
        words = get_args(cls.model_fields[info.field_name].annotation)
        return next((word for word in words if word.lower() == value.strip().lower()), value)

    @model_validator(mode="after")
    def _request_holds_a_file(self) -> Settings:
        if self.max_request_bytes < self.max_upload_bytes:
            raise ValueError(
                f"{variable('max_request_bytes')} ({self.max_request_bytes}) must be at least "
                f"{variable('max_upload_bytes')} ({self.max_upload_bytes})"
            )
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
    def url_key_list(self) -> list[str]:
        return [key.strip() for key in self.url_keys.split(",") if key.strip()]

    @property
    def cache_path(self) -> Path:
        return self.cache_dir or self.data_dir / "cache"

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
    """Build settings from the environment, the YAML file and explicit overrides.

    A bad value is a SettingsError of one line naming the variable and what it takes:
    `PIXELMILL_OCR_ENGINE should be 'auto', 'tesseract' or 'rapidocr' (got 'tesseratc')`.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        yaml_file = given.get("config") or os.environ.get(f"{ENV_PREFIX}CONFIG")
        problems = (_problem(error, given, yaml_file) for error in exc.errors())
        raise SettingsError("; ".join(problems)) from None


def variable(name: str) -> str:
    """The environment variable of a setting: `ocr_engine` -> `PIXELMILL_OCR_ENGINE`."""
    return f"{ENV_PREFIX}{name.upper()}"


def settings_table() -> str:
    """Every setting as a Markdown table: variable, default, what it accepts, what it means."""
    schema = Settings.model_json_schema(by_alias=False)["properties"]
    lines = ["| variable | default | accepts | meaning |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        first, *others = _variables(name)
        shown = f"`{first}`" + "".join(f" (else `{other}`)" for other in others)
        meaning = (info.description or "").replace("|", "\\|")
        lines.append(
            f"| {shown} | {_default_text(name, schema[name])} | {_accepts(schema[name])} "
            f"| {meaning} |"
        )
    return "\n".join(lines) + "\n"


def with_settings_table(readme: str) -> str:
    """`readme` with `settings_table()` between its two markers."""
    start, end = README_MARKERS
    before, found_start, rest = readme.partition(start + "\n")
    _, found_end, after = rest.partition(end)
    if not (found_start and found_end):
        raise ValueError(f"the README has no {start} ... {end} block")
    return before + found_start + settings_table() + found_end + after


def _problem(error: Any, given: dict[str, Any], yaml_file: str | None) -> str:
    """One pydantic error as the user should read it, naming the variable, not the field."""
    if not error["loc"]:  # a check across settings, worded with the variables already
        return str(error["msg"]).removeprefix("Value error, ")
    name = str(error["loc"][0])  # a field, or one of its aliases (PIXELMILL_PORT)
    field = next((f for f in Settings.model_fields if name in (f, *_variables(f))), None)
    if field is None:
        return f"{name}{f' in {yaml_file}' if yaml_file else ''} is not a setting"
    names = _variables(field)
    if field in given:
        where = field
    elif any(n in os.environ for n in names):
        where = next(n for n in names if n in os.environ)
    else:
        where = names[0] + (f" ({field} in {yaml_file})" if yaml_file else "")
    reason = str(error["msg"]).replace("Input should be", "should be", 1)
    return f"{where} {reason[:1].lower()}{reason[1:]} (got {error['input']!r})"


def _variables(name: str) -> list[str]:
    """The environment variables a setting is read from, strongest first."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [variable(name)]


def _default_text(name: str, schema: dict[str, Any]) -> str:
    if "unset" in schema:  # computed at start-up, or None meaning something
        return str(schema["unset"])
    value = schema["default"]
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if schema.get("format") == "path":
        return f"`./{value}`"
    if name.endswith("_bytes") and value % MiB == 0:
        return f"`{value}` ({value // MiB} MiB)"
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def _accepts(schema: dict[str, Any]) -> str:
    """ "integer, 1 to 65535" from the field's JSON schema."""
    kind = next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)
    if "enum" in kind:
        return "one of " + ", ".join(f"`{word}`" for word in kind["enum"])
    if kind["type"] == "boolean":
        return "`true` or `false`"
    if kind["type"] == "string":
        return "path" if kind.get("format") == "path" else "text"
    low, high = kind.get("minimum"), kind.get("maximum")
    text = "integer" if kind["type"] == "integer" else "number"
    if low is not None and high is not None:
        return f"{text}, {low:g} to {high:g}"
    if "exclusiveMinimum" in kind:
        return f"{text} > {kind['exclusiveMinimum']:g}"
    return f"{text} ≥ {low:g}" if low is not None else text


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
