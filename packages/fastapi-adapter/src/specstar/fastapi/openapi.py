"""OpenAPI 3.1 for the generated routes, with the real msgspec model schemas.

FastAPI derives schemas from Pydantic; SpecStar models are ``msgspec.Struct`` types, so the
routes read and write bodies with msgspec and describe them here instead: the JSON Schemas
of the models and of the core types come from :func:`msgspec.json.schema_components` and are
merged into ``components.schemas``; operations refer to them with ``$ref``.

Per registered model ``M`` (the component names follow the model class name):

* ``M`` — the model as a client sends it (request body of create and full update): members
  with defaults may be left out;
* ``MOutput`` — the model as the server returns it: every member that is always encoded is
  required (nested structs get their ``…Output`` schema too);
* ``MPartial`` — ``M`` with no required members at any depth (``data`` of a ``partial`` read);
* ``MResource`` — a read: ``{data, info, meta}``, each present unless left out by ``returns``;
  ``data`` is an ``MOutput``;
* ``MPartialResource`` — a partial read (``GET /m/{id}/partial``, ``GET /m/_partial``): the
  same with ``data`` an ``MPartial``;
* ``MModify`` — the body of ``POST /m/{id}/modify``.

Shared: ``RevisionInfo``, ``ResourceMeta``, ``Problem``, ``JsonPatch``, ``MergePatch``,
``Expr`` (the JSON condition tree), ``Count``, ``BatchRequest``, ``BatchResult``, ``Referrer``,
``Relationship`` and ``MigrationProgress``.

Datetimes are ``format: date-time`` everywhere. The shared types that only ever leave the
server (``RevisionInfo``, ``ResourceMeta``, ``Problem`` ...) list as required every member
they always have.

Model schemas carry SpecStar's own annotations as specification extensions:

* on a ``Ref`` field: ``x-ref-resource`` (the resource name referred to), ``x-ref-on-delete``
  (``dangling``, ``set_null``, ``cascade`` or ``restrict``) and ``x-ref-type``
  (``resource_id`` or ``revision_id``);
* on a ``Unique`` field: ``x-unique: true``;
* on the model: ``x-display-name-field``, the (dotted) path of its ``DisplayName`` field.

The document itself carries ``x-specstar-relationships`` (every ``Ref`` field between the
models, as ``GET /_relationships`` lists them) and ``x-specstar-indexed-fields`` (per
resource name, the indexed fields a query may use: ``path``, ``kind``, ``is_list``,
``unique``), see :func:`install_openapi`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import msgspec

from fastapi import FastAPI
from specstar.core import (
    DisplayName,
    Referrer,
    Relationship,
    ResourceMeta,
    RevisionInfo,
    RevisionStatus,
    Unique,
)
from specstar.core.spi import Expr, Sort, collect_refs, find_annotated_fields

from ._derived import output_components, partial_components, require_outputs, undefault_inputs
from ._schemas import annotate
from .problems import PROBLEM_MEDIA_TYPE, Problem

__all__ = [
    "REF_PREFIX",
    "BatchRequest",
    "BatchResult",
    "Count",
    "JsonPatchOperation",
    "MigrationProgress",
    "ModelSchemaNames",
    "Referrer",
    "Relationship",
    "build_components",
    "install_openapi",
    "json_content",
    "model_schema_names",
    "problem_responses",
    "ref",
]

REF_PREFIX = "#/components/schemas/"
_REF_TEMPLATE = REF_PREFIX + "{name}"


class JsonPatchOperation(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One RFC 6902 JSON Patch operation.

    Attributes:
        op: ``add``, ``remove``, ``replace``, ``move``, ``copy`` or ``test``.
        path: JSON Pointer to the target location.
        value: the value for ``add``, ``replace`` and ``test``.
        from_: JSON Pointer to the source, for ``move`` and ``copy`` (sent as ``from``).
    """

    op: Literal["add", "remove", "replace", "move", "copy", "test"]
    path: str
    value: Any | msgspec.UnsetType = msgspec.UNSET
    from_: str | msgspec.UnsetType = msgspec.field(default=msgspec.UNSET, name="from")


