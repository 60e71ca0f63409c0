"""Files over HTTP: uploads, upload sessions and downloads.

========================================================  =====================================
route                                                     does
========================================================  =====================================
``POST /blobs/upload``                                    store one file (``multipart/form-data``
                                                          field ``file``, or the raw body)
``POST /blobs/upload-sessions``                           start a session
``GET /blobs/upload-sessions/{upload_id}``                the session and its progress
``PUT /blobs/upload-sessions/{upload_id}/content``        one part (``?part_number=``)
``POST /blobs/upload-sessions/{upload_id}/finalize``      join and check the parts
``POST /blobs/upload-sessions/{upload_id}/abort``         drop the parts
``GET /blobs/{file_id}``                                  download a file you uploaded
``GET /m/{resource_id}/blobs/{file_id}``                  download a file the resource references
========================================================  =====================================

Bodies are streamed to the blob store and downloads streamed from it: a request holds a
bounded buffer whatever the file's size. Downloads carry ``Content-Length``, ``ETag`` (the
file id: content never changes under an id), ``Accept-Ranges`` and answer ``Range`` with 206
(416 for a range outside the file); with ``redirect=True`` and a store that presigns URLs they
answer 307 to a short-lived direct URL instead.

No file may be larger than the uploads' ``max_file_bytes`` (``SpecStar.configure
(max_file_bytes=...)``, 5 GiB by default): a ``Content-Length`` over it is refused at once with
413 ``content_too_large``, a chunked body as soon as it passes it (a form may add
:data:`FORM_OVERHEAD_BYTES` of its own), and nothing is kept. A session declaring a larger
``size`` gets the same 413 (see :mod:`specstar.core.uploads` for parts and finalize).

Who may read a file: the user who uploaded it (``GET /blobs/{file_id}``), and whoever may read
a resource whose revision references it (``GET /m/{id}/blobs/{file_id}``, checked by the
model's permission checker). Others get 404, the same answer as for a file that does not exist.

Every route first asks the permission checker (the app's, or the model's for the per-model
route) about an action of its own, with the resource name ``blob`` on the global routes:
``blob_upload`` for the upload and every upload-session route, ``blob_read`` for the downloads
(the per-model one also passes the resource id, so a checker's ``check_resource`` sees the
resource's meta; the read of the resource is then checked as ``get``, as before). A denial is a
403 problem. The two actions belong to neither the ``read`` nor the ``write`` group: a rule
table needs them (or ``"*"``) to allow them.

This module holds the template and the download routes; the upload routes are made in
``_upload`` and ``_upload_sessions``, over ``_blob_router`` (the global routes' gate), with
``_bodies`` (streamed request bodies) and ``_downloads`` (ranges, conditional answers).
"""

from collections.abc import Mapping
from typing import Annotated, Any

from msgspec import UNSET, UnsetType
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from fastapi import APIRouter, Depends, Header
from fastapi import Query as QueryParam
from specstar.core import BlobInfo, BlobUploads, CheckerLike, NotFoundError, ResourceManager
from specstar.core.spi import find_binaries

from ..dependencies import DependencyProvider
from ._base import BaseRouteTemplate, ResourceIdPath, RevisionIdPath
from ._blob_router import BLOB_READ, BLOB_RESOURCE, BLOB_UPLOAD, BlobRouter
from ._downloads import FileIdPath, Wanted, download_responses, file_response
from ._upload import FORM_OVERHEAD_BYTES, add_upload_route
from ._upload_sessions import add_session_routes

__all__ = ["BLOB_READ", "BLOB_RESOURCE", "BLOB_UPLOAD", "FORM_OVERHEAD_BYTES", "BlobRouteTemplate"]


