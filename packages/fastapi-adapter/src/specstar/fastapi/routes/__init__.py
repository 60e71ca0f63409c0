"""Route templates: each generates some routes for every registered model.

Applied in ascending ``order`` (lower first, because Starlette matches routes in order):

=====  ==============================  ======================================================
order  template                        routes (``m`` is the model's resource name)
=====  ==============================  ======================================================
10     :class:`BatchRouteTemplate`     ``POST /m/batch/delete``, ``POST /m/batch/restore``
20     :class:`ListRouteTemplate`      ``GET /m/count``, ``GET /m``
30     :class:`CreateRouteTemplate`    ``POST /m``
40     :class:`ReadRouteTemplate`      ``GET /m/{id}/revisions``, ``GET /m/{id}``
40     :class:`ReferrersRouteTemplate` ``GET /m/{id}/referrers`` (models a ``Ref`` points at)
50     :class:`UpdateRouteTemplate`    ``PUT /m/{id}``
50     :class:`PatchRouteTemplate`     ``PATCH /m/{id}``
50     :class:`ModifyRouteTemplate`    ``POST /m/{id}/modify``
50     :class:`SwitchRouteTemplate`    ``POST /m/{id}/switch/{revision_id}``
50     :class:`DeleteRouteTemplate`    ``DELETE /m/{id}/permanently``, ``DELETE /m/{id}``
50     :class:`RestoreRouteTemplate`   ``POST /m/{id}/restore``
50     :class:`JobRouteTemplate`       ``POST /m/{id}/rerun``, ``POST /m/{id}/cancel``,
                                       ``GET /m/{id}/logs`` (job models only)
60     :class:`BlobRouteTemplate`     ``GET /m/{id}/blobs/{file_id}``, and once for all models
                                       ``/blobs/...`` uploads, upload sessions, downloads
                                       (when a model has a ``Binary`` field)
60     :class:`BackupRouteTemplate`   ``GET /m/export``, ``POST /m/import``, and once for all
                                       models ``GET /_backup/export``, ``POST /_backup/import``
50     :class:`MigrateRouteTemplate`   ``POST /m/_migrate``, ``POST /m/{id}/migrate`` — not a
                                       default: ``add_model(..., migrate_route=True)`` adds it
45     :class:`ActionRouteTemplate`   ``POST /m/{path}``, ``POST /m/{id}/{path}``: custom actions
                                       (added by ``SpecStar.apply`` when any is registered)
100    :class:`RelationshipsRouteTemplate`  ``GET /_relationships``, once for all models
=====  ==============================  ======================================================
"""

from ._base import BaseRouteTemplate, ModelRoutes, RouteTemplate
from .actions import ActionRouteTemplate
from .backup import BackupRouteTemplate
from .batch import BatchRouteTemplate
from .blobs import BlobRouteTemplate
from .create import CreateRouteTemplate
from .jobs import JobRouteTemplate
from .lifecycle import DeleteRouteTemplate, RestoreRouteTemplate, SwitchRouteTemplate
from .migrate import MigrateRouteTemplate
from .modify import ModifyRouteTemplate
from .patch import PatchRouteTemplate
from .read import ListRouteTemplate, ReadRouteTemplate
from .refs import ReferrersRouteTemplate, RelationshipsRouteTemplate
from .update import UpdateRouteTemplate

__all__ = [
    "DEFAULT_TEMPLATES",
    "ActionRouteTemplate",
    "BackupRouteTemplate",
    "BaseRouteTemplate",
    "BatchRouteTemplate",
    "BlobRouteTemplate",
    "CreateRouteTemplate",
    "DeleteRouteTemplate",
    "JobRouteTemplate",
    "ListRouteTemplate",
    "MigrateRouteTemplate",
    "ModelRoutes",
    "ModifyRouteTemplate",
    "PatchRouteTemplate",
    "ReadRouteTemplate",
    "ReferrersRouteTemplate",
    "RelationshipsRouteTemplate",
    "RestoreRouteTemplate",
    "RouteTemplate",
    "SwitchRouteTemplate",
    "UpdateRouteTemplate",
]

#: The templates a :class:`~specstar.fastapi.SpecStar` uses unless told otherwise.
DEFAULT_TEMPLATES: tuple[type[BaseRouteTemplate], ...] = (
    BatchRouteTemplate,
    ListRouteTemplate,
    CreateRouteTemplate,
    ReadRouteTemplate,
    ReferrersRouteTemplate,
    UpdateRouteTemplate,
    PatchRouteTemplate,
    ModifyRouteTemplate,
    SwitchRouteTemplate,
    DeleteRouteTemplate,
    RestoreRouteTemplate,
    JobRouteTemplate,
    BlobRouteTemplate,
    BackupRouteTemplate,
    RelationshipsRouteTemplate,
)
