"""Resource names: how a model's class name becomes its URL path segment."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from specstar.core.spi import kebab_case

__all__ = ["NAME_RE", "ModelNaming", "resource_name"]

#: How ``add_model`` names a model: a rule for its class name, or a function of the class.
ModelNaming = Literal["same", "pascal", "camel", "snake", "kebab"] | Callable[[type], str]

#: What a resource name may be (a path segment: letters, digits, ``_``, ``.``, ``-``).
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _words(name: str) -> list[str]:
    return [w for w in kebab_case(name).split("-") if w]


def resource_name(model: type, naming: ModelNaming) -> str:
    """The resource name (URL path segment) of a model under a naming rule."""
    if callable(naming):
        return naming(model)
    base = model.__name__
    words = _words(base)
    if naming == "same":
        return base
    if naming == "kebab":
        return "-".join(words)
    if naming == "snake":
        return "_".join(words)
    if naming == "pascal":
        return "".join(w.capitalize() for w in words)
    if naming == "camel":
        return words[0] + "".join(w.capitalize() for w in words[1:]) if words else base
    raise ValueError(f"unknown model_naming {naming!r}")
