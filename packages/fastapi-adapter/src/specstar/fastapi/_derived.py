"""Component schemas derived from the msgspec ones, per registered model and for the shared
types (see :mod:`specstar.fastapi.openapi` for the names):

* ``…Output`` — the model as the server returns it (always-encoded members required);
* ``…Partial`` — no member required at any depth (partial reads);
* the schemas clients send keep their defaults in the description only, and the shared
  types only the server sends list their always-encoded members as required.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from ._schemas import ObjectInfo, output_required

__all__ = ["output_components", "partial_components", "require_outputs", "undefault_inputs"]

REF_PREFIX = "#/components/schemas/"


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        target = node.get("$ref")
        if isinstance(target, str) and target.startswith(REF_PREFIX):
            out.add(target.removeprefix(REF_PREFIX))
        for value in node.values():
            _refs(value, out)
    elif isinstance(node, list):
        for value in node:
            _refs(value, out)


def _reachable(root: str, components: Mapping[str, Any]) -> list[str]:
    seen: list[str] = []
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen or name not in components:
            continue
        seen.append(name)
        found: set[str] = set()
        _refs(components[name], found)
        todo.extend(sorted(found))
    return seen


def _is_object(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "object" or "properties" in schema


def _loosen(node: Any, renames: Mapping[str, str]) -> Any:
    """A copy with ``required`` and discriminators dropped and refs renamed, at every depth."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("required", "discriminator"):
                continue
            if key == "$ref" and isinstance(value, str):
                name = value.removeprefix(REF_PREFIX)
                out[key] = REF_PREFIX + renames.get(name, name)
            else:
                out[key] = _loosen(value, renames)
        return out
    if isinstance(node, list):
        return [_loosen(v, renames) for v in node]
    return node


def partial_components(root: str, components: Mapping[str, Any]) -> dict[str, Any]:
    objects = [n for n in _reachable(root, components) if _is_object(components[n])]
    renames = {n: f"{n}Partial" for n in objects}
    out: dict[str, Any] = {}
    for name in objects:
        schema = _loosen(copy.deepcopy(components[name]), renames)
        schema["title"] = renames[name]
        schema["description"] = (
            f"Part of a {name}: only the members selected by `partial` (none is required)."
        )
        out[renames[name]] = schema
    return out


def output_components(
    root: str, components: Mapping[str, Any], infos: Mapping[str, ObjectInfo]
) -> dict[str, Any]:
    """``…Output`` copies of the object components of a model: always-encoded members
    required, refs to the other copies."""
    objects = [n for n in _reachable(root, components) if n in infos]
    renames = {n: f"{n}Output" for n in objects}
    out: dict[str, Any] = {}
    for name in objects:
        schema = _rename_refs(copy.deepcopy(components[name]), renames)
        required = output_required(infos[name])
        schema.pop("required", None)
        if required:
            schema["required"] = required
        schema["title"] = renames[name]
        schema["description"] = (
            f"A {name} as the server returns it: members with defaults are always present."
        )
        out[renames[name]] = schema
    return out


def _rename_refs(node: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                name = value.removeprefix(REF_PREFIX)
                node[key] = REF_PREFIX + renames.get(name, name)
            else:
                _rename_refs(value, renames)
    elif isinstance(node, list):
        for value in node:
            _rename_refs(value, renames)
    return node


#: Shared types sent by clients: their schemas keep msgspec's ``required``.
_INPUT_ROOTS = ("BatchRequest", "Expr", "Sort", "JsonPatchOperation")
#: Shared types only the server sends.
_OUTPUT_ROOTS = (
    "RevisionInfo",
    "ResourceMeta",
    "Count",
    "BatchResult",
    "Referrer",
    "Relationship",
    "MigrationProgress",
    "Problem",
)


def require_outputs(
    components: dict[str, Any], infos: Mapping[str, ObjectInfo], models: Iterable[str]
) -> None:
    """Mark the always-encoded members of the output-only shared types required, in place."""
    inputs = {n for root in (*_INPUT_ROOTS, *models) for n in _reachable(root, components)}
    for name in {n for root in _OUTPUT_ROOTS for n in _reachable(root, components)} - inputs:
        if name in infos:
            required = output_required(infos[name])
            if required:
                components[name]["required"] = required


def undefault_inputs(components: dict[str, Any], models: Iterable[str]) -> None:
    """Move the ``default`` of every property of a schema clients send into its description.

    A property with a ``default`` is one a client may leave out, but openapi-typescript (with
    its default ``defaultNonNullable``) makes it a required member, so a create call that
    omits it fails ``tsc --strict``. The output schemas keep their ``default``s.
    """
    inputs = {n for root in (*_INPUT_ROOTS, *models) for n in _reachable(root, components)}
    for name in inputs:
        for prop in components[name].get("properties", {}).values():
            if isinstance(prop, dict) and "default" in prop:
                default = msgspec.json.encode(prop.pop("default")).decode()
                text = f"Default: `{default}`."
                prop["description"] = (
                    f"{prop['description']} {text}" if "description" in prop else text
                )
