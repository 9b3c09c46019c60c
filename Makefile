# Two commands matter: `make demo` and `make test`. Each sets up everything it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test venv dev-deps system-deps services lint typecheck unit integration e2e clean web web-types web-types-check

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

# The web portal (web/): npm ci when the lockfile changes, the build when a source changes.
# The build lands in the Python package (src/suanli/web_static/, not committed).
WEB_STATIC := src/suanli/web_static
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json web/scripts/copy-swagger.mjs
web/node_modules/.installed: web/package-lock.json web/package.json
	cd web && npm ci --no-audit --no-fund
	touch $@

$(WEB_STATIC)/.built: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run build
	touch $@

web: $(WEB_STATIC)/.built

# API types generated from the OpenAPI document (no server needed); commit both files.
web-types: web/node_modules/.installed
	PYTHONPATH=src $(BIN)/python -m suanli.api.openapi_dump web/openapi.json
	cd web && npx openapi-typescript openapi.json -o src/lib/api-types.ts

# Fails when the committed OpenAPI document or the generated types are stale.
web-types-check: web/node_modules/.installed
	@bash scripts/check-web-types.sh $(BIN)/python

demo: venv web
	$(BIN)/suanli demo $(DEMO_ARGS)

lint: dev-deps
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: dev-deps
	$(BIN)/mypy
	$(BIN)/mypy tests

test: dev-deps system-deps services web web-types-check lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

unit: dev-deps
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .suanli .pytest_cache .mypy_cache .ruff_cache $(WEB_STATIC) web/node_modules
