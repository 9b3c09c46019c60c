# Two commands matter: `make demo` and `make test`. Each sets up everything it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test venv dev-deps system-deps services lint typecheck unit integration e2e clean

$(BIN)/suanli: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(BIN)/suanli

venv: $(BIN)/suanli

$(VENV)/.dev-installed: pyproject.toml $(BIN)/suanli
	$(BIN)/pip install -q -e '.[dev,ray]'
	touch $@

dev-deps: $(VENV)/.dev-installed

# apt packages for the real Slurm cluster the tests start (idempotent, quick when present)
system-deps:
	@bash scripts/install-system-deps.sh

# PostgreSQL is started before sessions and CI; start it if it is down.
services:
	@bash scripts/ensure-services.sh

demo: venv
	$(BIN)/suanli demo $(DEMO_ARGS)

lint: dev-deps
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: dev-deps
	$(BIN)/mypy
	$(BIN)/mypy tests

test: dev-deps system-deps services lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

unit: dev-deps
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .suanli .pytest_cache .mypy_cache .ruff_cache
