# Developer tasks for onex. `make help` lists them.
# Everything runs in the virtual environment .venv, which `make install` creates and keeps in
# step with pyproject.toml.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The interpreter the virtual environment is made from: `make install PYTHON=/path/to/python3.11`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
# Stamp of the last successful install; stale when pyproject.toml changes.
INSTALL_STAMP := $(VENV)/.install.stamp

# `make run HOST=0.0.0.0 PORT=9000`
HOST ?= 127.0.0.1
PORT ?= 8000
# Extra arguments for pytest in `make test`, e.g. `make test PYTEST_ARGS="-x -n auto"`.
PYTEST_ARGS ?=

.PHONY: help install lint typecheck migrations-check test run fmt bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  make %-17s %s\n", $$1, $$2}'

install: $(INSTALL_STAMP) ## create .venv and install the project with its dev tools

$(INSTALL_STAMP): pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
		if [ -z "$(PYTHON)" ]; then echo "error: python3.11 (or python3) not found" >&2; exit 1; fi; \
		echo "creating $(VENV) with $(PYTHON)"; \
		"$(PYTHON)" -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'
	@touch $@

lint: install ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy (strict) on app/ and bench/
	$(BIN)/mypy app bench

migrations-check: install ## migrate a throw-away SQLite database to head, then `alembic check`
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	export ONEX_DATABASE_URL="sqlite:///$$tmp/migrations-check.db"; \
	echo "alembic upgrade head && alembic check on $$ONEX_DATABASE_URL"; \
	$(BIN)/alembic upgrade head; \
	$(BIN)/alembic check

test: install lint typecheck migrations-check ## all checks, then pytest on SQLite and PostgreSQL
	bash scripts/test.sh $(PYTEST_ARGS)

run: install ## migrate, load the demo data and serve (HOST=127.0.0.1 PORT=8000)
	mkdir -p data
	$(BIN)/python -m app migrate
	$(BIN)/python -m app demo --url http://$(HOST):$(PORT)
	$(BIN)/python -m app serve --host $(HOST) --port $(PORT)

fmt: install ## format the code and apply ruff's automatic fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## run the benchmarks in bench/, if there are any
	@if [ -d bench ]; then \
		$(BIN)/python -m bench; \
	else \
		echo "no bench/ folder: nothing to benchmark"; \
	fi

clean: ## remove .venv, caches and build output (keeps data/)
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
