"""Kubernetes probes on the API's `GET /health`: `python probe.py live` or `probe.py ready`.

`/health` answers 503 `degraded` when anything pixelmill needs is down, shared dependencies
(database, Redis, storage) and background services included: a worker Deployment that KEDA
scaled to zero counts as "down" there. Probing it with `httpGet` would take every API pod
out of the Service at once when Redis restarts or the storer is at zero replicas, and restart
them all if it were the liveness probe. So the probes read its answer instead:

    live    /health answered (200 or 503) with its JSON in time: the process and its event
            loop work. A hung or dead process fails; an outage elsewhere does not.
    ready   live, and this pod's own parts are up (its worker pool, its results folder).
            Shared dependencies are left out: every pod sees the same outage, and its own
            503 with a `detail` tells a client more than the ingress's "no endpoints".

Standard library only, so the probe starts fast (one Python start per probe period).
"""

from __future__ import annotations

import http.client
import json
import os
import sys
from collections.abc import Mapping

# the components of /health that belong to this pod, not to what all pods share
POD_COMPONENTS = ("workers", "results_dir")


def port_from(environ: Mapping[str, str]) -> int:
    """The port `pixelmill serve` listens on, found as it finds it."""
    return int(environ.get("PIXELMILL_PORT") or environ.get("PORT") or 8000)


def verdict(mode: str, status: int, body: bytes) -> str | None:
    """Why the probe fails (None: it passes), from /health's status code and body."""
    if status not in (200, 503):
        return f"/health answered {status}"
    try:
        components = json.loads(body)["components"]
    except (ValueError, KeyError, TypeError):
        return "/health did not answer its JSON"
    if mode == "live":
        return None
    down = [name for name in POD_COMPONENTS if components.get(name, {}).get("status") != "ok"]
    return f"down in this pod: {', '.join(down)}" if down else None


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("live", "ready"):
        print("usage: probe.py live|ready", file=sys.stderr)
        return 2
    connection = http.client.HTTPConnection("127.0.0.1", port_from(os.environ), timeout=4)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        problem = verdict(argv[1], response.status, response.read())
    except OSError as error:
        problem = f"/health did not answer: {error}"
    finally:
        connection.close()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
