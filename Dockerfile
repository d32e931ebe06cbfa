# syntax=docker/dockerfile:1
# pixelmill: one image for the API and every worker (`pixelmill serve|worker|migrate`).

# --- build: wheels for pixelmill and its dependencies --------------------------------------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- run ------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
# Tesseract with English and Russian for /ocr; DejaVu for captions; curl-free health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        tesseract-ocr=5.3.* tesseract-ocr-eng=1:4.1.* tesseract-ocr-rus=1:4.1.* \
        fonts-dejavu-core=2.37-* \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/pixelmill-*.whl \
    && rm -rf /wheels
COPY docker/entrypoint.sh /usr/local/bin/pixelmill-entrypoint
RUN useradd --create-home --uid 10001 pixelmill \
    && mkdir -p /app/data /app/results \
    && chown -R pixelmill:pixelmill /app
USER 10001
WORKDIR /app
ENV PORT=8000 \
    PIXELMILL_HOST=0.0.0.0 \
    PIXELMILL_DATA_DIR=/app/data \
    PIXELMILL_RESULTS_DIR=/app/results \
    PYTHONUNBUFFERED=1
VOLUME ["/app/data", "/app/results"]
EXPOSE 8000
# /health/ready, not /health: whether this container can take requests (its pool, its results
# folder, not draining). /health is 503 whenever Redis, the database or a worker service is
# down, which would mark every API container unhealthy at once (Swarm and autoheal replace
# those) for an outage that restarting them cannot mend.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PIXELMILL_PORT\") or os.environ.get(\"PORT\", \"8000\")}/health/ready', timeout=4)"]
ENTRYPOINT ["pixelmill-entrypoint"]
CMD ["serve"]
