"""Every refusal speaks the caller's language (Accept-Language), in one language per line.

Two sweeps: named refusals of each kind (bad field, not found, forbidden, money rule,
conflict, no credential), and a walk over every operation of the OpenAPI document, refused by
a missing credential, an unknown id or a malformed body, for each kind of caller."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import City, build_city, make_app
from tests.language import has_chinese, has_chinese_outside_quotes, mixed_lines, python_reprs

LANGUAGES = ("zh-CN", "en")
UNKNOWN_ID = "x_404"  # an id token: allowed beside Chinese text, and found nowhere
MALFORMED_BODY = {"unknown_field_x": 1}


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    app = make_app(tmp_path)
    yield build_city(app)
    app.close()


def texts_of(body: dict[str, Any]) -> list[str]:
    """What a person reads in an error answer: the message and any worded details."""
    found = [str(body.get("message", ""))]
    for value in (body.get("details") or {}).values():
        items = value if isinstance(value, list) else [value]
        found.extend(item for item in items if isinstance(item, str) and " " in item)
    return found  # strings without a space in details are ids and codes, not wording


def assert_in_language(body: dict[str, Any], language: str, where: str) -> None:
    assert set(body) >= {"error", "message"}, f"{where}: {body}"
    for text in texts_of(body):
        assert not python_reprs(text), f"{where}: a Python repr: {text!r}"
        if language == "en":
            assert not has_chinese_outside_quotes(text), f"{where}: Chinese in en: {text!r}"
        else:
            assert has_chinese(text), f"{where}: not Chinese: {text!r}"
            assert not mixed_lines(text), f"{where}: {mixed_lines(text)}"


def refuse(city: City, language: str, method: str, path: str, token: str | None, body: Any = None):  # type: ignore[no-untyped-def]
    headers = {"Accept-Language": language}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return city.client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_kind_of_refusal_answers_in_the_asked_language(city: City, language: str) -> None:
    spec = {"name": "j", "command": "true", "cards": 1, "max_run_time_s": 60}
    existing = {"name": "prov-a", "kind": "provider", "region": "浙江/杭州"}
    cases = [
        ("bad field", "POST", "/v1/jobs", city.enterprise, {**spec, "cards": -1}, 422),
        ("unknown field", "POST", "/v1/jobs", city.enterprise, {**spec, "colour": 1}, 422),
        ("not found", "GET", f"/v1/jobs/{UNKNOWN_ID}", city.enterprise, None, 404),
        ("forbidden", "POST", "/v1/jobs", city.provider, spec, 403),
        ("money rule", "POST", "/v1/jobs", city.enterprise, spec, 422),
        ("conflict", "POST", "/v1/organisations", city.operator, existing, 409),
        ("no credential", "GET", "/v1/jobs", None, None, 401),
        ("unknown route", "GET", "/v1/no-such-thing", city.enterprise, None, 404),
    ]
    for name, method, path, token, body, status in cases:
        reply = refuse(city, language, method, path, token, body)
        assert reply.status_code == status, f"{name}: {reply.status_code} {reply.text}"
        assert_in_language(reply.json(), language, name)


def operations(city: City) -> list[tuple[str, str]]:
    schema = city.client.get("/openapi.json").json()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", UNKNOWN_ID, path))
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_operation_refuses_in_the_asked_language(city: City, language: str) -> None:
    walked = refused = 0
    callers = {
        "anonymous": None,
        "enterprise": city.enterprise,
        "provider": city.provider,
        "agency": city.agency,
    }
    for method, path in operations(city):
        for caller, token in callers.items():
            body = MALFORMED_BODY if method in {"POST", "PUT", "PATCH"} else None
            reply = refuse(city, language, method, path, token, body)
            walked += 1
            if 400 <= reply.status_code < 500 and reply.headers["content-type"].startswith(
                "application/json"
            ):
                refused += 1
                assert_in_language(reply.json(), language, f"{caller} {method} {path}")
    assert walked > 200 and refused > walked // 2, (walked, refused)
