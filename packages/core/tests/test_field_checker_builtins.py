"""The field-level checker on a create whose data is builtins (a dict, no model defaults):
every field present counts as set."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from specstar.core import OperationContext, PermissionDeniedError
from specstar.core.permissions import FieldLevelChecker

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def create(data: dict[str, Any], user: str) -> OperationContext:
    return OperationContext(action="create", resource_name="staff", user=user, now=NOW, data=data)


def test_a_builtins_create_sets_every_field_it_holds() -> None:
    checker = FieldLevelChecker({"salary": "hr"})
    checker.check_data(create({"name": "ann"}, user="bob"))
    checker.check_data(create({"name": "ann", "salary": 1}, user="hr"))
    with pytest.raises(PermissionDeniedError, match="'salary'"):
        checker.check_data(create({"name": "ann", "salary": 1}, user="bob"))
