"""An app with the admin mounted: authors, posts (references, enums, nested structs, dates),
attachments (files) and a job model; a checker that refuses the user ``mallory`` everything;
the acting user comes from the ``X-User`` header, as the app's own routes read it."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated, Any

import msgspec
import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient

from specstar.admin import AdminSite, mount
from specstar.core import (
    Binary,
    DisplayName,
    Job,
    JobContext,
    OnDelete,
    OperationContext,
    PermissionDeniedError,
    Ref,
    Resource,
    Unique,
)
from specstar.fastapi import DependencyProvider, SpecStar, install_problem_handlers

DENIED = "mallory"


class Kind(enum.Enum):
    news = "news"
    essay = "essay"


class Place(msgspec.Struct, kw_only=True):
    city: str
    zip_code: str = ""


class Author(msgspec.Struct, kw_only=True):
    handle: Annotated[str, Unique(), msgspec.Meta(min_length=1, max_length=40)]
    name: Annotated[str, DisplayName(), msgspec.Meta(min_length=1, max_length=200)]
    bio: str = ""


class Post(msgspec.Struct, kw_only=True):
    title: Annotated[str, DisplayName(), msgspec.Meta(min_length=1, max_length=300)]
    author_id: Annotated[str, Ref("author", on_delete=OnDelete.restrict)]
    kind: Kind = Kind.news
    words: int = 0
    tags: list[str] = []
    published_at: datetime | None = None
    place: Place = msgspec.field(default_factory=lambda: Place(city="Paris"))
    extra: dict[str, Any] = {}


class Attachment(msgspec.Struct, kw_only=True):
    label: Annotated[str, DisplayName()]
    file: Binary | None = None


class Mail(msgspec.Struct, kw_only=True):
    to: str
    fail: bool = False


class SendMail(Job[Mail, str]):
    pass


def send(job: Resource[SendMail], ctx: JobContext[Mail, str]) -> None:
    if ctx.payload.fail:
        raise ValueError("mailbox full")
    ctx.logger.info("sent to %s", ctx.payload.to)
    ctx.set_artifact(f"sent to {ctx.payload.to}")


class RefuseMallory:
    """Every action of ``mallory`` is refused; everyone else may do everything."""

    def check(self, ctx: OperationContext) -> None:
        if ctx.user == DENIED:
            raise PermissionDeniedError(
                ctx.resource_id or "", user=ctx.user, action=str(ctx.action)
            )


def header_user(x_user: Annotated[str | None, Header()] = None) -> str | None:
    return x_user


class Admin:
    """The app under test and its parts."""

    def __init__(self, page_size: int = 25) -> None:
        self.crud = SpecStar(
            permission_checker=RefuseMallory(),
            dependency_provider=DependencyProvider(get_user=header_user),
        )
        self.authors = self.crud.add_model(Author, indexed_fields=["name"])
        self.posts = self.crud.add_model(Post, indexed_fields=["title", "words", "tags"])
        self.attachments = self.crud.add_model(Attachment)
        self.jobs = self.crud.add_model(
            SendMail, job_handler=send, job_options={"default_max_retries": 0}
        )
        self.app = FastAPI()
        install_problem_handlers(self.app)
        self.crud.apply(self.app)
        self.site: AdminSite = mount(self.app, self.crud, page_size=page_size)

    def client(self, user: str = "ann") -> TestClient:
        return TestClient(self.app, headers={"X-User": user}, follow_redirects=False)


@pytest.fixture
def admin() -> Admin:
    return Admin()


@pytest.fixture
def make_admin() -> type[Admin]:
    """The app class, for a test that needs its own settings."""
    return Admin


@pytest.fixture
def client(admin: Admin) -> TestClient:
    return admin.client()


_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: TestClient, page: str = "/admin/") -> str:
    """The session's CSRF token, as a page's forms carry it (the cookie is set too)."""
    r = client.get(page)
    match = _TOKEN.search(r.text)
    assert match is not None, r.text
    return match.group(1)


def post_form(client: TestClient, url: str, data: dict[str, Any]) -> Any:
    """Post a form (values may be lists) with the session's CSRF token."""
    token = csrf_token(client, "/admin/author/_new")
    return client.post(url, data={"csrf_token": token, **data})


@pytest.fixture
def post() -> Any:
    """``post(client, url, form)``: post a form with the session's CSRF token."""
    return post_form
