"""JSON patch cases beyond ``test_patch``: the size limit at its edge."""

from __future__ import annotations

from typing import Any

import pytest

from specstar.core.errors import PatchError
from specstar.core.patch import apply_json_patch

BIG: dict[str, Any] = {"big": "x" * 500, "small": "ab"}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "test", "path": "/small", "value": "ab"}], BIG),
        ([{"op": "move", "from": "/small", "path": "/other"}], {"big": "x" * 500, "other": "ab"}),
        ([{"op": "replace", "path": "/small", "value": "cd"}], {"big": "x" * 500, "small": "cd"}),
    ],
)
def test_a_document_past_the_limit_takes_operations_that_keep_its_size(
    ops: list[dict[str, Any]], expected: dict[str, Any]
) -> None:
    """The limit refuses growth: an operation that adds no byte passes even when the
    document is already larger than the limit."""
    assert apply_json_patch(BIG, ops, max_bytes=100) == expected


@pytest.mark.parametrize("op", ["add", "replace"])
def test_a_member_that_would_pass_the_limit_is_refused(op: str) -> None:
    """An object member counts its value, its key and the punctuation: a value that fits
    passes, one that does not is refused before it is written."""
    doc = {"k": "", "other": 1}
    fits = [{"op": op, "path": "/k", "value": "x" * 50}]
    assert apply_json_patch(doc, fits, max_bytes=100) == {"k": "x" * 50, "other": 1}
    too_big = [{"op": op, "path": "/k", "value": "x" * 200}]
    with pytest.raises(PatchError, match=rf"operation 0 \({op}\).*max_patched_bytes"):
        apply_json_patch(doc, too_big, max_bytes=100)
    new_member = [{"op": "add", "path": "/n", "value": "x" * 90}]
    with pytest.raises(PatchError, match=r"operation 0 \(add\).*max_patched_bytes"):
        apply_json_patch(doc, new_member, max_bytes=100)


def test_an_array_insertion_counts_its_comma() -> None:
    """Inserting into an array adds the value and a comma: ``{"l":[1]}`` (9 bytes) becomes
    ``{"l":[1,2]}`` (11 bytes), which fits a limit of 11 and not one of 10."""
    ops = [{"op": "add", "path": "/l/-", "value": 2}]
    assert apply_json_patch({"l": [1]}, ops, max_bytes=11) == {"l": [1, 2]}
    with pytest.raises(PatchError, match=r"grow to about 11 bytes, past the limit of 10"):
        apply_json_patch({"l": [1]}, ops, max_bytes=10)