class Count(msgspec.Struct, kw_only=True):
    """The number of matching resources.

    Attributes:
        count: how many resources match the filters.
    """

    count: int


class BatchRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which resources a batch delete or restore applies to.

    Attributes:
        qb: filter in the compact string form.
        conditions: filter in the JSON form (see ``Expr``).
        confirm_all: must be ``true`` to apply the batch without any filter, to every resource.
    """

    qb: str | None = None
    conditions: Expr | list[Expr] | None = None
    confirm_all: bool = False


class BatchFailure(msgspec.Struct, kw_only=True):
    """One resource a batch could not change.

    Attributes:
        resource_id: the resource.
        status: the HTTP status the single-resource route would have answered.
        code: the problem code.
        detail: what went wrong.
    """

    resource_id: str
    status: int
    code: str
    detail: str


class BatchResult(msgspec.Struct, kw_only=True):
    """The outcome of a batch delete or restore.

    Attributes:
        matched: how many resources matched the filter.
        succeeded: ids of the resources changed.
        failed: the resources that could not be changed, with why.
    """

    matched: int
    succeeded: list[str]
    failed: list[BatchFailure]


class MigrationProgress(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line of a bulk migration's NDJSON stream.

    The first line is ``{"done": 0, "total": n}``; ``{"done": d, "total": n}`` lines follow as
    resources migrate; the last is ``{"migrated": n}`` or, when the run stopped on an error,
    ``{"error": {...}}`` (a problem document). A run that stopped may simply be started again.

    Attributes:
        done: resources migrated so far.
        total: resources this run migrates.
        migrated: resources migrated in all (the last line of a completed run).
        error: why the run stopped (the last line of a failed run).
    """

    done: int | msgspec.UnsetType = msgspec.UNSET
    total: int | msgspec.UnsetType = msgspec.UNSET
    migrated: int | msgspec.UnsetType = msgspec.UNSET
    error: Problem | msgspec.UnsetType = msgspec.UNSET


_SHARED_TYPES: tuple[Any, ...] = (
    RevisionInfo,
    ResourceMeta,
    RevisionStatus,
    Problem,
    JsonPatchOperation,
    Count,
    BatchRequest,
    BatchResult,
    Sort,
    Referrer,
    Relationship,
    MigrationProgress,
)


def ref(name: str) -> dict[str, str]:
    """A ``$ref`` to a component schema."""
    return {"$ref": REF_PREFIX + name}


class ModelSchemaNames(msgspec.Struct, frozen=True):
    """Component names of one model's schemas (see the module docstring)."""

    data: str
    partial: str
    resource: str
    modify: str
    output: str = ""
    partial_resource: str = ""


def model_schema_names(model: type) -> ModelSchemaNames:
    """The component names for a model type (its own name as msgspec gives it)."""
    (schema,), _ = msgspec.json.schema_components([model], ref_template=_REF_TEMPLATE)
    name = str(schema["$ref"]).removeprefix(REF_PREFIX)
    return ModelSchemaNames(
        data=name,
        partial=f"{name}Partial",
        resource=f"{name}Resource",
        modify=f"{name}Modify",
        output=f"{name}Output",
        partial_resource=f"{name}PartialResource",
    )


def _envelope(names: ModelSchemaNames, partial: bool = False) -> dict[str, Any]:
    if partial:
        title, data = names.partial_resource, names.partial
        description = (
            f"A {names.data} resource read in part: `data` holds only the members selected "
            "by `partial`. Parts left out by `returns` are absent."
        )
    else:
        title, data = names.resource, names.output
        description = (
            f"A {names.data} resource: its data, revision info and meta. Parts left out by "
            "`returns` are absent."
        )
    return {
        "title": title,
        "description": description,
        "type": "object",
        "properties": {
            "data": ref(data),
            "info": ref("RevisionInfo"),
            "meta": ref("ResourceMeta"),
        },
    }


