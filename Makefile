# auditkit — two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STORE ?= demo-store
DEMO_EVENTS ?= 200000

.PHONY: setup demo test lint typecheck pytest bench clean system-deps

# System packages the browser test needs (Debian's Chromium); skipped when present.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test (needs root and apt-get)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	rm -rf $(DEMO_STORE)
	$(BIN)/auditkit generate --events $(DEMO_EVENTS) --seed 7 --out $(DEMO_STORE)
	$(BIN)/python -m auditkit.demo $(DEMO_STORE)
	$(BIN)/python -c "from auditkit.reports import demo; print('activity summary report:', demo('$(DEMO_STORE)'))"

lint: setup
	$(BIN)/ruff check auditkit tests benchmarks
	$(BIN)/ruff format --check auditkit tests benchmarks

typecheck: setup
	$(BIN)/mypy

pytest: setup system-deps
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: setup
	cd benchmarks && ../$(BIN)/python ingest.py && ../$(BIN)/python search.py && ../$(BIN)/python explorer.py && ../$(BIN)/python reports.py && ../$(BIN)/python validate.py

clean:
	rm -rf $(VENV) $(DEMO_STORE) .pytest_cache .mypy_cache .ruff_cache