class BlobRouteTemplate(BaseRouteTemplate):
    """Upload and download files (see :mod:`specstar.fastapi.routes.blobs`).

    Args:
        uploads: the uploads service (``SpecStar.apply`` gives the app's).
        permission_checker: the checker of the global routes (``SpecStar.apply`` gives the
            app's; ``None``: everyone may upload and read their uploads).
        prefix: path of the global routes.
        redirect: answer downloads with 307 to a presigned URL when the store has them.
        url_expires_in: seconds such a URL stays valid.
        always: add the routes even when no registered model has a ``Binary`` field.
    """

    order = 60

    def __init__(
        self,
        *,
        uploads: BlobUploads | None = None,
        permission_checker: CheckerLike | UnsetType | None = UNSET,
        prefix: str = "/blobs",
        redirect: bool = False,
        url_expires_in: int = 300,
        always: bool = False,
        dependency_provider: DependencyProvider | None = None,
        tags: list[str] | None = None,
        strict_query_parameters: bool | None = None,
    ) -> None:
        super().__init__(
            dependency_provider=dependency_provider,
            tags=tags,
            strict_query_parameters=strict_query_parameters,
        )
        self.uploads = uploads
        #: ``UNSET`` until ``SpecStar.apply`` gives the app's checker (or ``None``).
        self.permission_checker = permission_checker
        self.prefix = prefix
        self.redirect = redirect
        self.url_expires_in = url_expires_in
        self.always = always

    # -- per model ------------------------------------------------------------------------------

    def apply(
        self, model_name: str, resource_manager: ResourceManager[Any], router: APIRouter
    ) -> None:
        if not resource_manager.has_binary_fields:
            return
        m = self.model_routes(model_name, resource_manager, router)
        manager = m.manager
        template = self

        def referenced(
            resource_id: str, revision_id: str | None, file_id: str, user: Any
        ) -> tuple[BlobInfo, str]:
            resource = manager.get(resource_id, revision_id, user=DependencyProvider.user_of(user))
            for _, binary in find_binaries(resource.data):
                if binary.file_id == file_id:
                    info = manager.blob_store.info(file_id)
                    if info is None:
                        break
                    ct = binary.content_type
                    return info, ct if isinstance(ct, str) else info.content_type
            raise NotFoundError(
                f"{resource_id!r} does not reference the file {file_id!r}", resource_id=resource_id
            )

        async def get_resource_blob(
            *,
            resource_id: ResourceIdPath,
            file_id: FileIdPath,
            revision_id: Annotated[
                RevisionIdPath | None,
                QueryParam(description="Look in this revision instead of the current one."),
            ] = None,
            range_header: Annotated[str | None, Header(alias="Range")] = None,
            if_range: Annotated[str | None, Header(alias="If-Range")] = None,
            if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
            user: Any = m.user,
        ) -> Response:
            who = DependencyProvider.user_of(user)
            await m.call(manager.authorize, BLOB_READ, user=who, resource_id=resource_id)
            info, content_type = await m.call(referenced, resource_id, revision_id, file_id, user)
            return await file_response(
                manager.blob_store,
                info,
                content_type,
                Wanted(range_header, if_range, if_none_match),
                redirect=template.redirect,
                expires_in=template.url_expires_in,
            )

        m.add(
            "/{resource_id}/blobs/{file_id}",
            get_resource_blob,
            method="GET",
            action="get_blob",
            summary=f"Download a file a {model_name} references",
            description=(
                "The file, if the resource's current revision (or `revision_id`) references "
                "it and the user may read the resource. Streams with `Content-Length` and "
                "`ETag`; `Range` gives 206 (416 outside the file)."
            ),
            responses=download_responses(),
            response_class=Response,
        )

    # -- global ---------------------------------------------------------------------------------

    def apply_global(
        self, resource_managers: Mapping[str, ResourceManager[Any]], router: APIRouter
    ) -> None:
        if not self.always and not any(m.has_binary_fields for m in resource_managers.values()):
            return
        uploads = self.uploads
        if uploads is None:
            raise ValueError("BlobRouteTemplate needs uploads= (SpecStar.apply gives its own)")
        checker = self.permission_checker
        r = BlobRouter(
            router,
            uploads=uploads,
            permission_checker=None if isinstance(checker, UnsetType) else checker,
            get_user=self.deps.get_user,
            prefix=self.prefix,
            tags=list(self.tags) if self.tags is not None else ["blobs"],
            route_class=self.route_class,
        )
        add_upload_route(r)
        add_session_routes(r)
        User = Annotated[Any, Depends(r.get_user)]
        template = self

        async def download(
            file_id: FileIdPath,
            user: User,
            range_header: Annotated[str | None, Header(alias="Range")] = None,
            if_range: Annotated[str | None, Header(alias="If-Range")] = None,
            if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
        ) -> Response:
            who = r.allowed(BLOB_READ, user)

            def readable() -> BlobInfo:
                info = uploads.blob_store.info(file_id)
                if info is None or not uploads.is_uploader(file_id, who):
                    raise NotFoundError(f"blob {file_id!r} does not exist")
                return info

            info = await run_in_threadpool(readable)
            return await file_response(
                uploads.blob_store,
                info,
                info.content_type,
                Wanted(range_header, if_range, if_none_match),
                redirect=template.redirect,
                expires_in=template.url_expires_in,
            )

        r.add(
            "/{file_id}",
            download,
            "GET",
            "download",
            "Download a file you uploaded",
            description=(
                "Streams the file to its uploader (others: 404; they read it through a "
                "resource that references it, `GET /m/{id}/blobs/{file_id}`)."
            ),
            responses=download_responses(),
            response_class=Response,
        )