def _modify(names: ModelSchemaNames) -> dict[str, Any]:
    return {
        "title": names.modify,
        "description": (
            "In-place edit of the current revision while it is a draft: new `data` or a JSON "
            "`patch` (not both), and/or a new `status` (`stable` freezes the revision)."
        ),
        "type": "object",
        "properties": {
            "data": ref(names.data),
            "patch": ref("JsonPatch"),
            "status": ref("RevisionStatus"),
        },
        "additionalProperties": False,
    }


def _component_of(node: Mapping[str, Any], components: Mapping[str, Any]) -> Any:
    """The component a property refers to (directly, or as one member of ``anyOf``/``oneOf``)."""
    candidates = [node, *node.get("anyOf", ()), *node.get("oneOf", ())]
    for candidate in candidates:
        target = candidate.get("$ref") if isinstance(candidate, Mapping) else None
        if isinstance(target, str) and target.startswith(REF_PREFIX):
            return components.get(target.removeprefix(REF_PREFIX))
    return None


def _property(components: Mapping[str, Any], root: str, path: str) -> dict[str, Any] | None:
    """The schema of the property at a dotted ``path`` of component ``root``, if found."""
    schema: Any = components.get(root)
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not isinstance(schema, Mapping):
            return None
        prop = schema.get("properties", {}).get(part)
        if not isinstance(prop, dict):
            return None
        if i == len(parts) - 1:
            return prop
        schema = _component_of(prop, components)
    return None


def _annotate(model: type, root: str, components: dict[str, Any]) -> None:
    """Add the ``x-ref-*``, ``x-unique`` and ``x-display-name-field`` extensions of
    ``model``."""
    for ref in collect_refs(model):
        prop = _property(components, root, ref.path)
        if prop is not None:
            prop["x-ref-resource"] = ref.target
            prop["x-ref-on-delete"] = ref.on_delete.value
            prop["x-ref-type"] = ref.ref_type.value
    for path, _marker in find_annotated_fields(model, Unique):
        prop = _property(components, root, path)
        if prop is not None:
            prop["x-unique"] = True
    display = find_annotated_fields(model, DisplayName)
    if display and root in components:
        components[root]["x-display-name-field"] = display[0][0]


def build_components(
    models: Iterable[type], structs: Iterable[type] = ()
) -> dict[str, dict[str, Any]]:
    """Every component schema the generated routes refer to.

    Args:
        models: the registered model types.
        structs: extra msgspec types to include (e.g. bodies of custom routes).

    Returns:
        ``components.schemas`` entries, by name.
    """
    model_list = list(dict.fromkeys(models))
    types = [*model_list, *_SHARED_TYPES, Expr, *structs]
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF_TEMPLATE)
    out: dict[str, dict[str, Any]] = dict(components)
    infos = annotate(types, list(schemas), out)
    out["Expr"] = {
        "title": "Expr",
        "description": "A condition tree: a comparison, or `and`/`or`/`not` of trees.",
        **schemas[len(model_list) + len(_SHARED_TYPES)],
    }
    out["JsonPatch"] = {
        "title": "JsonPatch",
        "description": "An RFC 6902 JSON Patch: operations applied in order, atomically.",
        "type": "array",
        "items": ref("JsonPatchOperation"),
    }
    out["MergePatch"] = {
        "title": "MergePatch",
        "description": (
            "An RFC 7386 JSON merge patch: members replace the data's members, `null` "
            "removes one, nested objects merge."
        ),
        "type": "object",
        "additionalProperties": True,
    }
    for model in model_list:
        _annotate(model, model_schema_names(model).data, out)
    roots = [model_schema_names(m).data for m in model_list]
    require_outputs(out, infos, roots)
    for model in model_list:
        out.update(output_components(model_schema_names(model).data, out, infos))
    undefault_inputs(out, roots)
    for model in model_list:
        names = model_schema_names(model)
        out.update(partial_components(names.data, out))
        out[names.resource] = _envelope(names)
        out[names.partial_resource] = _envelope(names, partial=True)
        out[names.modify] = _modify(names)
    return out


def json_content(schema: Mapping[str, Any], media_type: str = "application/json") -> dict[str, Any]:
    """An OpenAPI ``content`` map with one media type."""
    return {media_type: {"schema": dict(schema)}}


