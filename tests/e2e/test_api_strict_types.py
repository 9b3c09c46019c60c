"""No type confusion in a request: an integer field takes a JSON integer only, a number field a
JSON number, a boolean field `true` or `false`, and every integer is bounded; a query parameter
is written as its type is. Anything else is a 422 naming the field, in the caller's language.

Generic: the request bodies and query parameters are walked from the OpenAPI document, so a
field added later is covered without a line here. Through the real HTTP app (in process)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from suanli.api.strict_query import RULES
from suanli.api.validation_messages import EN_STRICT, ZH_BY_TYPE
from suanli.domain.money import FEN_MAX
from tests.e2e.test_api_language import assert_in_language
from tests.helpers import City, build_city, fund, make_app
from tests.language import has_chinese, mixed_lines

ROLES = ("operator", "provider", "enterprise", "agency")
PATH_VALUES = {"kind": "opportunities"}  # the rest: an id found nowhere (bodies are refused first)
JSON_SAFE_MAX = 2**53 - 1  # the largest integer a JavaScript client (the portal) reads exactly

# Raw JSON text: some of these (NaN, Infinity) no JSON encoder writes, but a parser may read.
NOT_INTEGERS = {
    "a boolean": ["true", "false"],
    "a string": ['"5"', '"500"', '"1e3"', '" 5 "'],
    "a number with a point": ["5.0", "5.5", "-0.0"],
    "a number with an exponent": ["1e3", "1E2"],
    "too big": [str(2**63), str(10**30)],  # too small: see the whole-body test below
    "not finite": ["NaN", "Infinity", "-Infinity"],
    "an array or object": ["[5]", '{"v": 5}'],
}
NOT_NUMBERS = {
    "a boolean": ["true", "false"],
    "a string": ['"0.5"', '"1"'],
    "not finite": ["NaN", "Infinity", "-Infinity", "1e400"],
}
NOT_BOOLEANS = {
    "a number": ["0", "1", "1.0"],
    "a string": ['"true"', '"false"', '"yes"', '"1"', '"on"'],
}
NOT_DECIMALS = {"a boolean": ["true", "false"], "not finite": ["NaN", "Infinity"]}
NOT_QUERY = {
    "integer": ["1e2", "5.0", "+5", " 5", "5 ", "1_000", "0x10", "true", "", "٥", "5abc"],
    "number": ["true", "1e2", "+1", " 1", "NaN", "inf", ""],
    "boolean": ["1", "0", "yes", "no", "on", "TRUE", "t", ""],
}


@dataclass(frozen=True)
class Leaf:
    """A typed value somewhere in a request body: its path (`0` is an array's item, `*` a
    map's value) and its schema."""

    path: tuple[str | int, ...]
    kind: str  # integer | number | boolean | decimal (a number or its text: ratios)
    schema: dict[str, Any]

    @property
    def field(self) -> str:
        """The name the 422 gives it."""
        return ".".join(
            "0" if part == 0 else "k" if part == "*" else str(part) for part in self.path
        )

    def body(self, raw: str) -> str:
        """A JSON body with nothing but `raw` at this leaf."""
        text = raw
        for part in reversed(self.path):
            if part == 0:
                text = f"[{text}]"
            elif part == "*":
                text = f'{{"k": {text}}}'
            else:
                text = f"{{{json.dumps(part)}: {text}}}"
        return text


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the template, as OpenAPI writes it
    url: str  # with its path parameters filled in
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    app = make_app(tmp_path_factory.mktemp("strict"))
    built = build_city(app)
    fund(app, built.enterprise_id)
    yield built
    app.close()


@pytest.fixture(scope="module")
def openapi(city: City) -> dict[str, Any]:
    document: dict[str, Any] = city.client.get("/openapi.json").json()
    return document


def operations(openapi: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in openapi["paths"].items():
        for method, spec in item.items():
            url = path
            for parameter in spec.get("parameters", []):
                if parameter["in"] == "path":
                    value = PATH_VALUES.get(parameter["name"], "x_404")
                    url = url.replace("{" + parameter["name"] + "}", value)
            found.append(Operation(method.upper(), path, url, spec))
    return found


def leaves(
    openapi: dict[str, Any], schema: dict[str, Any], path: tuple[Any, ...] = ()
) -> Iterator[Leaf]:
    schemas = openapi["components"]["schemas"]
    while "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
    alternatives = schema.get("anyOf", []) + schema.get("oneOf", [])
    types = {alternative.get("type") for alternative in alternatives} | {schema.get("type")}
    if {"number", "string"} <= types:
        yield Leaf(path, "decimal", schema)
        return
    for alternative in alternatives:
        yield from leaves(openapi, alternative, path)
    if schema.get("type") in ("integer", "number", "boolean"):
        yield Leaf(path, schema["type"], schema)
    for name, inner in schema.get("properties", {}).items():
        yield from leaves(openapi, inner, (*path, name))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from leaves(openapi, schema["additionalProperties"], (*path, "*"))
    if "items" in schema:
        yield from leaves(openapi, schema["items"], (*path, 0))


def body_leaves(openapi: dict[str, Any]) -> list[tuple[Operation, Leaf]]:
    found: list[tuple[Operation, Leaf]] = []
    for operation in operations(openapi):
        content = (operation.spec.get("requestBody") or {}).get("content", {})
        if "application/json" in content:
            schema = content["application/json"]["schema"]
            unique = {(leaf.path, leaf.kind): leaf for leaf in leaves(openapi, schema)}
            found.extend((operation, leaf) for leaf in unique.values())
    return found


def send(city: City, operation: Operation, raw_body: str | None = None, **kwargs: Any) -> Any:
    """As the first kind of caller whose permission lets the request reach validation."""
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    reply = None
    for role in ROLES:
        reply = city.client.request(
            operation.method,
            operation.url,
            content=raw_body,
            headers={**city.headers(getattr(city, role)), **headers},
            **kwargs,
        )
        if reply.status_code not in (401, 403):
            return reply
    return reply


def refusal_of(reply: Any, field: str) -> str | None:
    """What is wrong with the answer, when it is not a 422 naming `field`."""
    if reply.status_code != 422:
        return f"{reply.status_code} {reply.text[:200]}"
    body = reply.json()
    problems = [problem["field"] for problem in body.get("details", {}).get("problems", [])]
    if field not in problems:
        return f"422 naming {problems}, not {field}"
    return None


def named_among_problems(reply: Any, field: str) -> bool:
    if reply.status_code != 422:
        return False
    problems = reply.json().get("details", {}).get("problems", [])
    return any(problem["field"] == field for problem in problems)


CONFUSIONS = {
    "integer": NOT_INTEGERS,
    "number": NOT_NUMBERS,
    "boolean": NOT_BOOLEANS,
    "decimal": NOT_DECIMALS,
}


def test_the_walk_finds_the_typed_fields_of_the_request_bodies(openapi: dict[str, Any]) -> None:
    found = {(operation.label, leaf.field, leaf.kind) for operation, leaf in body_leaves(openapi)}
    assert ("POST /v1/jobs", "cards", "integer") in found
    assert ("POST /v1/jobs", "preemptible", "boolean") in found
    assert ("POST /v1/jobs", "min_memory_gib", "number") in found
    assert ("POST /v1/pools", "shareable", "boolean") in found
    assert ("POST /v1/wallets/{org_id}/top-ups", "amount_fen", "integer") in found
    assert ("POST /v1/scenes/challenges", "criteria.0.weight_percent", "integer") in found
    assert ("POST /v1/scenes/challenges/{challenge_id}/reviews", "scores.k", "integer") in found
    assert ("POST /v1/vouchers/programs", "tiers.0.sme", "boolean") in found
    assert ("POST /v1/vouchers/programs", "base_ratio", "decimal") in found
    assert len(found) >= 70, len(found)


@pytest.mark.parametrize("kind", list(CONFUSIONS))
def test_every_typed_body_field_refuses_type_confusion_naming_the_field(
    city: City, openapi: dict[str, Any], kind: str
) -> None:
    """`"cards": true`, `"amount_fen": "500"`, `"nodes": 5.0`, `"shareable": 1`, 2**63: each is
    a 422 naming the field (before: lax parsing took most of them as 1, 500, 5 and true)."""
    wrong = []
    for operation, leaf in body_leaves(openapi):
        if leaf.kind != kind:
            continue
        for what, raws in CONFUSIONS[kind].items():
            for raw in raws:
                reply = send(city, operation, leaf.body(raw))
                problem = refusal_of(reply, leaf.field)
                if problem is not None:
                    wrong.append(f"{operation.label} {leaf.field} = {raw} ({what}): {problem}")
    assert not wrong, "\n".join(wrong)


def valid_values(leaf: Leaf) -> list[str]:
    """JSON a field of this kind takes (a value inside its bounds)."""
    if leaf.kind == "boolean":
        return ["true", "false"]
    if leaf.kind == "decimal":
        return ['"0.5"', "0.5", "1"]
    bounds = typed(leaf.schema)
    low = bounds.get("minimum", bounds.get("exclusiveMinimum", -1) + 1)
    value = int(max(low, min(1, bounds.get("maximum", low))))  # a bound may be written 1.0
    return [json.dumps(value)] if leaf.kind == "integer" else [json.dumps(value), f"{value}.0"]


def typed(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema itself, or its alternative that is not null."""
    alternatives = [schema, *schema.get("anyOf", [])]
    return next((each for each in alternatives if each.get("type") not in (None, "null")), {})


def test_every_typed_body_field_still_takes_its_own_json_type(
    city: City, openapi: dict[str, Any]
) -> None:
    """The other side: a JSON integer in bounds, an integer for a number, true and false, and a
    ratio as text or a number are not named (the body may be refused for its other fields)."""
    wrong = []
    for operation, leaf in body_leaves(openapi):
        for raw in valid_values(leaf):
            reply = send(city, operation, leaf.body(raw))
            if named_among_problems(reply, leaf.field):
                wrong.append(f"{operation.label} {leaf.field} = {raw}: {reply.text[:300]}")
    assert not wrong, "\n".join(wrong)


def test_every_integer_of_a_request_body_has_bounds_a_json_client_can_hold(
    openapi: dict[str, Any],
) -> None:
    """So a huge number is a 422 from the request type, never a 500 from the database driver;
    money is bounded by money.FEN_MAX."""
    wrong = []
    for operation, leaf in body_leaves(openapi):
        if leaf.kind != "integer":
            continue
        high = leaf.schema.get("maximum", leaf.schema.get("exclusiveMaximum"))
        if high is None or high > JSON_SAFE_MAX:
            wrong.append(f"{operation.label} {leaf.field}: maximum {high}")
        low = leaf.schema.get("minimum", leaf.schema.get("exclusiveMinimum"))
        if low is not None and low < -JSON_SAFE_MAX:
            wrong.append(f"{operation.label} {leaf.field}: minimum {low}")
        if leaf.field.endswith("_fen") and (high is None or high > FEN_MAX):
            wrong.append(f"{operation.label} {leaf.field}: money above FEN_MAX ({high})")
    assert not wrong, "\n".join(wrong)


def query_parameters(openapi: dict[str, Any]) -> list[tuple[Operation, str, str, dict[str, Any]]]:
    found = []
    for operation in operations(openapi):
        for parameter in operation.spec.get("parameters", []):
            if parameter["in"] != "query":
                continue
            schema = parameter["schema"]
            kinds = {each.get("type") for each in [schema, *schema.get("anyOf", [])]} - {
                None,
                "null",
            }
            if len(kinds) == 1 and (kind := kinds.pop()) in NOT_QUERY:
                found.append((operation, parameter["name"], kind, schema))
    return found


def test_the_walk_finds_the_typed_query_parameters(openapi: dict[str, Any]) -> None:
    found = {(op.label, name, kind) for op, name, kind, _ in query_parameters(openapi)}
    assert ("GET /v1/jobs", "limit", "integer") in found
    assert ("GET /v1/pools", "mine", "boolean") in found
    assert ("GET /v1/public/pools", "price_min_fen", "integer") in found
    assert ("GET /v1/public/pools", "domestic", "boolean") in found
    assert len(found) >= 40, len(found)


def test_every_typed_query_parameter_refuses_what_its_type_is_not(
    city: City, openapi: dict[str, Any]
) -> None:
    """`?limit=1e2`, `?limit=5.0`, `?limit=+5`, `?mine=yes`, `?mine=1`: a 422 naming the
    parameter (before: each was read as 100, 5, 5, true and true)."""
    wrong = []
    for operation, name, kind, _ in query_parameters(openapi):
        for raw in NOT_QUERY[kind]:
            reply = send(city, operation, params={name: raw})
            problem = refusal_of(reply, name)
            if problem is not None:
                wrong.append(f"{operation.label} ?{name}={raw!r}: {problem}")
    assert not wrong, "\n".join(wrong)


def test_every_typed_query_parameter_still_takes_its_own_spelling(
    city: City, openapi: dict[str, Any]
) -> None:
    wrong = []
    for operation, name, kind, schema in query_parameters(openapi):
        low = int(typed(schema).get("minimum", 0))
        good = {
            "integer": [str(low)],
            "number": [str(low), f"{low}.5"],
            "boolean": ["true", "false"],
        }
        for raw in good[kind]:
            reply = send(city, operation, params={name: raw})
            if named_among_problems(reply, name):
                wrong.append(f"{operation.label} ?{name}={raw}: {reply.text[:300]}")
    assert not wrong, "\n".join(wrong)


CASES = [
    ("POST", "/v1/jobs", '{"name": "j", "command": "true", "cards": true}', "cards", "enterprise"),
    ("POST", "/v1/jobs", '{"name": "j", "command": "true", "cards": "2"}', "cards", "enterprise"),
    ("POST", "/v1/jobs", '{"name": "j", "command": "true", "cards": 2.0}', "cards", "enterprise"),
    ("POST", "/v1/jobs", '{"name": "j", "command": "true", "preemptible": 1}', "preemptible",
     "enterprise"),
    ("GET", "/v1/jobs?limit=1e2", None, "limit", "enterprise"),
    ("GET", "/v1/pools?mine=yes", None, "mine", "provider"),
]  # fmt: skip


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize(("method", "path", "body", "field", "role"), CASES)
def test_a_confused_type_is_refused_in_the_callers_language(
    city: City, language: str, method: str, path: str, body: str | None, field: str, role: str
) -> None:
    headers = {**city.headers(getattr(city, role)), "Accept-Language": language}
    headers["Content-Type"] = "application/json"
    reply = city.client.request(method, path, content=body, headers=headers)
    assert reply.status_code == 422, reply.text
    answer = reply.json()
    assert (answer["error"], answer["field"]) == ("invalid_input", field), answer
    assert reply.headers["content-language"] == language
    assert_in_language(answer, language, f"{method} {path}")
    problem = answer["details"]["problems"][0]["message"]
    if language == "en":
        assert "JSON" in problem or "decimal digits" in problem or "true or false" in problem
    else:
        assert "应为" in problem, problem


def test_the_words_for_a_strict_refusal_exist_in_both_languages() -> None:
    kinds = set(EN_STRICT) | set(RULES)
    for kind in kinds:
        zh = ZH_BY_TYPE[kind]
        assert has_chinese(zh) and not mixed_lines(zh), (kind, zh)
        english = EN_STRICT.get(kind) or RULES[kind][1]
        assert not has_chinese(english), (kind, english)


def test_a_huge_amount_in_a_whole_body_is_a_422_naming_it_not_a_500(city: City) -> None:
    body = {"amount_fen": 2**63, "external_reference": "huge"}
    reply = city.post(city.operator, f"/v1/wallets/{city.enterprise_id}/top-ups", body)
    assert (reply.status_code, reply.json()["field"]) == (422, "amount_fen"), reply.text
    for amount in (FEN_MAX + 1, -(2**63), -(10**30)):  # below zero: the ledger words it
        body = {"amount_fen": amount, "external_reference": f"huge {amount}"}
        reply = city.post(city.operator, f"/v1/wallets/{city.enterprise_id}/top-ups", body)
        assert (reply.status_code, reply.json()["field"]) == (422, "amount_fen"), reply.text
