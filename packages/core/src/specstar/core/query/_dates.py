"""Calendar windows for the builder's date helpers (``QB.born.today()``, ``this_month()`` ...).

A window is a half-open interval ``[start, end)`` of aware datetimes, computed once when the
condition is built, from the current time (or a given ``now``) in a time zone. Days start at
local midnight of that zone (so a day across a daylight-saving change lasts 23 or 25 hours);
weeks start on Monday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import QueryError

__all__ = ["Zone", "day_window", "resolve_zone", "rolling_window"]

#: A time zone: a :class:`~datetime.tzinfo` or an IANA name such as ``"Europe/Paris"``.
Zone = tzinfo | str


def resolve_zone(tz: Zone | None) -> tzinfo:
    """The tzinfo of ``tz`` (``None``: UTC).

    Raises:
        QueryError: an unknown zone name or a value that is not a zone.
    """
    if tz is None:
        return UTC
    if isinstance(tz, tzinfo):
        return tz
    if isinstance(tz, str):
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise QueryError(f"unknown time zone {tz!r}") from None
    raise QueryError(f"a time zone must be a tzinfo or a zone name, not {tz!r}")


def _now(zone: tzinfo, now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(zone)
    if not isinstance(now, datetime):
        raise QueryError(f"now must be a datetime, not {now!r}")
    if now.tzinfo is None:
        raise QueryError("now must be an aware datetime (with a time zone)")
    return now.astimezone(zone)


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def day_window(
    unit: str, tz: Zone | None, now: datetime | None, back: int = 0
) -> tuple[datetime, datetime]:
    """``[start, end)`` of the calendar ``unit`` (``day``, ``week``, ``month``, ``year``)
    holding ``now`` in ``tz``, ``back`` units earlier."""
    zone = resolve_zone(tz)
    today = _now(zone, now).date()
    if unit == "day":
        first = today - timedelta(days=back)
        last = first + timedelta(days=1)
    elif unit == "week":
        first = today - timedelta(days=today.weekday() + 7 * back)
        last = first + timedelta(days=7)
    elif unit == "month":
        first = today.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1)
    elif unit == "year":
        first = today.replace(month=1, day=1)
        last = first.replace(year=first.year + 1)
    else:  # pragma: no cover - guarded by the callers
        raise QueryError(f"unknown calendar unit {unit!r}")
    return _midnight(first, zone), _midnight(last, zone)


def rolling_window(days: int, tz: Zone | None, now: datetime | None) -> tuple[datetime, datetime]:
    """``[now - days, now]`` (both ends inclusive)."""
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise QueryError(f"last_n_days takes a whole number of days >= 1, not {days!r}")
    current = _now(resolve_zone(tz), now)
    return current - timedelta(days=days), current
