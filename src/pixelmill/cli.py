"""The `pixelmill` command: serve the API, or make a collage from files."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from pixelmill import __version__
from pixelmill.config import Settings, load_settings
from pixelmill.errors import PixelmillError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except (PixelmillError, ValidationError, FileNotFoundError) as exc:
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
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from pixelmill.api import create_app

    settings = load_settings(config=args.config, host=args.host, port=args.port)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None)
    return 0


def _collage(args: argparse.Namespace) -> int:
    from pixelmill.execution.collage import Upload, make_collage
    from pixelmill.execution.cpus import available_cpus
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
                max_pixels=settings.max_pixels,
                max_output_pixels=settings.max_output_pixels,
                png_compression=settings.png_compression,
            )
        )
    finally:
        pools.shutdown()
    write_atomically(args.output, png)
    print(f"wrote {args.output} ({len(png):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
