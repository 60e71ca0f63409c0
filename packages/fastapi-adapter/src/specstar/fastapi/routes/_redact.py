"""Conflicts that name other resources, reduced to the resources the acting user may see.

The rules live in :mod:`specstar.core.redaction` (a plain service needs them too); the routes
use them from here under their earlier names.
"""

from __future__ import annotations

from specstar.core import HiddenUniqueConstraintError, RedactedReferenceError, redact_conflict
from specstar.core import is_visible as visible

__all__ = ["HiddenUniqueConstraintError", "RedactedReferenceError", "redact_conflict", "visible"]
