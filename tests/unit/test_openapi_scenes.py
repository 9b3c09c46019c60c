"""Every JSON body the scenario exchange (/v1/scenes) returns is described in the OpenAPI
document: a named schema whose fields are typed, never `{}` or an object of anything."""

from __future__ import annotations

from typing import Any

from suanli.api.openapi_dump import openapi_document

# A file download, not JSON.
NOT_JSON = {("get", "/v1/scenes/export/{kind}")}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    ref = schema.get("$ref")
    if ref is None:
        return None, schema
    name = ref.rsplit("/", 1)[-1]
    found: dict[str, Any] = document["components"]["schemas"][name]
    return name, found


def untyped(
    document: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]
) -> list[str]:
    """The places under `schema` that accept anything (`where` names the first)."""
    name, schema = resolve(document, schema)
    if name is not None:
        if name in seen:
            return []
        seen.add(name)
        where = name
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return [
                problem
                for option in schema[key]
                for problem in untyped(document, option, where, seen)
            ]
    kind = schema.get("type")
    if kind is None:
        return [] if "const" in schema or "enum" in schema else [where]
    if kind == "array":
        return untyped(document, schema.get("items", {}), f"{where}[]", seen)
    if kind != "object":
        return []
    problems: list[str] = []
    properties: dict[str, Any] = schema.get("properties", {})
    for field, inner in properties.items():
        problems += untyped(document, inner, f"{where}.{field}", seen)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        problems += untyped(document, extra, f"{where}.*", seen)
    elif not properties:
        problems.append(where)
    return problems


def scene_bodies() -> list[tuple[str, str, str, dict[str, Any]]]:
    document = openapi_document()
    found = []
    for path, item in document["paths"].items():
        if not path.startswith("/v1/scenes"):
            continue
        for method, operation in item.items():
            if (method, path) in NOT_JSON:
                continue
            for status, response in operation["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                found.append((method, path, status, schema or {}))
    return found


def test_every_scenes_response_body_is_a_typed_named_schema() -> None:
    document = openapi_document()
    bodies = scene_bodies()
    assert len(bodies) >= 20, bodies  # every JSON route of the exchange, not a few
    problems = {
        f"{method.upper()} {path} {status}": untyped(document, schema, "body", set())
        for method, path, status, schema in bodies
    }
    untyped_bodies = {where: found for where, found in problems.items() if found}
    assert untyped_bodies == {}
    assert all("$ref" in schema for *_, schema in bodies)


def test_the_check_catches_an_untyped_body() -> None:
    document = openapi_document()
    assert untyped(document, {}, "body", set()) == ["body"]
    anything = {"type": "object", "additionalProperties": True}
    assert untyped(document, anything, "body", set()) == ["body"]
    page = {"type": "object", "properties": {"items": {"type": "array", "items": {}}}}
    assert untyped(document, page, "body", set()) == ["body.items[]"]


def test_an_items_extra_is_one_of_the_two_kinds_columns() -> None:
    """`extra` names each kind's columns; an object of anything (`dict[str, Any]`) fails."""
    document = openapi_document()
    extra = document["components"]["schemas"]["ItemPublic"]["properties"]["extra"]
    assert untyped(document, extra, "ItemPublic.extra", set()) == []
    options = {}
    for option in extra["anyOf"]:
        name, schema = resolve(document, option)
        options[name] = sorted(schema["properties"])
        assert schema["additionalProperties"] is False
    assert options == {
        "OpportunityExtra": ["budget_fen", "deadline"],
        "CapabilityExtra": ["accelerators", "deployment_modes", "maturity"],
    }
    free_form = {"type": "object", "additionalProperties": True, "title": "Extra"}
    assert untyped(document, free_form, "ItemPublic.extra", set()) == ["ItemPublic.extra"]
