"""The blog scenario, written as a user writes it against the client openapi-python-client
generates from the blog's OpenAPI document (package ``spec_star_blog_client``).

``python blog_scenario.py BASE_URL`` runs every step against a live server and prints one JSON
line per step: ``{"step": name, "ok": bool, "detail": text}``. A failing step does not stop the
run: later steps read fresh state, so each step reports on its own. The file is type-checked
with ``mypy --strict`` together with the generated package, so it is written as strictly typed
code a user would write (no casts, no ``Any``).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import traceback
from collections.abc import Callable
from typing import TypeVar

from spec_star_blog_client import Client
from spec_star_blog_client.api.author import create_author
from spec_star_blog_client.api.post import (
    create_post,
    delete_post,
    get_post,
    list_partial_post,
    list_post,
    modify_post,
    patch_post,
    replace_post,
    restore_post,
    switch_post,
)
from spec_star_blog_client.models import (
    Author,
    FieldProblem,
    JsonPatchOperation,
    JsonPatchOperationOp,
    MergePatch,
    Post,
    PostModify,
    PostOutput,
    PostPartial,
    PostPartialResource,
    PostResource,
    Problem,
    ResourceMeta,
    RevisionInfo,
    RevisionStatus,
)
from spec_star_blog_client.types import UNSET, Response, Unset

T = TypeVar("T")


class StepFailed(Exception):
    """A check of the scenario did not hold."""


def check(condition: bool, message: str) -> None:
    """Raise :class:`StepFailed` with ``message`` unless ``condition``."""
    if not condition:
        raise StepFailed(message)


def etag(response: Response[T]) -> str:
    """The response's ``ETag`` header (it must be there)."""
    value = response.headers.get("etag")
    check(value is not None, f"no ETag on a {response.status_code} response")
    assert value is not None
    return value


def info(response: Response[Problem | RevisionInfo], status: int = 200) -> RevisionInfo:
    """The revision info of a successful write, or :class:`StepFailed` naming the problem."""
    body = response.parsed
    check(
        response.status_code == status and isinstance(body, RevisionInfo),
        f"expected {status} with RevisionInfo, got {response.status_code}: "
        f"{response.content.decode(errors='replace')[:300]}",
    )
    assert isinstance(body, RevisionInfo)
    return body


def problem(response: Response[T], status: int, code: str) -> Problem:
    """The typed problem of an error response with this status and code."""
    body = response.parsed
    check(
        response.status_code == status and isinstance(body, Problem),
        f"expected a {status} Problem, got {response.status_code}: "
        f"{response.content.decode(errors='replace')[:300]}",
    )
    assert isinstance(body, Problem)
    check(body.code == code, f"expected problem code {code!r}, got {body.code!r}")
    check(body.status == status, f"problem status {body.status} != {status}")
    return body


