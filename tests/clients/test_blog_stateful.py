"""Stateful API testing of the blog app: schemathesis follows the OpenAPI ``links`` of the
blog's document from operation to operation (create an author, then read, replace, patch,
modify, delete, restore, switch it; create a post that refers to it; ...), on SQLite like
``make run``. No response may be a 5xx, and every response must conform to the document.

The requests are schema-valid (invalid ones are the other schemathesis tests' part) and the
transitions are the document's own links only (schemathesis' inferred ones are off), so the
run goes deep: a post made for the author just created, a comment on that post, and every
operation on each. Every default check runs except ``positive_data_acceptance``, as in the
other schemathesis tests: the document cannot express the API's semantic rules, so
schema-valid requests are legitimately answered 400, 409, 410, 412 or 422. The run is
deterministic and bounded; each scenario starts from an empty blog.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

pytestmark = pytest.mark.slow

#: See the module docstring.
EXCLUDED = [positive_data_acceptance]

#: Links every model's create operation must offer (operation ids, ``{m}`` = the model).
LINKED = ("get_{m}", "replace_{m}", "patch_{m}", "delete_{m}", "restore_{m}", "modify_{m}")


def _app(folder: Path) -> Any:
    from examples.blog.app import create_app
    from specstar.sql import SQLiteStorageFactory

    folder.mkdir(parents=True, exist_ok=True)
    return create_app(SQLiteStorageFactory(folder))


class FreshBlog:
    """An ASGI app that forwards to the current blog, replaced by an empty one (its own SQLite
    folder) before each scenario, so every scenario starts from the same state."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scenarios = 0
        self.app = _app(root / "s0")

    def reset(self) -> None:
        self.scenarios += 1
        self.app = _app(self.root / f"s{self.scenarios}")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def test_the_document_links_create_to_the_single_resource_operations(tmp_path: Path) -> None:
    document = _app(tmp_path).openapi()
    for model in ("author", "post", "comment"):
        links = document["paths"][f"/{model}"]["post"]["responses"]["201"].get("links", {})
        targets = {link["operationId"] for link in links.values()}
        assert {name.format(m=model) for name in LINKED} <= targets, (model, sorted(targets))
        for name, link in links.items():
            if name.startswith("create_"):
                continue
            assert link["parameters"]["resource_id"] == "$response.body#/resource_id"
    # a post refers to its author, a comment to its post: creating one links to creating the other
    author = document["paths"]["/author"]["post"]["responses"]["201"]["links"]
    assert author["create_post_with_author_id"] == {
        "operationId": "create_post",
        "requestBody": {"author_id": "$response.body#/resource_id"},
    }
    post = document["paths"]["/post"]["post"]["responses"]["201"]["links"]
    assert post["create_comment_with_post_id"]["requestBody"] == {
        "post_id": "$response.body#/resource_id"
    }


def test_stateful_run_finds_no_server_errors_or_schema_violations(tmp_path: Path) -> None:
    blog = FreshBlog(tmp_path)
    schema = schemathesis.openapi.from_asgi("/openapi.json", blog)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE])
    schema.config.phases.stateful.inference.algorithms = []
    calls: Counter[tuple[str, int]] = Counter()

    class Blog(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            blog.reset()

        def after_call(self, response: Any, case: Any) -> None:
            calls[
                (f"{case.operation.method.upper()} {case.operation.path}", response.status_code)
            ] += 1

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, excluded_checks=EXCLUDED, transport_kwargs=kwargs)

    Blog.run(
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    statuses = Counter[int]()
    for (_, status), n in calls.items():
        statuses[status] += n
    print(
        f"\nstateful schemathesis (blog): {sum(calls.values())} calls; {sorted(statuses.items())}"
    )
    assert not [s for s in statuses if s >= 500]
    # the links fed real ids: operations on an existing resource answered 2xx, and posts were
    # created for authors the run had just created (a made-up author_id is a 422)
    linked_ok = {
        operation
        for (operation, status), _ in calls.items()
        if "{resource_id}" in operation and 200 <= status < 300
    }
    assert len(linked_ok) >= 8, sorted(linked_ok)
    assert calls[("POST /post", 201)] > 0
