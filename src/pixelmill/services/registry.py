"""The background services, declared once: the runtime starts them, `pixelmill worker`
offers them, `/health` and `/metrics` report them.

    name        consumes        handler
    captioner   captions:in     Captioner: draws the caption, puts the JPEG on captions:out
    storer      captions:out    Storer: writes the file and the row
    faces       faces:in        FaceService: boxes the faces, writes the file and the row,
                                announces the image on the `faces` channel

A service's name is its consumer group, its heartbeat and its label in metrics. Each handler
is built from the process's resources; the builders import their module when called, so
that reading the names (the CLI's parser) stays cheap. The captioner's and the faces
service's pixel work runs on the resources' `pools` when the process has them (`pixelmill
serve`: the API's pools), else on threads of their own (`pixelmill.services.pixels`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixelmill.jobs.worker import Handler
    from pixelmill.services.resources import Resources


@dataclass(frozen=True)
class Service:
    """A background service: the stream it consumes, and how its handler is made. A handler
    with a `many(messages)` method also takes batches (see `pixelmill.jobs.worker`)."""

    name: str
    stream: str
    handler: Callable[[Resources], Handler]
    # consumer threads when the pixel work runs on the API's pools: with two, one takes and
    # hands over a batch while the other waits for its own, so the pools never wait for them
    pool_consumers: int = 1


def _captioner(resources: Resources) -> Handler:
    from pixelmill.execution.cpus import available_cpus
    from pixelmill.services.captions import Captioner

    settings = resources.settings
    return Captioner(
        queue=resources.queue,
        font=settings.caption_font,
        font_size=settings.caption_font_size,
        overlay=settings.caption_overlay,
        max_pixels=settings.max_pixels,
        max_deliveries=settings.max_deliveries,
        threads=settings.thread_workers or available_cpus(),
        pools=resources.pools,
    )


def _storer(resources: Resources) -> Handler:
    from pixelmill.services.captions import Storer

    return Storer(
        database=resources.database,
        repository=resources.repository,
        blobs=resources.blobs,
        inbox_dir=resources.inbox_dir,
    )


def _faces(resources: Resources) -> Handler:
    from pixelmill.execution.cpus import available_cpus
    from pixelmill.imaging.ops.faces import FacesParams
    from pixelmill.services.faces import FaceService

    settings = resources.settings
    return FaceService(
        database=resources.database,
        repository=resources.face_repository,
        blobs=resources.blobs,
        broadcaster=resources.broadcaster,
        params=FacesParams(
            min_size=settings.faces_min_size,
            model=str(settings.faces_model) if settings.faces_model else None,
        ),
        max_pixels=settings.max_pixels,
        max_deliveries=settings.max_deliveries,
        inbox_dir=resources.inbox_dir,
        threads=settings.thread_workers or available_cpus(),
        pools=resources.pools,
    )


CAPTIONER = Service("captioner", "captions:in", _captioner, pool_consumers=2)
STORER = Service("storer", "captions:out", _storer)
FACES = Service("faces", "faces:in", _faces, pool_consumers=2)
SERVICES = (CAPTIONER, STORER, FACES)
