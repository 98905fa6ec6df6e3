# The two commands a new user runs: `make install`, then `make test`. `make run` is the demo.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install browser-deps test lint typecheck unit e2e chart run bench capacity-report pool-loadtest clean

# Gateway venv in ./.venv; the vLLM engine (CPU) and its converted model in a per-user cache
# folder keyed by the vLLM version, so fresh clones reuse them (see serving/local_engine.py).
install:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m serving.local_engine install
	$(BIN)/python tests/compat/llamaindex_env.py install
	$(MAKE) --no-print-directory browser-deps

# The browser tests (tests/browser): Debian's Chromium, which Playwright drives (a test tool's
# own browser download cannot work here), and the test OpenID provider's npm packages
# (tests/idp/node_modules, reinstalled only when the lockfile is newer).
browser-deps:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  || { echo "tests/browser need Debian's chromium: run 'sudo apt-get install chromium'" >&2; \
	       exit 1; }; apt-get update -q && apt-get install -y -q --no-install-recommends chromium; }
	@command -v npm >/dev/null || { echo "tests/idp needs Node.js 20+ and npm" >&2; exit 1; }
	@[ tests/idp/node_modules/.package-lock.json -nt tests/idp/package-lock.json ] \
	  || (cd tests/idp && npm ci --no-audit --no-fund --loglevel=error)

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
	$(BIN)/python -m pytest tests/e2e tests/contract tests/compat tests/browser

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
