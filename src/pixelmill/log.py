"""Logging: standard-library `logging` to stderr and to a rotating log file."""

from __future__ import annotations

import logging
import logging.handlers
import sys

from pixelmill.config import Settings

FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


def setup_logging(settings: Settings) -> None:
    """Send pixelmill's (and uvicorn's) records to stderr and the log file; idempotent."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_pixelmill", False)]:
        root.removeHandler(handler)
        handler.close()
    path = settings.log_path
    path.parent.mkdir(parents=True, exist_ok=True)
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = [
        logging.StreamHandler(sys.stderr),
        logging.handlers.RotatingFileHandler(
            path, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8"
        ),
    ]
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._pixelmill = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
