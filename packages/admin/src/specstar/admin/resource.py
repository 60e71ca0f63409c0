"""The pages of one resource: its data, references, referrers, revision timeline, diffs,
the lifecycle actions (delete, restore, permanent delete, switch, publish), its job state and
logs, and its stored files."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UnsetType
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from specstar.core import (
    JobManager,
    ResourceManager,
    RevisionStatus,
    SpecStarError,
    entity_tag,
    find_referrers,
)

from .site import AdminSite, BadRequest, NotFound
from .views import diff, value_view

__all__ = ["act", "blob", "confirm", "detail", "diff_page", "logs"]

#: Revisions the timeline shows (the latest ones).
_TIMELINE = 100
_REFERRERS = 50
#: Image types shown inline (never SVG: it may carry scripts).
_PREVIEW_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _revision_data(
    manager: ResourceManager[Any], rid: str, revision_id: str | None, user: str | UnsetType
) -> tuple[Any, Any]:
    res = manager.get(rid, revision_id, include_deleted=True, user=user)
    return res.info, msgspec.to_builtins(res.data)


def detail(
    site: AdminSite, request: Request, model: str, rid: str, user: str | UnsetType
) -> Response:
    """A resource as of its current revision (or ``?revision=``), with its history."""
    manager = site.manager(model)
    params = site.params(request, ("revision",))
    meta = manager.get_meta(rid, include_deleted=True, user=user)
    info, data = _revision_data(manager, rid, params.get("revision") or None, user)
    current = manager.get_revision_info(rid, include_deleted=True, user=user)
    infos, total = manager.list_revision_infos_with_total(rid, user=user)
    infos = infos[-_TIMELINE:]
    try:
        referrers, referrer_total = find_referrers(
            manager, rid, user=user, include_deleted=True, limit=min(_REFERRERS, manager.max_limit)
        )
    except SpecStarError:
        referrers, referrer_total = [], 0
    job: dict[str, Any] | None = None
    if isinstance(manager, JobManager):
        job = {
            "status": data.get("status"),
            "retries": data.get("retries"),
            "errmsg": data.get("errmsg"),
        }
        try:
            job["logs"] = manager.get_logs(rid, user=user)
        except SpecStarError as exc:
            job["logs"] = f"(logs unavailable: {exc.message})"
    refs = {r.path: r for r in manager.refs}
    view = value_view(data, refs=refs, base=site.path, blob_href=site.url(model, rid, "blob"))
    return site.render(
        request,
        "detail.html",
        model=model,
        meta=meta,
        info=info,
        current=current,
        etag=entity_tag(current),
        viewing_current=info.revision_id == current.revision_id,
        is_draft=current.status == RevisionStatus.draft,
        view=view,
        infos=list(reversed(infos)),
        total=total,
        referrers=referrers,
        referrer_total=referrer_total,
        job=job,
    )


def diff_page(
    site: AdminSite, request: Request, model: str, rid: str, user: str | UnsetType
) -> Response:
    """The difference between two revisions (``?a=`` older, ``?b=`` newer), field by field."""
    manager = site.manager(model)
    params = site.params(request, ("a", "b"))
    if not params.get("a") or not params.get("b"):
        raise BadRequest("choose two revisions to compare (a and b)")
    info_a, data_a = _revision_data(manager, rid, params["a"], user)
    info_b, data_b = _revision_data(manager, rid, params["b"], user)
    current = manager.get_revision_info(rid, include_deleted=True, user=user)
    return site.render(
        request,
        "diff.html",
        model=model,
        rid=rid,
        a=info_a,
        b=info_b,
        changes=diff(data_a, data_b),
        current=current,
    )


#: The confirmation each action asks for, and whether the resource id must be typed.
_CONFIRM = {
    "delete": "Delete this resource? It can be restored later.",
    "purge": "Permanently delete this resource and its whole history? This cannot be undone.",
}


def confirm(
    site: AdminSite, request: Request, model: str, rid: str, user: str | UnsetType
) -> Response:
    """The confirmation page of a destructive action (``?action=delete|purge``)."""
    manager = site.manager(model)
    params = site.params(request, ("action",))
    action = params.get("action", "")
    if action not in _CONFIRM:
        raise BadRequest(f"action must be one of {', '.join(_CONFIRM)}, not {action!r}")
    current = manager.get_revision_info(rid, include_deleted=True, user=user)
    return site.render(
        request,
        "confirm.html",
        model=model,
        rid=rid,
        action=action,
        question=_CONFIRM[action],
        etag=entity_tag(current),
    )


def act(
    site: AdminSite,
    request: Request,
    model: str,
    rid: str,
    *,
    action: str,
    inputs: dict[str, str],
    user: str | UnsetType,
) -> Response:
    """Carry out a lifecycle or job action, then go back to the resource (or the list)."""
    manager = site.manager(model)
    etag = inputs.get("etag") or None
    if action == "purge" and inputs.get("confirm_id") != rid:
        raise BadRequest("type the resource id to confirm the permanent delete")
    if action == "switch" and not inputs.get("revision_id"):
        raise BadRequest("choose the revision to switch to")
    if action in ("rerun", "cancel") and not isinstance(manager, JobManager):
        raise BadRequest(f"{model} is not a job model: nothing to {action}")
    site.write(
        manager,
        user,
        lambda: _perform(manager, rid, action=action, inputs=inputs, etag=etag, user=user),
    )
    if action == "purge":
        return RedirectResponse(site.url(model), status_code=303)
    return RedirectResponse(site.url(model, rid), status_code=303)


def _perform(
    manager: ResourceManager[Any],
    rid: str,
    *,
    action: str,
    inputs: dict[str, str],
    etag: str | None,
    user: str | UnsetType,
) -> None:
    if action == "delete":
        manager.delete(rid, expected_etag=etag, user=user)
    elif action == "restore":
        manager.restore(rid, expected_etag=etag, user=user)
    elif action == "purge":
        manager.permanently_delete(rid, expected_etag=etag, user=user)
    elif action == "switch":
        manager.switch(rid, inputs["revision_id"], user=user)
    elif action == "publish":
        manager.modify(rid, status=RevisionStatus.stable, expected_etag=etag, user=user)
    elif isinstance(manager, JobManager) and action == "rerun":
        manager.rerun(rid, user=user)
    elif isinstance(manager, JobManager) and action == "cancel":
        manager.cancel(rid, user=user)


def logs(
    site: AdminSite, request: Request, model: str, rid: str, user: str | UnsetType
) -> Response:
    """A job's log as plain text (the detail page polls it while the job runs)."""
    manager = site.manager(model)
    site.params(request, ())
    if not isinstance(manager, JobManager):
        raise BadRequest(f"{model} is not a job model: it has no logs")
    return PlainTextResponse(manager.get_logs(rid, user=user))


