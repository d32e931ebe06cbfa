#!/bin/sh
# Container entrypoint: `pixelmill` subcommands by name (serve, worker, migrate, run, collage),
# anything else runs as given. Testable outside a container: tests/deploy runs it.
set -eu

case "${1:-serve}" in
    serve|worker|migrate|run|collage|--version|--help)
        if [ "$#" -eq 0 ]; then set -- serve; fi
        exec pixelmill "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
