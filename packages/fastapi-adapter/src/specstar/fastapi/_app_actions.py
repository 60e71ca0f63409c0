"""Custom actions of a :class:`~specstar.fastapi.SpecStar` app: ``create_action`` and
``update_action``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from ._app_models import ModelRegistration
from .action_jobs import payload_fields
from .custom_actions import CustomAction, make_action

__all__ = ["ActionRegistration"]

F = TypeVar("F", bound=Callable[..., Any])


class ActionRegistration(ModelRegistration):
    """The custom actions part of :class:`~specstar.fastapi.SpecStar`: register endpoints that
    create or update a model's resources (their routes are made by ``apply``)."""

    def create_action(
        self,
        resource_name: str,
        *,
        path: str | None = None,
        label: str | None = None,
        async_mode: Literal["job", "background"] | None = None,
        job_name: str | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated FastAPI endpoint as a create action: ``POST /m/{path}``.

        The handler takes what any endpoint takes (``Body``, ``Query``, ``Depends``,
        ``UploadFile``; a ``msgspec.Struct`` or Pydantic model as the body). When it returns an
        instance of the model it is created (201 with the revision info, ``Location`` and
        ``ETag``); ``None`` writes nothing (200, ``null``). The action is authorised as
        ``action:{path}`` first, then the create as ``create``. Lazy: the route is made by
        :meth:`apply`, so this may come before or after :meth:`add_model`.

        Args:
            resource_name: the resource the action creates.
            path: the URL segment (default: the function name with hyphens).
            label: a name for people (default: the path title-cased).
            async_mode: ``"job"``: a job model ``job_name`` (default
                ``"{resource}-{path}-job"``) is registered, the request creates a job (202
                with :class:`~specstar.core.JobRedirectInfo`) and a worker runs the handler,
                storing the revision info as the job's artifact. ``"background"``: 202 with
                :class:`~specstar.core.BackgroundTaskAccepted`, the handler runs after the
                response; its failures are logged.
            job_name: the job model's resource name (only with ``async_mode="job"``).

        Raises:
            ValueError: an invalid argument, or the path is taken by another action.
            TypeError: a job action whose parameters a job cannot carry (a dependency, ...).
        """

        def register(handler: F) -> F:
            self._add_action(
                make_action(
                    "create",
                    resource_name,
                    handler,
                    path=path,
                    label=label,
                    async_mode=async_mode,
                    job_name=job_name,
                )
            )
            return handler

        return register

    def update_action(
        self,
        resource_name: str,
        *,
        path: str | None = None,
        label: str | None = None,
        mode: Literal["update", "modify"] = "update",
        existing_param: str = "existing",
        info_param: str = "info",
        meta_param: str = "meta",
        async_mode: Literal["job", "background"] | None = None,
        job_name: str | None = None,
        retry_on_conflict: int = 0,
    ) -> Callable[[F], F]:
        """Register the decorated FastAPI endpoint as an update action:
        ``POST /m/{resource_id}/{path}``.

        The handler gets the current data, revision info and meta in the parameters named
        ``existing_param``, ``info_param`` and ``meta_param`` (those it declares). What it
        returns becomes the new data (``mode="update"``: a new revision; ``"modify"``: the
        draft edited in place), written with compare-and-swap against the revision the
        handler was given: a concurrent change is a 409 ``concurrent_change`` (or, with
        ``If-Match``, a 412), never a lost update; with ``retry_on_conflict=n`` the handler
        runs again on the fresh data up to ``n`` times first (for handlers safe to repeat).
        The action is authorised as ``action:{path}`` on the target (outside the user's
        scope for it: 404), then the write as ``update``/``modify``. Other arguments as
        :meth:`create_action`.

        Raises:
            ValueError: an invalid argument, or the path is taken by another action.
            TypeError: a job action whose parameters a job cannot carry.
        """

        def register(handler: F) -> F:
            self._add_action(
                make_action(
                    "update",
                    resource_name,
                    handler,
                    path=path,
                    label=label,
                    async_mode=async_mode,
                    job_name=job_name,
                    mode=mode,
                    existing_param=existing_param,
                    info_param=info_param,
                    meta_param=meta_param,
                    retry_on_conflict=retry_on_conflict,
                )
            )
            return handler

        return register

    def _add_action(self, spec: CustomAction) -> None:
        for other in self.custom_actions:
            if (other.resource_name, other.kind, other.path) == (
                spec.resource_name,
                spec.kind,
                spec.path,
            ):
                raise ValueError(
                    f"{spec.resource_name} has a {spec.kind} action {spec.path!r} already"
                )
            if spec.job_name is not None and other.job_name == spec.job_name:
                raise ValueError(f"job_name {spec.job_name!r} is used by another action")
        if spec.async_mode == "job":
            payload_fields(spec)  # refuse what a job cannot carry now, not at apply()
        self.custom_actions.append(spec)
        self._register_action_jobs()
