"""Logging: standard-library `logging` to stderr and to a rotating log file."""

from __future__ import annotations

import contextvars
import logging
import logging.handlers
import sys

from pixelmill.config import Settings

FORMAT = "%(asctime)s %(levelname)s %(process)d [%(request_id)s] %(name)s: %(message)s"

# The id of the request being served (set by the API's request-id middleware); "-" outside.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id`, which FORMAT shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


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
        handler.addFilter(RequestIdFilter())
        handler._pixelmill = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