def _file_ids(value: Any, out: set[str]) -> set[str]:
    if isinstance(value, dict):
        file_id = value.get("file_id")
        if isinstance(file_id, str):
            out.add(file_id)
        for v in value.values():
            _file_ids(v, out)
    elif isinstance(value, list):
        for v in value:
            _file_ids(v, out)
    return out


def blob(
    site: AdminSite,
    request: Request,
    model: str,
    rid: str,
    *,
    file_id: str,
    user: str | UnsetType,
) -> Response:
    """A file a revision of the resource holds (``?revision=``, default the current one),
    served only when that revision, read as the user, names it. Images of common raster
    types are shown inline (``?inline=1``); everything else downloads."""
    manager = site.manager(model)
    params = site.params(request, ("revision", "inline"))
    _, data = _revision_data(manager, rid, params.get("revision") or None, user)
    if file_id not in _file_ids(data, set()):
        raise NotFound(f"this revision of {rid} holds no file {file_id!r}")
    stored = manager.get_blob(file_id)
    content_type = stored.content_type if isinstance(stored.content_type, str) else ""
    inline = params.get("inline") == "1" and content_type in _PREVIEW_TYPES
    body = stored.data if isinstance(stored.data, bytes) else b""
    return Response(
        body,
        media_type=content_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": "inline" if inline else f'attachment; filename="{file_id}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        },
    )
