"""Property-based API testing: schemathesis generates requests from the OpenAPI document.

Every operation gets valid (positive) and invalid (negative) requests, some aimed at
resources that exist. Each response must be no 5xx and must conform to the document (status
code, content type, headers, body schema); invalid requests must be rejected with a 4xx.
The run is deterministic (derandomized Hypothesis) and bounded (fixed example counts).

Every default check runs except ``positive_data_acceptance``: a document cannot express the
API's semantic rules (the query grammar and indexed fields, preconditions, unique values,
soft deletion), so schema-valid requests are legitimately answered 400, 410, 412 or 422.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

#: Examples per operation: positive, negative, positive on an existing resource.
POSITIVE, NEGATIVE, EXISTING = 14, 8, 10
MIN_REQUESTS = 1000


def _seed(client: TestClient) -> dict[str, str]:
    """Resources for path parameters: a live book, a live draft note, a live profile."""
    book = client.post(
        "/book",
        params={"resource_id": "b-1"},
        json={"title": "Dune", "isbn": "x-1", "year": 1965, "tags": ["a"]},
    )
    note = client.post("/note", params={"resource_id": "n-1"}, json={"text": "draft"})
    profile = client.post("/user-profile", params={"resource_id": "u-1"}, json={"name": "Ann"})
    assert {book.status_code, note.status_code, profile.status_code} == {201}
    return {"book": "b-1", "note": "n-1", "user-profile": "u-1"}


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors_or_schema_violations(app_factory: Any) -> None:
    app, _ = app_factory()
    with TestClient(app) as client:
        existing = _seed(client)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    requests: Counter[str] = Counter()
    statuses: Counter[int] = Counter()

    def run(strategy: Any, examples: int, label: str) -> None:
        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            response = case.call()
            requests[label] += 1
            statuses[response.status_code] += 1
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

        check()

    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 56  # backup: export/import per model and for all models
    for op in operations:
        run(op.as_strategy(generation_mode=GenerationMode.POSITIVE), POSITIVE, "positive")
        run(op.as_strategy(generation_mode=GenerationMode.NEGATIVE), NEGATIVE, "negative")
        if "{resource_id}" in op.path:
            model = op.path.split("/")[1]
            params: dict[str, Any] = {"resource_id": existing[model]}
            if "{revision_id}" in op.path:
                params["revision_id"] = f"{existing[model]}:1"
            strategy = op.as_strategy(
                generation_mode=GenerationMode.POSITIVE, path_parameters=params
            )
            run(strategy, EXISTING, "existing")

    total = sum(requests.values())
    five_xx = sum(n for status, n in statuses.items() if status >= 500)
    print(f"\nschemathesis: {total} requests {dict(requests)}; statuses {sorted(statuses.items())}")
    assert total >= MIN_REQUESTS
    assert five_xx == 0
    assert sum(n for status, n in statuses.items() if 200 <= status < 300) > 100
