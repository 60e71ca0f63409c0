"""The JSON form of conditions and sorts refuses members it does not know (never ignored)."""

import msgspec
import pytest

from specstar.core.query.ast import Expr, Sort


@pytest.mark.parametrize(
    ("raw", "member"),
    [
        (b'{"type":"cmp","field":{"path":"a"},"op":"eq","value":1,"negate":true}', "negate"),
        (b'{"type":"cmp","field":{"path":"a","pth":1},"op":"eq","value":1}', "pth"),
        (b'{"type":"and","items":[],"all":true}', "all"),
        (
            b'{"type":"not","item":{"type":"cmp","field":{"path":"a"},"op":"eq","value":1},"x":0}',
            "x",
        ),
    ],
)
def test_an_unknown_member_of_a_condition_is_refused(raw: bytes, member: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=f"unknown field `{member}`"):
        msgspec.json.decode(raw, type=Expr)


def test_an_unknown_member_of_a_sort_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `desc`"):
        msgspec.json.decode(b'{"field":{"path":"a"},"desc":true}', type=Sort)
    sort = msgspec.json.decode(b'{"field":{"path":"a"},"descending":true}', type=Sort)
    assert sort.descending


def test_an_expression_with_too_many_conditions_is_a_query_error() -> None:
    from specstar.core import QB, QueryError
    from specstar.core.query import Or
    from specstar.core.query._limits import MAX_CONDITIONS, check_depth

    fits = Or(tuple(QB["a"] == i for i in range(MAX_CONDITIONS - 1)))
    check_depth(fits)
    too_many = Or(tuple(QB["a"] == i for i in range(MAX_CONDITIONS)))
    with pytest.raises(QueryError, match=f"more than {MAX_CONDITIONS} conditions"):
        check_depth(too_many)
