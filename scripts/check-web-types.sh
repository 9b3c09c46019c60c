#!/usr/bin/env bash
# Fails when web/openapi.json or web/src/lib/api-types.ts no longer match the API's routes.
# Fix: `make web-types`, then commit both files.
set -euo pipefail
python="${1:-.venv/bin/python}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
PYTHONPATH=src "$python" -m suanli.api.openapi_dump "$scratch/openapi.json"
if ! cmp -s "$scratch/openapi.json" web/openapi.json; then
  echo "suanli: web/openapi.json is stale (the API changed): run make web-types and commit" >&2
  exit 1
fi
(cd web && npx openapi-typescript "$scratch/openapi.json" -o "$scratch/api-types.ts" >/dev/null 2>&1)
if ! cmp -s "$scratch/api-types.ts" web/src/lib/api-types.ts; then
  echo "suanli: web/src/lib/api-types.ts is stale: run make web-types and commit" >&2
  exit 1
fi
echo "suanli: web API types are current"
