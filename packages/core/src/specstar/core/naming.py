"""Resource names and ids."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from .errors import FieldError, ValidationError

__all__ = ["RESOURCE_ID_RE", "check_resource_id", "default_id_generator", "kebab_case"]

#: Resource ids are URL-path-safe and bounded.
RESOURCE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~@-]{0,199}")


def kebab_case(name: str) -> str:
    """``UserProfile`` → ``user-profile``; ``HTTPServer`` → ``http-server``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1-\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", s)
    return s.replace("_", "-").lower()


def default_id_generator(resource_name: str) -> Callable[[], str]:
    """Ids like ``user-profile:1f0c…`` (the name, a colon, 32 random hex digits)."""

    def generate() -> str:
        return f"{resource_name}:{uuid.uuid4().hex}"

    return generate


def check_resource_id(resource_id: object) -> str:
    """Return the id if it is acceptable, else raise :class:`ValidationError`."""
    if not isinstance(resource_id, str) or not RESOURCE_ID_RE.fullmatch(resource_id):
        raise ValidationError(
            f"invalid resource id {resource_id!r}: use 1-200 characters from "
            "A-Z a-z 0-9 . _ : ~ @ -, starting with a letter or digit",
            [FieldError("resource_id", "invalid resource id")],
        )
    return resource_id
