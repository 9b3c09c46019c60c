"""Every text and date field of every operation, on PostgreSQL (which cannot store NUL): a
valid request (schemathesis) with one string replaced by NUL, a lone surrogate, a control
character, or a date at the calendar's ends, is answered 4xx, never 5xx (issue 13, item 6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok

from tests.e2e.test_api_fuzz import CONTACTS_A_CLUSTER, ROLES
from tests.e2e.test_api_scenes import lexical_only_matcher
from tests.helpers import City, build_city, fund, make_app

EXAMPLES_PER_OPERATION = 4
BAD_TEXT = ("a\u0000b", "\ud800", "x\u001b[31m", "\u0085", "\ufffe")
BAD_DATES = ("0001-01-01", "9999-12-31", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")


@pytest.fixture(scope="module")
def pg_city(tmp_path_factory: pytest.TempPathFactory, postgres_admin_url: str) -> Iterator[City]:
    import secrets

    import sqlalchemy as sa

    schema = f"bad_text_{secrets.token_hex(4)}"
    engine = sa.create_engine(postgres_admin_url)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{postgres_admin_url}?options=-csearch_path%3D{schema}"
    app = make_app(tmp_path_factory.mktemp("badtext"), url)
    city = build_city(app)
    fund(app, city.enterprise_id)
    city.client.app.state.scene_matcher = lexical_only_matcher()  # type: ignore[attr-defined]
    yield city
    app.close()
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def string_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Where a string sits in a JSON document (values and, as ("key", k), keys)."""
    if isinstance(node, str):
        return [path]
    if isinstance(node, dict):
        found = [(*path, ("key", key)) for key in node]
        for key, value in node.items():
            found += string_paths(value, (*path, key))
        return found
    if isinstance(node, list):
        return [p for index, value in enumerate(node) for p in string_paths(value, (*path, index))]
    return []


def replaced(document: Any, path: tuple[Any, ...], value: str) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, tuple):  # a key
        return {(value if key == head[1] else key): item for key, item in document.items()}
    copy = json.loads(json.dumps(document))
    copy[head] = replaced(copy[head], rest, value)
    return copy


def _operations(city: City) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", city.client.app)
    found = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    return [op for op in found if op.label not in CONTACTS_A_CLUSTER]


@pytest.mark.slow
@pytest.mark.postgres
def test_bad_text_and_dates_in_any_field_never_reach_a_server_error(pg_city: City) -> None:
    operations = _operations(pg_city)
    assert len(operations) >= 70
    mutated = 0
    for operation in operations:
        try:
            mutated += _attack(pg_city, operation)
        except Unsatisfiable:
            continue
    assert mutated >= 100, f"only {mutated} fields were attacked"


def _attack(city: City, operation: Any) -> int:
    attacked = 0

    @given(case=operation.as_strategy(), choice=st.integers(0, 10_000))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def each(case: Any, choice: int) -> None:
        nonlocal attacked
        targets = _targets(case)
        if not targets:
            return
        where, path, bad = targets[choice % len(targets)]
        _mutate(case, where, path, bad)
        attacked += 1
        for role in ROLES:
            response = _send(city, case, city.headers(getattr(city, role)))
            label = f"{case.method} {case.formatted_path} [{where} {path!r} = {bad!r}] as {role}"
            assert response.status_code < 500, f"{label}: {response.status_code} {response.text}"

    each()
    return attacked


def _targets(case: Any) -> list[tuple[str, tuple[Any, ...], str]]:
    targets: list[tuple[str, tuple[Any, ...], str]] = []
    for path in string_paths(case.body) if isinstance(case.body, dict | list) else []:
        targets += [("body", path, bad) for bad in (*BAD_TEXT, *BAD_DATES)]
    # A lone surrogate cannot be put in a URL at all (it has no UTF-8 form), so not there.
    url_text = tuple(bad for bad in BAD_TEXT if "\ud800" not in bad)
    for where in ("path_parameters", "query"):
        for name in getattr(case, where) or {}:
            targets += [(where, (name,), bad) for bad in url_text + BAD_DATES[2:]]
    return targets


def _send(city: City, case: Any, headers: dict[str, str]) -> Any:
    """The request as a client would send it; the body as ASCII JSON, where a lone surrogate
    travels escaped (\\ud800), as a JavaScript client's JSON.stringify would send it."""
    content = None
    if isinstance(case.body, dict | list):
        content = json.dumps(case.body, ensure_ascii=True).encode()
        headers = {**headers, "Content-Type": "application/json"}
    return city.client.request(
        case.method,
        case.formatted_path,
        params=case.query or None,
        content=content,
        headers=headers,
    )


def _mutate(case: Any, where: str, path: tuple[Any, ...], bad: str) -> None:
    if where == "body":
        case.body = replaced(case.body, path, bad)
    elif where == "path_parameters":  # percent-encoded, as a client puts it in a URL
        case.path_parameters[path[0]] = quote(bad, safe="")
    else:
        case.query[path[0]] = bad
