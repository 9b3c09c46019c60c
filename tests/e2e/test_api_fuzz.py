"""Property-based requests over the whole OpenAPI schema (schemathesis, in process): whatever a
client sends, as the operator, a provider, an enterprise or an agency, the answer is a 2xx,
3xx or a 4xx naming what is wrong, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis.core.result import Ok

from tests.e2e.test_api_scenes import lexical_only_matcher
from tests.helpers import City, build_city, fund, make_app

EXAMPLES_PER_OPERATION = 10  # × 4 roles × 2 modes × every operation: about 5,000 requests
ROLES = ("operator", "provider", "enterprise", "agency")
# These reach out to the cluster address in the request (the schema's example is a private
# address): tests talk to 127.0.0.1 only. Their bad input is covered by test_connections.py.
CONTACTS_A_CLUSTER = frozenset(
    {
        "POST /v1/connections",
        "POST /v1/connections/{connection_id}/check",
        "GET /v1/connections/{connection_id}/capacity",
    }
)


@pytest.fixture(scope="module")
def fuzz_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    app = make_app(tmp_path_factory.mktemp("fuzz"))
    city = build_city(app)
    fund(app, city.enterprise_id)
    city.client.app.state.scene_matcher = lexical_only_matcher()  # type: ignore[attr-defined]
    yield city
    app.close()


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_no_request_gets_a_server_error(fuzz_city: City, mode: schemathesis.GenerationMode) -> None:
    """Valid (positive) and invalid (negative) requests to every operation."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_city.client.app)
    results = list(schema.get_all_operations())
    broken = [result.err() for result in results if not isinstance(result, Ok)]
    assert not broken, broken  # every operation's schema must be usable
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    labels = {operation.label for operation in operations}
    assert labels >= CONTACTS_A_CLUSTER, CONTACTS_A_CLUSTER - labels  # the exclusion is current
    operations = [op for op in operations if op.label not in CONTACTS_A_CLUSTER]
    assert len(operations) >= 70  # the whole API, not a corner of it
    tried = 0
    for operation in operations:
        try:
            _no_server_error(fuzz_city, operation.as_strategy(generation_mode=mode))
            tried += 1
        except Unsatisfiable:  # nothing to make invalid: no parameters, no body
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
    assert tried >= len(operations) // 2, f"only {tried} operations could be tried"
    # every successful write appended its audit entry (api/context.py keeps any that did not)
    assert fuzz_city.client.app.state.unaudited_writes == []  # type: ignore[attr-defined]


def _no_server_error(city: City, requests: SearchStrategy[Any]) -> None:
    @given(case=requests)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same requests every run: a failure here is reproducible
        database=None,
    )
    def each(case: Any) -> None:
        for role in ROLES:
            response = case.call(headers=city.headers(getattr(city, role)))
            where = f"{case.method} {case.formatted_path} as {role}"
            assert response.status_code < 500, (
                f"{where}: {response.status_code} {response.text[:500]}"
            )

    each()
