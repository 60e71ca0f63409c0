"""Opaque keyset cursors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from specstar.core.errors import QueryError
from specstar.core.query import QB, CursorPosition, Field, Query, Sort, decode_cursor, encode_cursor
from specstar.core.query.cursor import effective_sorts, fingerprint, sort_values
from specstar.core.types import ResourceMeta

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def make_meta(rid: str, data: dict[str, Any] | None = None, **meta: Any) -> ResourceMeta:
    fields: dict[str, Any] = {
        "resource_id": rid,
        "current_revision_id": f"{rid}:1",
        "schema_version": None,
        "total_revision_count": 1,
        "revision_seq": 1,
        "created_time": T0,
        "created_by": "alice",
        "updated_time": T0,
        "updated_by": "alice",
        "is_deleted": False,
        "indexed_data": dict(data or {}),
    }
    fields.update(meta)
    return ResourceMeta(**fields)


def test_effective_sorts() -> None:
    assert effective_sorts(Query()) == (Sort(Field("created_time", meta=True)),)
    sorts = (QB.age.desc(),)
    assert effective_sorts(Query(sorts=sorts)) == sorts


def test_sort_values() -> None:
    row = make_meta("r1", {"age": 3, "name": None}, created_by="bob")
    sorts = (
        QB.age.asc(),
        QB.name.asc(),
        QB.missing.asc(),
        QB["$created_by"].desc(),
        QB["$schema_version"].asc(),
    )
    assert sort_values(row, sorts) == (3, None, None, "bob", None)
    naive = make_meta("r2", {"when": datetime(2024, 1, 1)})
    (value,) = sort_values(naive, (QB.when.asc(),))
    assert value == T0
    assert value.tzinfo is not None


SCALARS = st.one_of(
    st.none(),
    st.text(),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.datetimes(
        timezones=st.one_of(
            st.none(),
            st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m))),
        ),
        min_value=datetime(2, 1, 1),
        max_value=datetime(9998, 12, 31),
    ),
)


@given(st.lists(SCALARS, min_size=1, max_size=4), st.text(min_size=1))
def test_round_trip(values: list[Any], rid: str) -> None:
    sorts = tuple(Sort(Field(f"f{i}")) for i in range(len(values)))
    query = Query(where=QB.f0.exists(), sorts=sorts, limit=3)
    row = make_meta(rid, {f"f{i}": v for i, v in enumerate(values)})
    token = encode_cursor(query, row)
    assert token.isascii()
    assert "=" not in token
    assert base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    pos = decode_cursor(query, token)
    assert pos == CursorPosition(sort_values(row, sorts), rid)
    for got, want in zip(pos.values, values, strict=True):
        assert type(got) is type(want)
        if isinstance(want, datetime):
            assert got.tzinfo is not None
            assert got == (want if want.tzinfo else want.replace(tzinfo=UTC))
        else:
            assert got == want


def test_default_sort_uses_created_time() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    row = make_meta("r1", created_time=when)
    pos = decode_cursor(Query(), encode_cursor(Query(), row))
    assert pos.values == (when,)
    assert pos.values[0].utcoffset() == timedelta(0)


def test_fingerprint_ignores_paging_but_not_order_or_filter() -> None:
    base = Query(where=QB.age > 1, sorts=(QB.age.asc(),), limit=5)
    same = [base.replace(limit=50), base.replace(offset=3), base.replace(cursor="x")]
    for other in same:
        assert fingerprint(other) == fingerprint(base)
    different = [
        base.replace(where=QB.age > 2),
        base.replace(where=None),
        base.replace(sorts=(QB.age.desc(),)),
        base.replace(sorts=()),
        base.replace(is_deleted=None),
        base.replace(is_deleted=True),
    ]
    for other in different:
        assert fingerprint(other) != fingerprint(base)
    # no sorts and the explicit default order are the same order
    assert fingerprint(Query(sorts=(QB["$created_time"].asc(),))) == fingerprint(Query())


def test_cursor_of_another_query_is_rejected() -> None:
    query = Query(where=QB.age > 1, sorts=(QB.age.asc(),))
    token = encode_cursor(query, make_meta("r1", {"age": 2}))
    assert decode_cursor(query.replace(limit=99), token).resource_id == "r1"
    with pytest.raises(QueryError, match="different query"):
        decode_cursor(query.replace(where=QB.age > 0), token)


def _token(payload: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.msgpack.encode(payload)).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!!",
        "abc",
        "a" * 10_000,
        base64.urlsafe_b64encode(b"\xc1\xc1").decode(),
        _token("not a list"),
        _token([1, "fp", [], "r"][:3]),
        _token([2, fingerprint(Query()), [None], "r"]),
        _token([1, 5, [None], "r"]),
        _token([1, fingerprint(Query()), "x", "r"]),
        _token([1, fingerprint(Query()), [None], 5]),
        _token([1, fingerprint(Query()), [{"a": 1}], "r"]),
        _token([1, fingerprint(Query()), [[1]], "r"]),
        _token([1, fingerprint(Query()), [msgspec.msgpack.Ext(9, b"x")], "r"]),
        _token([1, fingerprint(Query()), [msgspec.msgpack.Ext(1, b"12x")], "r"]),
    ],
)
def test_garbage_is_rejected(token: str) -> None:
    with pytest.raises(QueryError, match="invalid cursor"):
        decode_cursor(Query(), token)


def test_wrong_number_of_values_is_rejected() -> None:
    with pytest.raises(QueryError):
        decode_cursor(Query(), _token([1, fingerprint(Query()), [None, None], "r"]))


def test_non_str_token() -> None:
    with pytest.raises(QueryError):
        decode_cursor(Query(), None)  # type: ignore[arg-type]


@pytest.mark.parametrize("big", [2**64, -(2**63) - 1, 10**100, -(10**100)])
def test_integers_beyond_64_bits(big: int) -> None:
    query = Query(sorts=(QB.n.asc(),))
    pos = decode_cursor(query, encode_cursor(query, make_meta("r", {"n": big})))
    assert pos.values == (big,)
