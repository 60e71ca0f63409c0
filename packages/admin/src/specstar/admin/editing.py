"""Create and edit forms: generated from the model's schema, validated on the server (errors
shown next to their inputs), saved with ``If-Match`` semantics (a resource changed since the
form was opened gives a conflict page with the difference, never a silent overwrite), and as
drafts when asked."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UnsetType
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from specstar.core import (
    PreconditionFailedError,
    ResourceManager,
    RevisionStatus,
    SpecStarError,
    UniqueConstraintError,
    ValidationError,
    entity_tag,
    revision_of_tag,
)

from .forms import (
    REMOVE,
    UPLOAD,
    FormField,
    error_name,
    field_names,
    file_fields,
    form_fields,
    initial_values,
    parse_form,
)
from .site import AdminSite, BadRequest
from .views import diff

__all__ = ["create", "create_form", "edit_form", "save"]

#: What the submit buttons of a form may say.
_SAVE = ("save", "draft")
#: The form inputs besides the model's fields.
_CONTROL = ("etag", "submit")


def _fields(manager: ResourceManager[Any]) -> list[FormField]:
    return form_fields(manager.model, manager.refs)


def _form_page(
    site: AdminSite,
    request: Request,
    model: str,
    fields: list[FormField],
    values: dict[str, str],
    *,
    rid: str | None = None,
    etag: str = "",
    is_draft: bool = False,
    errors: dict[str, str] | None = None,
    message: str = "",
    status: int = 200,
) -> Response:
    return site.render(
        request,
        "form.html",
        status=status,
        model=model,
        rid=rid,
        fields=fields,
        values=values,
        errors=errors or {},
        message=message,
        etag=etag,
        is_draft=is_draft,
    )


def _submitted(
    site: AdminSite, fields: list[FormField], form: FormData
) -> tuple[dict[str, Any], dict[str, str], dict[str, str], str]:
    """``(data, input errors, raw values, button)`` of a posted form."""
    files = file_fields(fields)
    raw = site.form_fields(
        form, field_names(fields) | set(_CONTROL), files=[f.name + UPLOAD for f in files]
    )
    button = raw.get("submit", "save")
    if button not in _SAVE:
        raise BadRequest(f"unknown submit button {button!r}")
    values = {k: v for k, v in raw.items() if k not in _CONTROL}
    data, errors = parse_form(fields, values)
    for field in files:
        upload = form.get(field.name + UPLOAD)
        removed = values.pop(field.name + REMOVE, "") == "1"
        if isinstance(upload, UploadFile) and upload.filename:
            new: Any = {
                "data": upload.file.read(),
                "content_type": upload.content_type or "application/octet-stream",
            }
        elif removed:
            new = None
        else:
            continue
        errors.pop(field.name, None)
        _put(data, field.name, new)
    return data, errors, values, button


def _put(data: dict[str, Any], name: str, value: Any) -> None:
    """Set the value at a dotted input name."""
    *parents, key = name.split(".")
    for part in parents:
        data = data[part]
    data[key] = value


def _validation_errors(exc: ValidationError, fields: list[FormField]) -> tuple[dict[str, str], str]:
    """The errors of a refused write by input name, and those that name no input."""
    names = field_names(fields)
    by_input: dict[str, str] = {}
    rest: list[str] = []
    for err in exc.errors:
        name = error_name(err.loc)
        if name in names:
            by_input[name] = (by_input[name] + "; " if name in by_input else "") + err.message
        else:
            rest.append(f"{err.loc}: {err.message}" if err.loc not in ("", "$") else err.message)
    if not exc.errors:
        rest.append(exc.message)
    return by_input, "; ".join(rest)


def create_form(site: AdminSite, request: Request, model: str, user: str | UnsetType) -> Response:
    """An empty form for a new resource (the model's defaults filled in)."""
    manager = site.manager(model)
    site.params(request, ())
    fields = _fields(manager)
    defaults = _defaults(manager)
    return _form_page(site, request, model, fields, initial_values(fields, defaults))


def _defaults(manager: ResourceManager[Any]) -> dict[str, Any] | None:
    """The model's default values (``None`` when a field has no default)."""
    info = msgspec.inspect.type_info(manager.model)
    assert isinstance(info, msgspec.inspect.StructType)
    out: dict[str, Any] = {}
    for f in info.fields:
        if f.default is not msgspec.NODEFAULT:
            out[f.encode_name] = msgspec.to_builtins(f.default)
        elif f.default_factory is not msgspec.NODEFAULT:
            out[f.encode_name] = msgspec.to_builtins(f.default_factory())
    return out


def create(
    site: AdminSite, request: Request, model: str, form: FormData, user: str | UnsetType
) -> Response:
    """Create the resource a form describes (a draft with the *draft* button)."""
    manager = site.manager(model)
    site.params(request, ())
    fields = _fields(manager)
    data, errors, values, button = _submitted(site, fields, form)
    if errors:
        return _form_page(site, request, model, fields, values, errors=errors, status=422)
    status = RevisionStatus.draft if button == "draft" else None
    try:
        info = site.write(manager, user, lambda: manager.create(data, status=status, user=user))
    except ValidationError as exc:
        by_input, message = _validation_errors(exc, fields)
        return _form_page(
            site, request, model, fields, values, errors=by_input, message=message, status=422
        )
    except UniqueConstraintError as exc:
        return _form_page(site, request, model, fields, values, message=exc.message, status=409)
    return RedirectResponse(site.url(model, info.resource_id), status_code=303)


def edit_form(
    site: AdminSite, request: Request, model: str, rid: str, user: str | UnsetType
) -> Response:
    """A form holding the current data, remembering the revision it was opened on."""
    manager = site.manager(model)
    site.params(request, ())
    res = manager.get(rid, user=user)
    fields = _fields(manager)
    return _form_page(
        site,
        request,
        model,
        fields,
        initial_values(fields, msgspec.to_builtins(res.data)),
        rid=rid,
        etag=entity_tag(res.info),
        is_draft=res.info.status == RevisionStatus.draft,
    )


def save(
    site: AdminSite,
    request: Request,
    model: str,
    rid: str,
    *,
    form: FormData,
    user: str | UnsetType,
) -> Response:
    """Save an edit form: a new revision (``save``), a new draft or the open draft edited in
    place (``draft``), only while the resource is still as the form found it."""
    manager = site.manager(model)
    site.params(request, ())
    fields = _fields(manager)
    data, errors, values, button = _submitted(site, fields, form)
    etag = form.get("etag")
    etag = etag if isinstance(etag, str) and etag else None
    if etag is None:
        raise BadRequest("the form lacks the revision it was opened on (etag): reopen it")
    opened_draft = revision_of_tag(etag) != etag
    if errors:
        return _form_page(
            site, request, model, fields, values,
            rid=rid, etag=etag, is_draft=opened_draft, errors=errors, status=422,
        )  # fmt: skip

    def write() -> None:
        if button == "draft" and opened_draft:
            manager.modify(rid, data, expected_etag=etag, user=user)
        elif button == "draft":
            manager.update(rid, data, expected_etag=etag, status=RevisionStatus.draft, user=user)
        elif opened_draft:  # saving a draft for good: its content becomes a stable revision
            manager.modify(rid, data, RevisionStatus.stable, expected_etag=etag, user=user)
        else:
            manager.update(rid, data, expected_etag=etag, user=user)

    try:
        site.write(manager, user, write)
    except ValidationError as exc:
        by_input, message = _validation_errors(exc, fields)
        return _form_page(
            site, request, model, fields, values, rid=rid, etag=etag, is_draft=opened_draft,
            errors=by_input, message=message, status=422,
        )  # fmt: skip
    except UniqueConstraintError as exc:
        return _form_page(
            site, request, model, fields, values, rid=rid, etag=etag, is_draft=opened_draft,
            message=exc.message, status=409,
        )  # fmt: skip
    except PreconditionFailedError:
        return _conflict(
            site, request, model, rid, fields=fields, values=values, mine=data, etag=etag, user=user
        )
    return RedirectResponse(site.url(model, rid), status_code=303)


def _conflict(
    site: AdminSite,
    request: Request,
    model: str,
    rid: str,
    *,
    fields: list[FormField],
    values: dict[str, str],
    mine: dict[str, Any],
    etag: str,
    user: str | UnsetType,
) -> Response:
    """The page of an edit that lost a race: what changed since the form was opened, how the
    submitted data differs from the current data, and the form again (on the current
    revision) to save anyway."""
    manager = site.manager(model)
    current = manager.get(rid, user=user)
    now = msgspec.to_builtins(current.data)
    opened_id = revision_of_tag(etag)
    try:
        opened = msgspec.to_builtins(manager.get(rid, opened_id, user=user).data)
        theirs = diff(opened, now)
    except SpecStarError:  # the opened revision was pruned meanwhile: show what can be shown
        theirs = []
    ours = diff(now, _comparable(manager, mine))
    return site.render(
        request,
        "conflict.html",
        status=412,
        model=model,
        rid=rid,
        opened=opened_id,
        current=current.info,
        theirs=theirs,
        ours=ours,
        fields=fields,
        values=values,
        errors={},
        message="",
        etag=entity_tag(current.info),
        is_draft=current.info.status == RevisionStatus.draft,
    )


def _comparable(manager: ResourceManager[Any], data: dict[str, Any]) -> Any:
    """Submitted data in the form stored data has (defaults filled in), when it is valid."""
    try:
        return msgspec.to_builtins(msgspec.convert(data, manager.model))
    except (msgspec.ValidationError, TypeError):
        return data
