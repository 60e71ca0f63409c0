"""How routes learn who is acting and when: FastAPI dependencies for the operation context."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from msgspec import UNSET, UnsetType

__all__ = ["DependencyProvider", "default_get_now", "default_get_user"]


def default_get_user() -> UnsetType:
    """No user from the request: the resource manager's ``default_user`` (or ``"anonymous"``)
    applies; with ``strict_operation_context`` writes are refused with 401."""
    return UNSET


def default_get_now() -> UnsetType:
    """No time from the request: the manager's ``default_now`` (or the current UTC time)."""
    return UNSET


class DependencyProvider:
    """The FastAPI dependencies every generated route uses for its operation context.

    ``get_user`` and ``get_now`` are ordinary FastAPI dependencies: they may declare their own
    parameters (headers, cookies, security schemes, other ``Depends``). They return the acting
    user (a ``str``) and the operation time (a ``datetime``); ``None`` or ``UNSET`` means "not
    known from this request", and the resource manager's defaults apply. A dependency may also
    raise ``HTTPException(401, headers={"WWW-Authenticate": ...})`` to refuse a request.

    Example:
        ```python
        # doc: skip
        from fastapi import Header, HTTPException

        def current_user(authorization: str = Header()) -> str:
            user = verify(authorization)  # your authentication
            if user is None:
                raise HTTPException(401, headers={"WWW-Authenticate": "Bearer"})
            return user

        crud.configure(dependency_provider=DependencyProvider(get_user=current_user))
        ```

    Args:
        get_user: dependency returning the acting user.
        get_now: dependency returning the operation time.
    """

    def __init__(
        self,
        *,
        get_user: Callable[..., Any] | None = None,
        get_now: Callable[..., Any] | None = None,
    ) -> None:
        self.get_user: Callable[..., Any] = get_user or default_get_user
        self.get_now: Callable[..., Any] = get_now or default_get_now

    @staticmethod
    def user_of(value: Any) -> str | UnsetType:
        """Normalise a ``get_user`` result for the manager (``None`` → ``UNSET``)."""
        if value is None or value is UNSET:
            return UNSET
        return str(value)

    @staticmethod
    def now_of(value: Any) -> datetime | UnsetType:
        """Normalise a ``get_now`` result for the manager (``None`` → ``UNSET``)."""
        if value is None or value is UNSET:
            return UNSET
        if not isinstance(value, datetime):
            raise TypeError(f"get_now must return a datetime, not {type(value).__name__}")
        return value
