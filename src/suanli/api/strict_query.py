"""Query parameters, read strictly: the request-body rule (`api.schemas.Strict`) for the query.

A query carries text, so pydantic's lax parsing reads `?limit=5.0`, `+5`, ` 5`, `1_000` as an
integer and `?mine=yes`, `1`, `on`, `t` as a boolean. Here every integer parameter of every
route must be written in decimal digits (`20`, `-3`; no sign but `-`, no point, exponent,
space or underscore), every number parameter in decimal digits with an optional fraction
(`0.5`), and every boolean parameter `true` or `false` (or `True`/`False`, as Python clients write
them), as the OpenAPI document types them;
anything else is a 422 naming the parameter. Bounds stay with each parameter's `Query(...)`.

One app-wide dependency reads each route's declared parameters (its own and those of its
dependencies, `limit` and `offset` included), so a parameter added later is covered too.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

QUERY_INTEGER = "query_integer"  # pydantic-style error types; api.validation_messages words them
QUERY_NUMBER = "query_number"
QUERY_BOOLEAN = "query_boolean"
RULES: dict[str, tuple[re.Pattern[str], str]] = {
    QUERY_INTEGER: (
        re.compile(r"-?[0-9]+"),
        "Input should be an integer in decimal digits, like 20",
    ),
    QUERY_NUMBER: (
        re.compile(r"-?[0-9]+(\.[0-9]+)?"),
        "Input should be a number in decimal digits, like 0.5",
    ),
    # `True`/`False` too: what Python's requests library writes for a bool.
    QUERY_BOOLEAN: (re.compile(r"true|false|True|False"), "Input should be true or false"),
}
_TYPED = "_suanli_typed_query"  # the route's (name, rule) pairs, worked out on its first call


async def strict_query(request: Request) -> None:
    """Refuses a query parameter not written as its type is (all of them at once)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    typed: tuple[tuple[str, str], ...] | None = getattr(route, _TYPED, None)
    if typed is None:
        typed = tuple(_typed_parameters(route.dependant))
        setattr(route, _TYPED, typed)
    problems: list[dict[str, Any]] = []
    for name, kind in typed:
        pattern, message = RULES[kind]
        for raw in request.query_params.getlist(name):
            if not pattern.fullmatch(raw):
                problems.append(
                    {"type": kind, "loc": ("query", name), "msg": message, "input": raw}
                )
    if problems:
        raise RequestValidationError(problems)


def _typed_parameters(dependant: Dependant) -> typing.Iterator[tuple[str, str]]:
    """(name, rule) for every integer, number or boolean query parameter, nested ones too."""
    for field in dependant.query_params:
        kind = _kind(field.field_info.annotation)
        if kind is not None:
            yield field.alias, kind
    for inner in dependant.dependencies:
        yield from _typed_parameters(inner)


def _kind(annotation: Any) -> str | None:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        kinds = {_kind(arg) for arg in typing.get_args(annotation) if arg is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    if annotation is bool:  # before int: a bool is an int to Python
        return QUERY_BOOLEAN
    if annotation is int:
        return QUERY_INTEGER
    if annotation is float:
        return QUERY_NUMBER
    return None