_PROBLEM_TEXT: dict[int, str] = {
    400: "Malformed request: invalid JSON, query or precondition header",
    401: "No acting user could be established (strict operation context)",
    403: "The permission checker refused the operation",
    404: "No such resource or revision",
    405: "The path is a fixed route (such as `count`) that does not serve this method",
    409: "Conflict: the id exists, a unique value is taken, or the revision is not a draft",
    410: "The resource is soft-deleted (restore it first)",
    412: "If-Match / If-None-Match precondition failed",
    413: "The request body is too large",
    415: "Unsupported request content type",
    422: "The request is well-formed but invalid (per-field `errors`)",
    500: "Unexpected server error (details are logged, not returned)",
    503: "The query ran past the store's time budget (`query_timeout`), or the storage is "
    "unavailable: `storage_unavailable` (nothing was changed, retry) or "
    "`write_outcome_unknown` (the write may have happened: read before retrying)",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses documenting ``application/problem+json`` errors."""
    return {
        status: {
            "description": _PROBLEM_TEXT.get(status, "Error"),
            "content": json_content(ref("Problem"), PROBLEM_MEDIA_TYPE),
        }
        for status in statuses
    }


def install_openapi(
    app: FastAPI,
    components: Callable[[], Mapping[str, Any]],
    extensions: Callable[[], Mapping[str, Any]] | None = None,
) -> None:
    """Make ``app.openapi()`` include SpecStar's component schemas (and the document-level
    ``x-…`` members ``extensions`` returns).

    The previous ``app.openapi`` (FastAPI's, or another installer's) runs first; its result is
    extended in place, so installing more than once is harmless.
    """
    previous = app.openapi

    def openapi() -> dict[str, Any]:
        document = previous()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in components().items():
            schemas.setdefault(name, schema)
        for name, value in (extensions() if extensions is not None else {}).items():
            document.setdefault(name, value)
        _add_links(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _add_links(document: dict[str, Any]) -> None:
    """Link each create operation to the operations its new resource enables.

    A ``201`` of ``POST /m`` answers the new revision's info. Every operation under
    ``/m/{resource_id}`` gets an OpenAPI link from it that fills ``resource_id`` (and
    ``revision_id``, where the path has one) from that body; and the create operation of
    every model with a top-level ``Ref`` to ``m`` (``x-ref-resource``) gets one that fills
    that field of its body. Clients and stateful testers can so chain the calls. Links
    already present are kept.
    """
    paths: dict[str, Any] = document.get("paths", {})
    creates = {
        path: item["post"]
        for path, item in paths.items()
        if path.count("/") == 1
        and isinstance(item.get("post", {}).get("responses", {}).get("201"), dict)
    }
    for path, create in creates.items():
        links: dict[str, Any] = create["responses"]["201"].setdefault("links", {})
        prefix = f"{path}/{{resource_id}}"
        for target, target_item in paths.items():
            if target != prefix and not target.startswith(prefix + "/"):
                continue
            for operation in target_item.values():
                if not isinstance(operation, dict) or "operationId" not in operation:
                    continue
                parameters = {"resource_id": "$response.body#/resource_id"}
                if "{revision_id}" in target:
                    parameters["revision_id"] = "$response.body#/revision_id"
                links.setdefault(
                    operation["operationId"],
                    {"operationId": operation["operationId"], "parameters": parameters},
                )
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    for create in creates.values():
        body = create.get("requestBody", {}).get("content", {}).get("application/json", {})
        target_ref = body.get("schema", {}).get("$ref", "")
        model = schemas.get(str(target_ref).removeprefix(REF_PREFIX), {})
        for field, prop in model.get("properties", {}).items():
            referred = f"/{prop.get('x-ref-resource')}"
            if prop.get("x-ref-type") != "resource_id" or referred not in creates:
                continue
            links = creates[referred]["responses"]["201"].setdefault("links", {})
            links.setdefault(
                f"{create['operationId']}_with_{field}",
                {
                    "operationId": create["operationId"],
                    "requestBody": {field: "$response.body#/resource_id"},
                },
            )
