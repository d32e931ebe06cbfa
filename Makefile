# Two commands for a fresh machine: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-long check format lint typecheck bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pixelmill needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/pixelmill serve

test: $(STAMP)
	$(BIN)/pytest

# the long suites (soak, scale, schemathesis, fault injection), left out of `make test`
test-long: $(STAMP)
	$(BIN)/pytest -m long

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

# every benchmark in bench/, then one table of figures against their references;
# `make bench BENCH_ARGS=--quick` for the short version, `BENCH_ARGS="--only collage"` for one
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# every UI page at 1280×800 and 390×844, with content on it, in docs/screenshots/ (Chromium)
.PHONY: screenshots
screenshots: $(STAMP)
	$(BIN)/python -m tests.browser.screenshots

# pixelmill on seven hosts (Linux network namespaces: svc with Redis and PostgreSQL, two API
# hosts behind HAProxy, two worker hosts) under a mixed load while faults are injected, then
# every job counted. Needs root, iproute2, haproxy, nftables, redis-server and PostgreSQL;
# ~4 minutes. The last line is the count.
CLUSTER_LOG ?= /tmp/pixelmill-cluster-test.log
.PHONY: cluster-test
cluster-test: $(STAMP)
	@PIXELMILL_CLUSTER_LOG=$(CLUSTER_LOG) $(BIN)/pytest tests/cluster -m cluster -s -p no:cacheprovider; \
	status=$$?; grep '^cluster:' $(CLUSTER_LOG) | tail -n 1; exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