class Scenario:
    """The steps, in order, sharing the resources they create."""

    def __init__(self, base_url: str) -> None:
        self.client = Client(base_url=base_url, raise_on_unexpected_status=False, timeout=None)
        self.author_id = ""
        self.posts: dict[str, str] = {}  # slug -> resource id

    def read(self, resource_id: str) -> tuple[PostOutput, str]:
        """The current data of a post and its ETag."""
        response = get_post.sync_detailed(resource_id, client=self.client)
        check(
            response.status_code == 200 and isinstance(response.parsed, PostResource),
            f"GET {resource_id}: {response.status_code}",
        )
        assert isinstance(response.parsed, PostResource)
        data = response.parsed.data
        check(isinstance(data, PostOutput), f"GET {resource_id}: data is {type(data).__name__}")
        assert isinstance(data, PostOutput)
        return data, etag(response)

    def new_post(self, slug: str, title: str, user: str) -> RevisionInfo:
        body = Post(slug=slug, title=title, author_id=self.author_id)
        response = create_post.sync_detailed(client=self.client, body=body, x_user=user)
        created = info(response, 201)
        check(etag(response) == f'"{created.revision_id}"', "ETag is not the revision id")
        check(created.created_by == user, f"created_by {created.created_by!r} != {user!r}")
        self.posts[slug] = created.resource_id
        return created

    # -- the steps ------------------------------------------------------------------------------

    def create(self) -> None:
        author = Author(handle="ada", name="Ada Lovelace")
        self.author_id = info(
            create_author.sync_detailed(client=self.client, body=author, x_user="ada"), 201
        ).resource_id
        for i in range(4):
            self.new_post(f"post-{i}", f"Post {i}", "ada")
        self.new_post("post-4", "Post 4", "bob")
        self.new_post("post-5", "Post 5", "carol")

    def get(self) -> None:
        response = get_post.sync_detailed(self.posts["post-0"], client=self.client)
        check(response.status_code == 200, f"GET: {response.status_code}")
        resource = response.parsed
        check(isinstance(resource, PostResource), f"GET parsed {type(resource).__name__}")
        assert isinstance(resource, PostResource)
        data = resource.data
        check(not isinstance(data, Unset), "a full read has data")
        assert not isinstance(data, Unset)
        # A full read: the data is a whole PostOutput, with every field typed and present.
        title: str = data.title
        tags: list[str] = data.tags
        check(title == "Post 0", f"title {title!r}")
        check(data.body == "" and tags == [], "defaults were not filled in")
        check(data.published_at is None, f"published_at {data.published_at!r}")
        revision = resource.info
        check(isinstance(revision, RevisionInfo), "a full read has info")
        assert isinstance(revision, RevisionInfo)
        check(etag(response) == f'"{revision.revision_id}"', "ETag is not the revision read")

    def datetimes(self) -> None:
        when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
        body = Post(slug="dated", title="Dated", author_id=self.author_id, published_at=when)
        created = info(create_post.sync_detailed(client=self.client, body=body), 201)
        data, _ = self.read(created.resource_id)
        check(isinstance(data.published_at, dt.datetime), f"published_at {data.published_at!r}")
        check(data.published_at == when, f"published_at {data.published_at!r} != {when!r}")
        delete_post.sync_detailed(created.resource_id, client=self.client)

    def list_filters(self) -> None:
        # parts of each item's data: the partial listing, typed PostPartialResource
        response = list_partial_post.sync_detailed(
            client=self.client,
            qb='title.starts_with("Post")',
            created_by=["bob", "carol"],
            partial=["title", "slug"],
            returns=["data", "info"],
            sorts=["-title"],
            include_total=True,
        )
        items = response.parsed
        check(response.status_code == 200 and isinstance(items, list), f"{response.status_code}")
        assert isinstance(items, list)
        check(response.headers.get("x-total-count") == "2", "X-Total-Count is not 2")
        titles: list[str] = []
        for item in items:
            check(isinstance(item, PostPartialResource), f"an item is {type(item).__name__}")
            check(item.meta is UNSET, "meta was returned although not asked for")
            check(isinstance(item.data, PostPartial), f"partial data is {type(item.data)}")
            assert isinstance(item.data, PostPartial)
            check(item.data.body is UNSET, "partial data holds unselected members")
            check(isinstance(item.data.title, str), "partial data lacks the title")
            assert isinstance(item.data.title, str)
            titles.append(item.data.title)
        check(titles == ["Post 5", "Post 4"], f"listed {titles}")
        # whole items of the same filter, newest author first
        full = list_post.sync_detailed(
            client=self.client, created_by=["bob", "carol"], sorts=["-$created_time"]
        )
        check(full.status_code == 200 and isinstance(full.parsed, list), f"{full.status_code}")
        assert isinstance(full.parsed, list)
        slugs = [item.data.slug for item in full.parsed if isinstance(item.data, PostOutput)]
        check(slugs == ["post-5", "post-4"], f"full listing gave {slugs}")
        tagged = list_post.sync_detailed(client=self.client, qb='tags.contains("none")')
        check(tagged.status_code == 200 and tagged.parsed == [], "a filter matching none")

    def cursor_paging(self) -> None:
        seen: list[str] = []
        cursor: str | None = None
        for _ in range(10):
            response = list_post.sync_detailed(
                client=self.client,
                qb='title.starts_with("Post")',
                limit=2,
                sorts=["title"],
                cursor=cursor if cursor else UNSET,
            )
            page = response.parsed
            check(response.status_code == 200 and isinstance(page, list), "a page failed")
            assert isinstance(page, list)
            for item in page:
                check(isinstance(item.data, PostOutput), "a listed item has no full data")
                assert isinstance(item.data, PostOutput)
                seen.append(item.data.slug)
            cursor = response.headers.get("x-next-cursor")
            has_more = response.headers.get("x-has-more")
            check((has_more == "true") == (cursor is not None), f"X-Has-More {has_more}")
            if cursor is None:
                break
        check(seen == [f"post-{i}" for i in range(6)], f"cursor pages gave {seen}")

    def put_if_match(self) -> None:
        rid = self.posts["post-1"]
        data, tag = self.read(rid)
        changed = Post(slug=data.slug, title="Post 1, revised", author_id=data.author_id)
        response = replace_post.sync_detailed(rid, client=self.client, body=changed, if_match=tag)
        updated = info(response)
        check(etag(response) == f'"{updated.revision_id}"' != tag, "PUT did not move the ETag")
        # what was read (the output schema) sent back as it was: the input schema
        unchanged = Post.from_dict(data.to_dict())
        stale = replace_post.sync_detailed(rid, client=self.client, body=unchanged, if_match=tag)
        found = problem(stale, 412, "precondition_failed")
        check(found.actual == updated.revision_id, f"412 names {found.actual!r}")
        check(self.read(rid)[0].title == "Post 1, revised", "the stale PUT changed the data")

    def json_patch(self) -> None:
        rid = self.posts["post-2"]
        _, tag = self.read(rid)
        ops = [
            JsonPatchOperation(op=JsonPatchOperationOp.REPLACE, path="/title", value="Patched"),
            JsonPatchOperation(op=JsonPatchOperationOp.ADD, path="/tags/-", value="json"),
        ]
        response = patch_post.sync_detailed(rid, client=self.client, body=ops, if_match=tag)
        info(response)
        data, _ = self.read(rid)
        check((data.title, data.tags) == ("Patched", ["json"]), f"{data.title!r} {data.tags}")

    def merge_patch(self) -> None:
        rid = self.posts["post-3"]
        merge = MergePatch.from_dict({"title": "Merged", "body": "text"})
        info(patch_post.sync_detailed(rid, client=self.client, body=merge))
        data, _ = self.read(rid)
        check((data.title, data.body) == ("Merged", "text"), f"{data.title!r} {data.body!r}")

    def draft_stale_etag(self) -> None:
        draft = Post(slug="draft", title="Draft", author_id=self.author_id)
        response = create_post.sync_detailed(
            client=self.client, body=draft, status=RevisionStatus.DRAFT
        )
        created = info(response, 201)
        check(created.status == RevisionStatus.DRAFT, f"status {created.status}")
        rid, first = created.resource_id, etag(response)
        one = Post(slug="draft", title="Draft, edit one", author_id=self.author_id)
        edit = modify_post.sync_detailed(
            rid, client=self.client, body=PostModify(data=one), if_match=first
        )
        info(edit)
        check(etag(edit) != first, "modifying the draft did not change its ETag")
        two = Post(slug="draft", title="Draft, edit two", author_id=self.author_id)
        stale = modify_post.sync_detailed(
            rid, client=self.client, body=PostModify(data=two), if_match=first
        )
        problem(stale, 412, "precondition_failed")
        check(self.read(rid)[0].title == "Draft, edit one", "the stale edit overwrote the first")

    def delete(self) -> None:
        rid = self.posts["post-0"]
        response = delete_post.sync_detailed(rid, client=self.client)
        meta = response.parsed
        check(response.status_code == 200 and isinstance(meta, ResourceMeta), "DELETE failed")
        assert isinstance(meta, ResourceMeta)
        check(meta.is_deleted is True, "the meta does not say deleted")
        problem(get_post.sync_detailed(rid, client=self.client), 410, "gone")

    def restore(self) -> None:
        rid = self.posts["post-0"]
        response = restore_post.sync_detailed(rid, client=self.client)
        meta = response.parsed
        check(response.status_code == 200 and isinstance(meta, ResourceMeta), "restore failed")
        assert isinstance(meta, ResourceMeta)
        check(meta.is_deleted is False, "the meta still says deleted")
        check(self.read(rid)[0].title == "Post 0", "the restored post reads differently")

    def switch(self) -> None:
        rid = self.posts["post-1"]
        response = switch_post.sync_detailed(rid, f"{rid}:1", client=self.client)
        meta = response.parsed
        check(response.status_code == 200 and isinstance(meta, ResourceMeta), "switch failed")
        assert isinstance(meta, ResourceMeta)
        check(meta.current_revision_id == f"{rid}:1", f"current {meta.current_revision_id}")
        data, tag = self.read(rid)
        check(data.title == "Post 1" and tag == f'"{rid}:1"', f"after switch: {data.title!r}")

    def problems(self) -> None:
        missing = get_post.sync_detailed("post:nothing-here", client=self.client)
        problem(missing, 404, "not_found")
        copy = Post(slug="post-2", title="Copy", author_id=self.author_id)
        taken = problem(
            create_post.sync_detailed(client=self.client, body=copy), 409, "unique_violation"
        )
        check(taken.field == "slug", f"field {taken.field!r}")
        check(taken.conflicting_resource_id == self.posts["post-2"], "wrong conflicting id")
        bad = Post(slug="Not A Slug", title="T", author_id=self.author_id)
        invalid = problem(
            create_post.sync_detailed(client=self.client, body=bad), 422, "validation_error"
        )
        errors = invalid.errors
        check(isinstance(errors, list) and len(errors) >= 1, "no per-field errors")
        assert isinstance(errors, list)
        check(all(isinstance(e, FieldProblem) for e in errors), "errors are not typed")
        check(errors[0].loc == "/slug", f"loc {errors[0].loc!r}")

    def validation_every_error(self) -> None:
        bad = Post(slug="Not A Slug", title="", author_id=self.author_id)
        invalid = problem(
            create_post.sync_detailed(client=self.client, body=bad), 422, "validation_error"
        )
        locs = sorted(e.loc for e in invalid.errors) if isinstance(invalid.errors, list) else []
        check(locs == ["/slug", "/title"], f"errors reported for {locs}, not /slug and /title")


STEPS: tuple[str, ...] = (
    "create",
    "get",
    "datetimes",
    "list_filters",
    "cursor_paging",
    "put_if_match",
    "json_patch",
    "merge_patch",
    "draft_stale_etag",
    "delete",
    "restore",
    "switch",
    "problems",
    "validation_every_error",
)


def main(base_url: str) -> int:
    scenario = Scenario(base_url)
    for name in STEPS:
        run: Callable[[], None] = getattr(scenario, name)
        try:
            run()
        except StepFailed as exc:
            report = {"step": name, "ok": False, "detail": str(exc)}
        except Exception as exc:  # a client error is a step failure too, reported with its trace
            trace = traceback.format_exc(limit=-3)
            report = {"step": name, "ok": False, "detail": f"{type(exc).__name__}: {exc}\n{trace}"}
        else:
            report = {"step": name, "ok": True, "detail": ""}
        print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
