"""``admin=``: role-based access control with one root user, set up in one call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from specstar.core import Membership, PermissionRule, RBACChecker, ResourceManager, Role

__all__ = ["ADMIN_MODELS", "enable_admin"]

#: The resource names of the RBAC data ``admin=`` registers.
ADMIN_MODELS = ("rbac-role", "rbac-membership", "rbac-rule")


def enable_admin(add_model: Callable[..., ResourceManager[Any]], admin: str) -> RBACChecker:
    """Register roles, memberships and rules as resources (through the app's ``add_model``)
    and return the :class:`~specstar.core.RBACChecker` over them with ``admin`` as its root
    user.

    ``admin`` may do everything; every other user may do what the rules grant their roles
    (nothing, until the admin creates rules). The three resources are guarded by the same
    checker, so only users the rules allow (the admin, at first) may change them.

    Raises:
        ValueError: ``admin`` is empty, or one of the resource names is taken.
    """
    if not isinstance(admin, str) or not admin:
        raise ValueError(f"admin must be a non-empty user name, not {admin!r}")
    role_name, membership_name, rule_name = ADMIN_MODELS
    roles = add_model(Role, name=role_name)
    memberships = add_model(Membership, name=membership_name, indexed_fields=["user"])
    rules = add_model(PermissionRule, name=rule_name, indexed_fields=["role"])
    checker = RBACChecker(roles, memberships, rules, root_user=admin)
    for manager in (roles, memberships, rules):
        manager.pipeline.permission_checker = checker
    return checker
