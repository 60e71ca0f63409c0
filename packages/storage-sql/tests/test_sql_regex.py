"""PostgreSQL's ``~`` on the translated pattern decides the ``regex`` dialect exactly like the
matcher of the memory and SQLite stores, on values with newlines, punctuation and non-ASCII."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specstar.core.spi import compile_regex
from specstar.sql.sqlite import _regexp
from specstar.testing.strategies import regex_patterns

VALUES = st.text(alphabet="ab B%_.é$\n\\{}-]Ax1ß😀\t", max_size=12)


@pytest.fixture(scope="module")
def pg(postgres_dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        yield conn


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=regex_patterns(), values=st.lists(VALUES, min_size=1, max_size=10))
def test_postgres_agrees_with_the_matcher(
    pg: psycopg.Connection[tuple[object, ...]], pattern: str, values: list[str]
) -> None:
    compiled = compile_regex(pattern)
    rows = pg.execute(
        "SELECT v ~ %s FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n",
        (compiled.to_posix(), values),
    ).fetchall()
    for value, (decided,) in zip(values, rows, strict=True):
        assert decided is compiled.search(value), (pattern, compiled.to_posix(), value)
        assert _regexp(pattern, value) == int(decided)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("a$", "a\n", False),
        ("^a.c$", "a\nc", False),
        ("[^a]", "\n", True),
        (r"^\d$", "٣", False),
        (r"^\w$", "é", False),
        ("a|", "zzz", True),
        ("x(^a)", "xa", False),
        ("^(a+)+$", "a" * 28 + "!", False),
        (r"\\\{\}\]\-", "\\{}]-", True),
    ],
)
def test_postgres_edges(
    pg: psycopg.Connection[tuple[object, ...]], pattern: str, value: str, expected: bool
) -> None:
    posix = compile_regex(pattern).to_posix()
    assert pg.execute("SELECT %s::text ~ %s", (value, posix)).fetchone() == (expected,)
    assert compile_regex(pattern).search(value) is expected
