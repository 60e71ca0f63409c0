"""Reference semantics the operator table of ``test_query_operators`` leaves out: the inverted
forms of the flag operators on present values, where the flag's value decides the result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from specstar.core import ResourceMeta
from specstar.core.query import evaluate
from specstar.core.query.ast import Condition, Expr, Field, Op

T0 = datetime(2024, 3, 10, 12, tzinfo=UTC)


def c(path: str, op: Op, value: Any = None, fn: str | None = None) -> Condition:
    return Condition(Field(path, fn=fn), op, value)


def meta(**data: Any) -> ResourceMeta:
    return ResourceMeta(
        resource_id="r",
        current_revision_id="r:1",
        schema_version=None,
        total_revision_count=1,
        revision_seq=1,
        created_time=T0,
        created_by="u",
        updated_time=T0,
        updated_by="u",
        indexed_data=data,
    )


@pytest.mark.parametrize(
    ("where", "data", "expected"),
    [
        # ``False`` inverts a known result and keeps unknown unknown
        (c("s", Op.is_empty, False), {"s": "a"}, True),
        (c("s", Op.is_empty, False), {"s": ""}, False),
        (c("l", Op.is_empty, False), {"l": [1]}, True),
        (c("l", Op.is_empty, False), {"l": []}, False),
        (c("s", Op.is_blank, False), {"s": " x "}, True),
        (c("s", Op.is_blank, False), {"s": " \t"}, False),
        (c("s", Op.is_blank, False), {"s": None}, None),
        (c("s", Op.is_empty, True), {"s": "a"}, False),
        (c("s", Op.is_blank, True), {"s": " x "}, False),
    ],
)
def test_flag_operators_inverted_on_present_values(
    where: Expr, data: dict[str, Any], expected: bool | None
) -> None:
    assert evaluate.evaluate(where, meta(**data)) is expected
