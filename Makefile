# The two commands a new user runs: `make install`, then `make test`. `make run` is the demo.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install test lint typecheck unit e2e chart run bench capacity-report pool-loadtest clean

# Gateway venv in ./.venv; the vLLM engine (CPU) and its converted model in a per-user cache
# folder keyed by the vLLM version, so fresh clones reuse them (see serving/local_engine.py).
install:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m serving.local_engine install
	$(BIN)/python tests/compat/llamaindex_env.py install

# Everything: lint, format check, strict typing, unit tests, real-engine end-to-end tests.
test: lint typecheck
	$(BIN)/python -m pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

unit:
	$(BIN)/python -m pytest tests/unit

e2e:
	$(BIN)/python -m pytest tests/e2e tests/contract tests/compat

chart:
	$(BIN)/python -m pytest tests/chart

run:
	$(BIN)/sovereign-gateway run-local

# Benchmarks (minutes each; numbers printed and written under loadtest/results/).
bench:
	$(BIN)/python -m loadtest.overhead

capacity-report:
	$(BIN)/sovereign-gateway capacity report --out loadtest/results/capacity --validate

pool-loadtest:
	$(BIN)/python -m loadtest.pool_run --engines 20 --users 80 --run-time 60s

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
