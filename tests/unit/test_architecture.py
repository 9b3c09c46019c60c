"""The import rules of docs/architecture.md ("What may import what"), checked on the source:
a change that breaks the layering fails here, not in review."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SOURCE = Path(__file__).parents[2] / "src" / "suanli"
# Layer → the suanli layers it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "domain": {"errors", "i18n"},
    "errors": {"i18n"},
    "i18n": set(),
    "config": {"i18n"},
    "simulation": {"domain", "errors", "i18n"},
    "adapters": {"domain", "errors", "i18n", "config"},
    "services": {"adapters", "domain", "errors", "i18n", "config"},
    "bootstrap": {"adapters", "config", "services", "domain", "errors", "i18n"},
    "api": {"adapters", "bootstrap", "domain", "errors", "i18n", "services", "config"},
    "cli": {
        "adapters",
        "api",
        "bootstrap",
        "config",
        "domain",
        "errors",
        "i18n",
        "services",
        "simulation",
    },
}
# Modules that compose the whole application, and so sit with the entrypoints, though filed
# under services (each says so in its docstring).
COMPOSITION = {"suanli.services.server", "suanli.services.demo"}
DOMAIN_THIRD_PARTY = {"numpy"}
FORBIDDEN_IN_DOMAIN = {("os", "environ"), ("time", "time"), ("time", "monotonic")}


def modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = ".".join(path.relative_to(SOURCE.parent).with_suffix("").parts)
        found.append((name.removesuffix(".__init__"), ast.parse(path.read_text(encoding="utf-8"))))
    return found


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize(("module", "tree"), modules(), ids=lambda value: str(value)[:60])
def test_each_module_imports_only_what_its_layer_may(module: str, tree: ast.Module) -> None:
    layer = layer_of(module)
    if module in COMPOSITION:
        layer = "bootstrap"
    allowed = ALLOWED.get(layer, set()) | {layer}
    if module in COMPOSITION:
        allowed |= {"api", "bootstrap"}
    wrong = {
        name
        for name in imported(tree)
        if name.startswith("suanli.") and layer_of(name) not in allowed
    }
    assert not wrong, f"{module} ({layer}) imports {sorted(wrong)}"


@pytest.mark.parametrize(
    ("module", "tree"),
    [(name, tree) for name, tree in modules() if layer_of(name) == "domain"],
    ids=lambda value: str(value)[:60],
)
def test_the_domain_is_pure(module: str, tree: ast.Module) -> None:
    """Standard library and NumPy only; no environment, no wall clock."""
    outside = {
        name.split(".")[0]
        for name in imported(tree)
        if not name.startswith("suanli")
        and name.split(".")[0] not in sys.stdlib_module_names
        and name.split(".")[0] not in DOMAIN_THIRD_PARTY
    }
    assert not outside, f"{module} imports {sorted(outside)}"
    for forbidden in ("subprocess", "socket", "sqlalchemy", "fastapi", "httpx"):
        assert forbidden not in {name.split(".")[0] for name in imported(tree)}, module
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            assert (node.value.id, node.attr) not in FORBIDDEN_IN_DOMAIN, (
                f"{module} reads {node.value.id}.{node.attr}"
            )
