"""The HTTP API: `create_app(settings)` builds the whole application."""

from pixelmill.api.app import create_app

__all__ = ["create_app"]
