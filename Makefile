# Two commands matter: `make run` and `make test`. Both set up .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check clean bench

$(STAMP): pyproject.toml
	@echo "setting up .venv (first run only)"
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/relaybox serve --demo

# The suite runs in TEST_WORKERS processes (pytest-xdist; most of a test's time is spent waiting
# on a live server), then the few `serial` tests that restart the machine's PostgreSQL, alone.
TEST_WORKERS ?= 3
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not slow and not serial"
	$(BIN)/python -m pytest -q -p no:xdist -m "serial and not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy src/relaybox

check: lint typecheck test

# The benchmark of issue 4: starts what it measures on loopback, writes bench/results/<date>.*
# `make bench BENCH_ARGS=--quick` for a short run; `python -m bench --help` for every option.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[server,dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) relaybox-data .pytest_cache .mypy_cache .ruff_cache
