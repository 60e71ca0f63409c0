"""Stored times decode to exactly the instant that was stored, on every path of the decoder.

SQLite stores a time as microseconds since the epoch; most of them decode through a float
division (faster), the rest through integer arithmetic. Both must give back the stored
microsecond exactly, including at the edges of the float path.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from specstar.sql import sqlite as sqlite_module
from specstar.sql.sqlite import SQLiteBackend

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LIMIT = sqlite_module._FLOAT_EXACT_UNTIL
#: datetime's own range, in microseconds since the epoch
LOWEST = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
HIGHEST = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // timedelta(
    microseconds=1
)


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SQLiteBackend]:
    path: Path = tmp_path_factory.mktemp("times") / "times.db"
    b = SQLiteBackend(path, timeout=5.0, synchronous="NORMAL", query_timeout=None)
    yield b
    b.close()


def exact(raw: int) -> datetime:
    return EPOCH + timedelta(microseconds=raw)


def check(backend: SQLiteBackend, raw: int) -> None:
    decoded = backend.decode_time(raw)
    assert decoded == exact(raw), raw
    assert decoded.tzinfo is UTC
    assert backend.encode_time(decoded) == raw


def test_the_edges_of_the_float_path_decode_exactly(backend: SQLiteBackend) -> None:
    edges = [0, 1, 999_999, 1_000_000, 1_000_001, LIMIT - 1, LIMIT, LIMIT + 1, -1, -1_000_001]
    for second in (0, 1, 2**31 - 1, 2**31, 2**32 - 1):
        base = second * 1_000_000
        edges += [base + us for us in (0, 1, 499_999, 500_000, 500_001, 999_998, 999_999)]
    for raw in edges:
        check(backend, raw)


def test_many_times_of_the_float_path_decode_exactly(backend: SQLiteBackend) -> None:
    rnd = random.Random(20261201)
    for _ in range(100_000):
        check(backend, rnd.randrange(0, LIMIT))


@given(st.integers(min_value=LOWEST, max_value=HIGHEST))
def test_any_time_decodes_exactly(backend: SQLiteBackend, raw: int) -> None:
    check(backend, raw)


def test_a_time_stored_as_another_number_type_still_decodes(backend: SQLiteBackend) -> None:
    # an integral float (a row written by another tool): the exact path, never a float error
    assert backend.decode_time(float(1_700_000_000_123_456)) == exact(1_700_000_000_123_456)


def test_a_platform_whose_time_t_ends_in_2038_takes_the_exact_path(
    backend: SQLiteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Time32(datetime):
        @classmethod
        def fromtimestamp(cls, t: float, tz: Any = None) -> Any:
            if t >= 2**31:
                raise OverflowError("timestamp out of range for platform time_t")
            return super().fromtimestamp(t, tz)

    monkeypatch.setattr(sqlite_module, "datetime", Time32)
    for raw in (2**31 * 1_000_000, 2**32 * 1_000_000 - 1, 2**31 * 1_000_000 - 1):
        assert backend.decode_time(raw) == exact(raw)
