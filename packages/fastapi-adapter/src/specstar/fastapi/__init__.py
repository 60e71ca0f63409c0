"""SpecStar for FastAPI: a complete REST API, with OpenAPI 3.1, for every registered model.

::

    from fastapi import FastAPI
    from specstar.fastapi import crud

    crud.add_model(Book, indexed_fields=["year"])
    app = FastAPI()
    crud.apply(app)

Every route reads and writes through the model's :class:`~specstar.core.ResourceManager`
(in the thread pool, never blocking the event loop); errors are RFC 9457 problem documents.
"""

try:  # name the distribution when a dependency is missing (installed with --no-deps, or removed)
    import starlette as _starlette  # noqa: F401

    import fastapi as _fastapi  # noqa: F401
except ModuleNotFoundError as _missing:
    raise ModuleNotFoundError(
        f"specstar.fastapi needs {_missing.name!r}, a dependency of the specstar-fastapi "
        f"distribution that is not installed: pip install {_missing.name}",
        name=_missing.name,
    ) from _missing

from ._version import __version__
from .app import ModelNaming, SpecStar, crud, install_problem_handlers
from .dependencies import DependencyProvider
from .errors import (
    BadRequestError,
    ExistsPreconditionError,
    UnknownParameterError,
    UnsupportedMediaTypeError,
)
from .openapi import (
    BatchRequest,
    BatchResult,
    Count,
    JsonPatchOperation,
    MigrationProgress,
    Referrer,
    Relationship,
    build_components,
)
from .problems import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX, Problem, problem_for, status_for
from .pydantic_models import struct_to_pydantic
from .responses import MsgspecResponse, SpecStarRoute
from .routes import (
    BackupRouteTemplate,
    BaseRouteTemplate,
    BatchRouteTemplate,
    CreateRouteTemplate,
    DeleteRouteTemplate,
    JobRouteTemplate,
    ListRouteTemplate,
    MigrateRouteTemplate,
    ModelRoutes,
    ModifyRouteTemplate,
    PatchRouteTemplate,
    ReadRouteTemplate,
    ReferrersRouteTemplate,
    RelationshipsRouteTemplate,
    RestoreRouteTemplate,
    RouteTemplate,
    SwitchRouteTemplate,
    UpdateRouteTemplate,
)

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_TYPE_PREFIX",
    "BackupRouteTemplate",
    "BadRequestError",
    "BaseRouteTemplate",
    "BatchRequest",
    "BatchResult",
    "BatchRouteTemplate",
    "Count",
    "CreateRouteTemplate",
    "DeleteRouteTemplate",
    "DependencyProvider",
    "ExistsPreconditionError",
    "JobRouteTemplate",
    "JsonPatchOperation",
    "ListRouteTemplate",
    "MigrateRouteTemplate",
    "MigrationProgress",
    "ModelNaming",
    "ModelRoutes",
    "ModifyRouteTemplate",
    "MsgspecResponse",
    "PatchRouteTemplate",
    "Problem",
    "ReadRouteTemplate",
    "Referrer",
    "ReferrersRouteTemplate",
    "Relationship",
    "RelationshipsRouteTemplate",
    "RestoreRouteTemplate",
    "RouteTemplate",
    "SpecStar",
    "SpecStarRoute",
    "SwitchRouteTemplate",
    "UnknownParameterError",
    "UnsupportedMediaTypeError",
    "UpdateRouteTemplate",
    "__version__",
    "build_components",
    "crud",
    "install_problem_handlers",
    "problem_for",
    "status_for",
    "struct_to_pydantic",
]
