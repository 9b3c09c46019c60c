"""The portal's source files agree with the API and with each other: both locales have the
same keys, and the committed OpenAPI document (the source of the generated TypeScript types)
matches the routes. `make test` also regenerates the types and compares (check-web-types.sh)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LOCALES = REPO / "web" / "src" / "locales"


def _keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for key, value in tree.items():
        name = f"{prefix}{key}"
        found |= _keys(value, f"{name}.") if isinstance(value, dict) else {name}
    return found


def test_both_locales_have_exactly_the_same_keys_and_no_empty_text() -> None:
    trees = {name: json.loads((LOCALES / f"{name}.json").read_text()) for name in ("zh-CN", "en")}
    chinese, english = _keys(trees["zh-CN"]), _keys(trees["en"])
    assert chinese == english, {
        "only in zh-CN": sorted(chinese - english),
        "only in en": sorted(english - chinese),
    }
    assert len(chinese) > 50


def test_the_committed_openapi_document_matches_the_routes() -> None:
    from suanli.api.openapi_dump import rendered

    committed = (REPO / "web" / "openapi.json").read_text(encoding="utf-8")
    assert committed == rendered(), "web/openapi.json is stale: run `make web-types` and commit"
