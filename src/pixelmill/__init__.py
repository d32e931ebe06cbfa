"""pixelmill: one engine of pure image operations behind five image-service surfaces."""

__version__ = "0.1.0"
