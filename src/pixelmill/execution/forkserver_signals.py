"""Imported by the forkserver only (`pools.PRELOAD`), never by the API process: the
forkserver and every worker process it forks ignore SIGTERM.

A service manager that stops a whole process group or cgroup (systemd's default
`KillMode=control-group`, `kill -TERM -<pgid>`) sends SIGTERM to every process of pixelmill
at once. `pixelmill serve` answers it by draining (`PIXELMILL_DRAIN_SECONDS`) and finishing
the requests in hand, some of which are running in worker processes; those must not die
first. The workers end when the server shuts its pools down, and with it if it is killed
(`pools._init_worker` asks the kernel for that: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
