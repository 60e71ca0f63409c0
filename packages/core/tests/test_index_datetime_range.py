"""Datetimes that fit the model but not UTC (years 1-9999) are refused, never a crash."""

from __future__ import annotations

from datetime import datetime

import msgspec
import pytest

from specstar.core import QB, QueryError, ResourceManager, ValidationError


class Event(msgspec.Struct):
    name: str
    at: datetime | None = None


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_out_of_range_datetimes_are_validation_and_query_errors(text: str) -> None:
    events = ResourceManager(Event, indexed_fields=["at"])
    with pytest.raises(ValidationError) as info:
        events.create({"name": "edge", "at": text})
    assert info.value.errors[0].loc == "/at"
    with pytest.raises(QueryError):
        events.search(QB["at"] > datetime.fromisoformat(text))
    with pytest.raises(QueryError):
        events.search(QB["at"] > text)
    assert events.create({"name": "fine", "at": "0001-01-01T00:00:00Z"}).revision_id
    assert events.search(QB["$created_time"] > datetime.fromisoformat("0001-01-02T00:00:00+14:00"))
