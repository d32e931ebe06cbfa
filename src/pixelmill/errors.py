"""One error tree; each error knows its HTTP status and carries a public message.

    PixelmillError (500)            anything we raise on purpose
    ├── InvalidParameter (422)      a parameter out of range, an unknown operation, ...
    │   └── EmptyUpload (422)       a zero-byte or missing file
    ├── Forbidden (403)             a path that leads outside the files root
    ├── NotFound (404)              an input or a record that does not exist
    ├── TooLarge (413)              over the byte or pixel limit
    ├── UnsupportedImage (415)      not an image we can decode
    ├── Busy (429)                  this process has as much work in flight as it may take
    ├── BadGateway (502)            a remote source failed: bad status, broken connection,
    │                               a redirect the source hosts do not allow
    ├── Unavailable (503)           a component (worker pool, queue, database) is down, the
    │   │                           queue is full, or the work took longer than its timeout
    │   └── Stopped (503)           a worker stopped a chain between two steps: its request's
    │                               deadline passed or its client left
    └── GatewayTimeout (504)        a remote source took longer than its time limit

The message is what the client sees as `detail`; it must say what is wrong and never hold a
traceback or an internal path outside the user's own. Errors cross process boundaries
(worker pools pickle them), so each takes exactly one argument, the message.
"""

from __future__ import annotations


class PixelmillError(Exception):
    """Base of every error pixelmill raises on purpose."""

    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidParameter(PixelmillError):
    status_code = 422


class EmptyUpload(InvalidParameter):
    pass


class Forbidden(PixelmillError):
    status_code = 403


class NotFound(PixelmillError):
    status_code = 404


class TooLarge(PixelmillError):
    status_code = 413


class UnsupportedImage(PixelmillError):
    status_code = 415


class Busy(PixelmillError):
    status_code = 429


class BadGateway(PixelmillError):
    status_code = 502


class Unavailable(PixelmillError):
    status_code = 503


class Stopped(Unavailable):
    pass


class GatewayTimeout(PixelmillError):
    status_code = 504


RETRYABLE = (Busy, Unavailable)  # answered with `Retry-After`
