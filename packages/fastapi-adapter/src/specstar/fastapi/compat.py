"""The reference API's names, web layer included: everything of
:mod:`specstar.core.compat`, plus ``AutoCRUD`` (the :class:`~specstar.fastapi.SpecStar` class),
``crud``, ``IRouteTemplate``, ``BaseRouteTemplate``, ``DependencyProvider`` and
``struct_to_pydantic``."""

from __future__ import annotations

from specstar.core.compat import *  # noqa: F403
from specstar.core.compat import __all__ as _core_names

from .app import SpecStar, crud
from .dependencies import DependencyProvider
from .pydantic_models import struct_to_pydantic
from .routes import BaseRouteTemplate, RouteTemplate

__all__ = [  # noqa: PLE0604
    *_core_names,
    "AutoCRUD",
    "BaseRouteTemplate",
    "DependencyProvider",
    "IRouteTemplate",
    "crud",
    "struct_to_pydantic",
]

AutoCRUD = SpecStar
IRouteTemplate = RouteTemplate
