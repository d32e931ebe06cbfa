"""The `pixelmill` command: serve the API, or make a collage from files."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pixelmill import __version__
from pixelmill.config import Settings, SettingsError, load_settings
from pixelmill.errors import PixelmillError
from pixelmill.services.registry import SERVICES


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except (PixelmillError, SettingsError, ValidationError, FileNotFoundError) as exc:
        print(f"pixelmill: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixelmill", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pixelmill {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the HTTP API and the UI")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default PIXELMILL_PORT, PORT or 8000)")
    serve.add_argument("--config", type=Path, help="YAML settings file (env vars win)")
    serve.add_argument(
        "--workers", type=int, default=1, help="API processes (default 1; more need Redis)"
    )
    serve.set_defaults(run=_serve)

    collage = commands.add_parser("collage", help="make a collage from image files")
    collage.add_argument("images", nargs="+", type=Path, help="two or more image files")
    collage.add_argument("-o", "--output", type=Path, default=Path("final_collage.png"))
    collage.add_argument("--kernel-size", type=int, default=5, help="odd, 1-255 (default 5)")
    collage.add_argument("--segment-size", type=int, default=50, help="pixels (default 50)")
    collage.add_argument("--threshold", type=float, default=100, help="0-255 (default 100)")
    collage.add_argument("--frame-thickness", type=int, default=2, help="pixels (default 2)")
    collage.add_argument("--config", type=Path, help="YAML settings file (env vars win)")
    collage.set_defaults(run=_collage)

    run = commands.add_parser("run", help="run a chain of operations on many image files")
    run.add_argument("inputs", nargs="+", type=Path, help="image files")
    run.add_argument(
        "--ops", required=True, help='e.g. "resize=0.5,grayscale,blur=5" or a JSON array'
    )
    run.add_argument("--out", type=Path, required=True, help="folder for the results")
    run.add_argument(
        "--format",
        type=_output_format,
        help="output format: png, jpeg (jpg), webp, avif, gif, any case (default: a format= "
        "step of the chain, else the input's; PNG for BMP, TIFF, HEIC)",
    )
    run.add_argument("--jobs", type=int, help="worker processes (default: CPUs available)")
    run.add_argument("--config", type=Path, help="YAML settings file (env vars win)")
    run.set_defaults(run=_run)

    url = commands.add_parser("url", help="print a signed delivery path (/img or /info)")
    url.add_argument("options", help='operations, comma-separated, e.g. "resize=0.5"; _ for none')
    url.add_argument("source", help="local/<path>, captions/<id>, faces/<id>, s3/<key>, url/...")
    url.add_argument("--info", action="store_true", help="the /info path of SOURCE instead")
    url.add_argument("--config", type=Path, help="YAML settings file (env vars win)")
    url.set_defaults(run=_url)

    migrate = commands.add_parser("migrate", help="apply the database migrations")
    migrate.add_argument("--config", type=Path, help="YAML settings file (env vars win)")
    migrate.set_defaults(run=_migrate)

    worker = commands.add_parser("worker", help="run background services (needs Redis)")
    worker.add_argument("service", choices=[*(service.name for service in SERVICES), "all"])
    worker.add_argument("--config", type=Path, help="YAML settings file (env vars win)")
    worker.set_defaults(run=_worker)

    _dead_letters_parser(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import gc
    import os

    from pixelmill.execution.pools import start_forkserver

    settings = load_settings(config=args.config, host=args.host, port=args.port)
    if args.workers < 1:
        print("pixelmill: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers == 1:
        # No cyclic collections while the app is imported, built and warmed up: the heap
        # only grows then (200,000 objects, under a thousand of them garbage), and collecting
        # it over and over was about a tenth of the start's CPU. Frozen once started (below).
        gc.disable()
        start_forkserver(settings.execution)  # its imports beside the API process's

    import uvicorn

    from pixelmill.api import create_app
    from pixelmill.execution.cpus import available_cpus

    server_options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,
        # websocket events are a few hundred bytes: compressing them per client costs ~35 KiB
        # of memory per connection and CPU per frame, and saves next to nothing
        "ws_per_message_deflate": False,
    }
    if args.workers == 1:
        app = create_app(settings, started=_collect_from_now_on)
        if settings.drain_seconds > 0:
            _draining_server(app, settings.drain_seconds, server_options).run()
        else:
            uvicorn.run(app, **server_options)
        return 0
    if settings.redis_url is None:
        print(
            "pixelmill: several API processes share queues and websocket events through "
            "Redis; set PIXELMILL_REDIS_URL (or serve with --workers 1)",
            file=sys.stderr,
        )
        return 2
    # Each API process builds its app from the environment; share the CPUs between them.
    import tempfile

    from pixelmill.log import setup_logging

    setup_logging(settings)  # the supervisor's own lines: workers started, replaced, drained

    if args.config is not None:
        os.environ["PIXELMILL_CONFIG"] = str(args.config)
    if settings.process_workers is None:
        share = max(1, available_cpus() // args.workers)
        os.environ["PIXELMILL_PROCESS_WORKERS"] = str(share)
    # the API processes' metrics (unless the environment names a folder) and the drain's
    # flag live in a folder of the supervisor's, removed when it exits
    with tempfile.TemporaryDirectory(prefix="pixelmill-serve-") as folder:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # each API process writes its request metrics there; /metrics sums them
            metrics = Path(folder) / "metrics"
            metrics.mkdir()
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
        if settings.drain_seconds <= 0:
            uvicorn.run(
                "pixelmill.api:create_app", factory=True, workers=args.workers, **server_options
            )
            return 0
        flag = Path(folder) / "draining"
        os.environ[DRAIN_FLAG_ENV] = str(flag)  # the API processes look for it (drainable_app)
        config = uvicorn.Config(
            "pixelmill.cli:drainable_app", factory=True, workers=args.workers, **server_options
        )
        _draining_supervisor(config, flag, settings.drain_seconds).run()
    return 0


def _collect_from_now_on() -> None:
    """Cyclic garbage collection back on once the server has started: what was imported,
    built and warmed up by then lives as long as the process, so later collections leave it
    out (gc.freeze) instead of a first one walking all of it."""
    import gc

    gc.freeze()
    gc.enable()


DRAIN_FLAG_ENV = "PIXELMILL_DRAIN_FLAG"  # serve --workers N: the file whose presence drains
DRAINING_BODY = b'{"status": "draining", "failing": ["draining"]}'


class Drain:
    """Whether this API process is draining: set by a SIGTERM to it (`serve`), or by a file
    the supervisor of `serve --workers N` creates (`flag`), looked at once a tenth of a
    second at most."""

    def __init__(self, flag: Path | None = None) -> None:
        self.flag = flag
        self.draining = False
        self._looked = 0.0

    def __call__(self) -> bool:
        if not self.draining and self.flag is not None:
            now = time.monotonic()
            if now - self._looked >= 0.1:
                self._looked = now
                self.draining = self.flag.exists()
        return self.draining


def draining_app(app: Any, drain: Drain) -> Any:
    """APP, but while DRAIN says so `/health` and `/health/ready` answer 503 `draining`
    (`/health/live` stays 200) and every response asks its client to close the connection,
    so that a load balancer's checks take the host out and no request is sent to it."""

    async def draining(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not drain():
            await app(scope, receive, send)
            return
        if scope["path"] in ("/health", "/health/ready"):
            headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": DRAINING_BODY})
            return

        async def closing(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await app(scope, receive, closing)

    return draining


def drainable_app() -> Any:
    """The app of each API process of `serve --workers N` with PIXELMILL_DRAIN_SECONDS: it
    drains once the supervisor has created the file named by PIXELMILL_DRAIN_FLAG, and a
    process started meanwhile (one replaced) drains from its start too."""
    import os

    from pixelmill.api import create_app

    flag = os.environ.get(DRAIN_FLAG_ENV)
    return draining_app(create_app(), Drain(Path(flag) if flag else None))


def _draining_server(app: Any, drain_seconds: float, options: dict[str, Any]) -> Any:
    """A uvicorn server that drains on SIGTERM: for DRAIN_SECONDS it keeps serving, while
    `/health` and `/health/ready` answer 503 `draining` (`/health/live` stays 200) and every
    response asks its client to close the connection, so that a load balancer's checks take
    the host out and no request is sent to it as it stops; then it stops gracefully
    (requests in hand are finished, websocket clients told 1001/1012). A second signal, or
    SIGINT, stops it at once, gracefully."""
    import logging
    import signal
    from types import FrameType

    import uvicorn

    log = logging.getLogger("pixelmill.serve")
    drain = Drain()

    class DrainingServer(uvicorn.Server):
        drain_until: float | None = None

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if sig == signal.SIGTERM and self.drain_until is None and not self.should_exit:
                self._captured_signals.append(sig)  # raised again once stopped, as uvicorn does
                self.drain_until = time.monotonic() + drain_seconds
                drain.draining = True
                log.info("SIGTERM: draining for %.1f s, then stopping", drain_seconds)
                return
            super().handle_exit(sig, frame)

        async def on_tick(self, counter: int) -> bool:
            if self.drain_until is not None and time.monotonic() >= self.drain_until:
                self.should_exit = True
            return await super().on_tick(counter)

    return DrainingServer(uvicorn.Config(draining_app(app, drain), **options))


def _draining_supervisor(config: Any, flag: Path, drain_seconds: float) -> Any:
    """uvicorn's supervisor of `--workers N`, draining on SIGTERM: it creates FLAG, which
    every API process sees within a tenth of a second (`Drain`), and stops them after
    DRAIN_SECONDS, gracefully, as uvicorn does; a second SIGTERM stops them at once, and
    SIGINT too. A SIGTERM sent to the API processes themselves (systemd's default
    `KillMode=control-group` signals every process at once) stops them without a drain:
    run it with `KillMode=mixed`."""
    import inspect
    import logging
    import threading

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    log = logging.getLogger("pixelmill.serve")

    class DrainingSupervisor(Multiprocess):
        timer: threading.Timer | None = None

        def handle_term(self) -> None:
            if self.timer is not None:  # a second SIGTERM: stop now
                self.timer.cancel()
                super().handle_term()
                return
            flag.touch()
            log.info("SIGTERM: the API processes drain for %.1f s, then stop", drain_seconds)
            self.timer = threading.Timer(drain_seconds, self.should_exit.set)
            self.timer.daemon = True
            self.timer.start()

    options: dict[str, Any] = {"sockets": [config.bind_socket()]}
    if "target" in inspect.signature(Multiprocess.__init__).parameters:
        # uvicorn before 0.51 runs a target in each process, as its own run() passes it
        options["target"] = uvicorn.Server(config).run
    return DrainingSupervisor(config, **options)


def _collage(args: argparse.Namespace) -> int:
    from pixelmill.execution.collage import Upload, make_collage
    from pixelmill.execution.cpus import available_cpus
    from pixelmill.execution.pipeline import Limits
    from pixelmill.execution.pools import Pools
    from pixelmill.imaging.ops.collage import CollageRequest
    from pixelmill.imaging.pipeline import params_error
    from pixelmill.storage.files import write_atomically

    settings: Settings = load_settings(config=args.config)
    if len(args.images) < 2:
        print("pixelmill: a collage needs at least two images", file=sys.stderr)
        return 2
    try:
        params = CollageRequest(
            kernel_size=args.kernel_size,
            segment_size=args.segment_size,
            brightness_threshold=args.threshold,
            frame_thickness=args.frame_thickness,
        )
    except ValidationError as exc:
        raise params_error(exc, "invalid option") from None
    uploads = [Upload(str(path), path.read_bytes()) for path in args.images]
    cpus = available_cpus()
    pools = Pools(
        min(len(uploads), settings.process_workers or cpus), settings.thread_workers or cpus
    )
    pools.start()
    try:
        png = asyncio.run(
            make_collage(
                pools,
                uploads,
                params,
                Limits.from_settings(settings),
            )
        )
    finally:
        pools.shutdown()
    write_atomically(args.output, png)
    print(f"wrote {args.output} ({len(png):,} bytes)")
    return 0


def _run(args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from pixelmill.execution.cpus import available_cpus
    from pixelmill.execution.pipeline import Limits, check_and_transform_file
    from pixelmill.execution.pools import Pools
    from pixelmill.imaging import pipeline

    settings: Settings = load_settings(config=args.config)
    steps = pipeline.parse(pipeline.parse_text(args.ops), settings.max_operations)
    if args.jobs is not None and args.jobs < 1:
        print("pixelmill: --jobs must be at least 1", file=sys.stderr)
        return 2
    limits = Limits.from_settings(settings)
    jobs = min(len(args.inputs), args.jobs or settings.process_workers or available_cpus())
    pools = Pools(jobs, 1, start_method="fork")  # no threads yet: fork is safe, and quick
    failures: list[tuple[Path, str]] = []
    written = 0
    started = time.perf_counter()

    async def one(source: Path) -> tuple[Path, list[Path] | str]:
        # the worker adds the extension of the format the output policy chooses
        target = args.out / source.stem
        try:
            return source, await pools.run(
                check_and_transform_file,
                source,
                target,
                steps,
                limits,
                None,
                args.format,
                "--format",
                True,
            )
        except (PixelmillError, OSError) as exc:
            return source, getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"

    async def everything() -> None:
        nonlocal written
        with tqdm(total=len(args.inputs), unit="img", disable=None) as bar:
            for next_done in asyncio.as_completed([one(path) for path in args.inputs]):
                source, outcome = await next_done
                if isinstance(outcome, str):
                    failures.append((source, outcome))
                else:
                    written += len(outcome)
                bar.update()

    args.out.mkdir(parents=True, exist_ok=True)
    pools.start()
    try:
        asyncio.run(everything())
    finally:
        pools.shutdown()
    seconds = time.perf_counter() - started
    done = len(args.inputs) - len(failures)
    print(
        f"{done} of {len(args.inputs)} images done, {written} files written to {args.out} "
        f"in {seconds:.1f} s ({done / seconds:.1f} images/s), {len(failures)} failed"
    )
    for source, reason in failures:
        print(f"failed: {source}: {reason}", file=sys.stderr)
    return 1 if failures else 0


def _url(args: argparse.Namespace) -> int:
    from pixelmill.delivery import images, signing, sources

    settings: Settings = load_settings(config=args.config)
    keys = settings.url_key_list
    if not keys:
        print("pixelmill: no URL signing key: set PIXELMILL_URL_KEYS", file=sys.stderr)
        return 2
    sources.check_form(args.source)
    if args.info:
        print(signing.info_path(keys[0], args.source))
        return 0
    images.parse_options(args.options, settings.max_operations)
    print(signing.image_path(keys[0], args.options, args.source))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from pixelmill.storage.db import migrate

    settings: Settings = load_settings(config=args.config)
    migrate(settings.database)
    print(f"database is at the latest revision: {_safe_url(settings.database)}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    import threading

    from pixelmill.execution.memory import keep_freed_buffers
    from pixelmill.jobs.worker import install_signal_handlers
    from pixelmill.log import setup_logging
    from pixelmill.services.runtime import Runtime

    settings: Settings = load_settings(config=args.config)
    if settings.redis_url is None:
        print(
            "pixelmill: workers in their own processes share work through Redis; set "
            "PIXELMILL_REDIS_URL (without it, `pixelmill serve` runs the services itself)",
            file=sys.stderr,
        )
        return 2
    setup_logging(settings)
    keep_freed_buffers()
    runtime = Runtime.open(settings)
    hard_stop = threading.Event()
    install_signal_handlers(runtime.stop, hard_stop)
    runtime.start_workers([s for s in SERVICES if args.service in ("all", s.name)])
    try:
        while not runtime.stop.wait(0.5):
            pass
    finally:
        if not hard_stop.is_set():  # a second signal leaves at once, messages in hand unacked
            runtime.close()
    return 0


def _dead_letters_parser(commands: Any) -> None:
    """`pixelmill dead-letters list|show|requeue|delete`, on the configured Redis (or, with
    none, the embedded data dir)."""
    dead = commands.add_parser(
        "dead-letters", help="list, show, requeue or delete the jobs given up on"
    )
    actions = dead.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="the dead letters, oldest first")
    listing.add_argument("--stream", help="only this stream (captions:in, captions:out, faces:in)")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.add_argument("--json", action="store_true", help="as JSON, one letter per line")
    show = actions.add_parser("show", help="one dead letter, as JSON")
    for action, verb in (("requeue", "run again once"), ("delete", "drop for good")):
        parser = actions.add_parser(action, help=f"{verb}: one letter, or --all")
        parser.add_argument("stream", nargs="?", help="the letter's stream")
        parser.add_argument("id", nargs="?", help="the letter's id")
        parser.add_argument("--all", action="store_true", help="every letter (of --stream)")
        parser.add_argument(
            "--stream", dest="only", metavar="STREAM", help="with --all: only this stream"
        )
    show.add_argument("stream", help="the letter's stream")
    show.add_argument("id", help="the letter's id")
    for parser in actions.choices.values():
        parser.add_argument("--config", type=Path, help="YAML settings file (env vars win)")
    dead.set_defaults(run=_dead_letters)


def _dead_letters(args: argparse.Namespace) -> int:
    import json

    from pixelmill.services import dead_letters
    from pixelmill.services.resources import Resources

    settings: Settings = load_settings(config=args.config)
    if args.action in ("requeue", "delete") and args.all == bool(args.stream and args.id):
        print(f"pixelmill: {args.action} takes a STREAM and an ID, or --all", file=sys.stderr)
        return 2
    resources = Resources.open(settings)
    # embedded: the queue is the server's memory; a requeue makes the job unfinished, and
    # `pixelmill serve` queues it when it next starts
    live = not resources.embedded
    later = "" if live else " (queued when pixelmill serve next starts)"
    try:
        if args.action == "list":
            letters = dead_letters.list_letters(resources.queue, args.stream, args.limit)
            for letter in letters:
                print(json.dumps(letter, ensure_ascii=False) if args.json else _letter_line(letter))
            if not args.json:
                counts = dead_letters.counts(resources.queue)
                print(", ".join(f"{stream}: {n}" for stream, n in counts.items()))
        elif args.action == "show":
            letter = dead_letters.show(resources.queue, args.stream, args.id)
            print(json.dumps(letter, ensure_ascii=False, indent=2))
        elif args.action == "requeue" and args.all:
            count = dead_letters.requeue_all(resources, args.only, live=live)
            print(f"requeued {count} dead letter(s){later}")
        elif args.action == "requeue":
            dead_letters.requeue(resources, args.stream, args.id, live=live)
            print(f"requeued {args.stream} {args.id}{later}")
        elif args.all:
            print(f"deleted {dead_letters.delete_all(resources.queue, args.only)} dead letter(s)")
        else:
            dead_letters.delete(resources.queue, args.stream, args.id)
            print(f"deleted {args.stream} {args.id}")
    finally:
        resources.close()
    return 0


def _letter_line(letter: dict[str, Any]) -> str:
    """One letter on one line: where, which, how often, when, why."""
    reason = letter["reason"] if len(letter["reason"]) <= 80 else letter["reason"][:79] + "…"
    return (
        f"{letter['stream']}  {letter['id']}  job {letter['job_id']}  "
        f"{letter['deliveries']} deliveries  {letter['first_failure']} → "
        f"{letter['last_failure']}  {reason}"
    )


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _output_format(name: str) -> str:
    """--format's value: a format name the codec knows, in any case."""
    from pixelmill.errors import InvalidParameter
    from pixelmill.imaging import codec

    try:
        return codec.output_format(name).name
    except InvalidParameter as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None


if __name__ == "__main__":
    sys.exit(main())
