"""Create and edit forms: generated inputs, server-side validation next to the fields, the
conflict page of a stale edit, drafts; and the form helpers on their own."""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
import pytest
from fastapi.testclient import TestClient

from specstar.admin.forms import error_name, form_fields, initial_values, parse_form
from specstar.core import DisplayName, Unique

_POST_FIELDS = {
    "title": "A title",
    "kind": "news",
    "words": "0",
    "tags": "",
    "published_at": "",
    "place.city": "Paris",
    "place.zip_code": "",
    "extra": "{}",
}


def _author(admin: Any) -> str:
    return str(admin.authors.create({"handle": "ann", "name": "Ann"}, user="ann").resource_id)


def _error_of(html: str, name: str) -> str | None:
    ident = "field-" + name.replace(".", "-")
    match = re.search(
        rf'<p class="error" id="{re.escape(ident)}-error" role="alert">([^<]*)</p>', html
    )
    return match.group(1) if match else None


def test_the_create_form_has_an_input_per_field(client: TestClient) -> None:
    r = client.get("/admin/post/_new")
    assert r.status_code == 200
    names = re.findall(r'name="([a-z_.]+)"', r.text)
    for name in (
        "title",
        "author_id",
        "kind",
        "words",
        "tags",
        "published_at",
        "place.city",
        "extra",
    ):
        assert name in names, name
    assert '<input id="field-published_at" name="published_at" type="datetime-local"' in r.text
    assert '<option value="essay">essay</option>' in r.text  # enum choices
    assert 'data-ref="author" list="field-author_id-options"' in r.text  # reference picker
    assert "<legend>place</legend>" in r.text  # nested struct
    assert 'name="place.city" rows="2">Paris</textarea>' in r.text  # the model's default
    assert "(one per line)" in r.text
    assert "(JSON)" in r.text


def test_create_then_redirect_to_the_new_resource(
    admin: Any, client: TestClient, post: Any
) -> None:
    a = _author(admin)
    form = {
        **_POST_FIELDS,
        "author_id": a,
        "kind": "essay",
        "words": "12",
        "tags": "one\ntwo\n",
        "published_at": "2024-05-01T10:30:00",
        "place.zip_code": "75001",
        "extra": '{"k": [1, 2]}',
        "submit": "save",
    }
    r = post(client, "/admin/post/_new", form)
    assert r.status_code == 303, r.text
    rid = r.headers["location"].rsplit("/", 1)[1].replace("%3A", ":")
    data = admin.posts.get(rid, user="ann").data
    assert data.kind.value == "essay"
    assert data.words == 12
    assert data.tags == ["one", "two"]
    assert data.published_at.isoformat() == "2024-05-01T10:30:00+00:00"
    assert data.place.zip_code == "75001"
    assert data.extra == {"k": [1, 2]}
    assert admin.posts.get_meta(rid, user="ann").created_by == "ann"


def test_errors_are_shown_next_to_their_fields(admin: Any, client: TestClient, post: Any) -> None:
    a = _author(admin)
    form = {**_POST_FIELDS, "author_id": a, "words": "many", "extra": "{", "submit": "save"}
    r = post(client, "/admin/post/_new", form)
    assert r.status_code == 422
    assert _error_of(r.text, "words") == "&#39;many&#39; is not a whole number"
    assert (_error_of(r.text, "extra") or "").startswith("not valid JSON")
    assert 'value="many"' in r.text  # what was typed is kept
    # the model's own constraints, checked by the manager
    r = post(
        client, "/admin/post/_new", {**_POST_FIELDS, "author_id": a, "title": "", "submit": "save"}
    )
    assert r.status_code == 422
    assert _error_of(r.text, "title"), r.text
    assert admin.posts.count(user="ann") == 0


def test_unknown_and_missing_inputs(admin: Any, client: TestClient, post: Any) -> None:
    a = _author(admin)
    r = post(client, "/admin/post/_new", {**_POST_FIELDS, "author_id": a, "colour": "red"})
    assert r.status_code == 400
    assert "colour" in r.text
    missing = dict(_POST_FIELDS)
    del missing["words"]
    r = post(client, "/admin/post/_new", {**missing, "author_id": a})
    assert r.status_code == 422
    assert _error_of(r.text, "words") == "missing from the submitted form"
    r = post(client, "/admin/post/_new", {**_POST_FIELDS, "author_id": a, "submit": "publish!"})
    assert r.status_code == 400
    assert admin.posts.count(user="ann") == 0


def test_a_unique_clash_is_shown_on_the_form(admin: Any, client: TestClient, post: Any) -> None:
    _author(admin)
    r = post(
        client,
        "/admin/author/_new",
        {"handle": "ann", "name": "Other", "bio": "", "submit": "save"},
    )
    assert r.status_code == 409
    assert "was not saved" in r.text
    assert "handle=&#39;ann&#39; is already used" in r.text
    assert 'name="name" type="text" value="Other"' in r.text  # what was typed is kept
    assert admin.authors.count(user="ann") == 1


def test_edit_saves_a_new_revision(admin: Any, client: TestClient, post: Any) -> None:
    a = _author(admin)
    page = client.get(f"/admin/author/{a}/edit")
    assert page.status_code == 200
    assert 'value="Ann"' in page.text
    assert f'name="etag" value="{a}:1"' in page.text
    r = post(
        client,
        f"/admin/author/{a}/edit",
        {"etag": f"{a}:1", "handle": "ann", "name": "Ann B.", "bio": "hi", "submit": "save"},
    )
    assert r.status_code == 303
    res = admin.authors.get(a, user="ann")
    assert res.data.name == "Ann B."
    assert res.info.revision_id == f"{a}:2"
    missing = post(
        client,
        f"/admin/author/{a}/edit",
        {"handle": "ann", "name": "X", "bio": "", "submit": "save"},
    )
    assert missing.status_code == 400  # no etag: never a blind overwrite


def test_a_stale_edit_gets_the_conflict_page(admin: Any, post: Any) -> None:
    a = _author(admin)
    first, second = admin.client("ann"), admin.client("bob")
    assert f'value="{a}:1"' in first.get(f"/admin/author/{a}/edit").text
    assert f'value="{a}:1"' in second.get(f"/admin/author/{a}/edit").text
    ok = post(
        second,
        f"/admin/author/{a}/edit",
        {"etag": f"{a}:1", "handle": "ann", "name": "Bob's name", "bio": "", "submit": "save"},
    )
    assert ok.status_code == 303
    lost = post(
        first,
        f"/admin/author/{a}/edit",
        {"etag": f"{a}:1", "handle": "ann", "name": "Ann's name", "bio": "b", "submit": "save"},
    )
    assert lost.status_code == 412
    assert "Changed since you opened it" in lost.text
    assert "bob" in lost.text
    assert "Bob&#39;s name" in lost.text
    assert "Ann&#39;s name" in lost.text
    assert re.search(r'<tr class="changed"><td><code>/name</code>', lost.text)
    assert admin.authors.get(a, user="ann").data.name == "Bob's name"  # not overwritten
    # the form on the page now carries the current revision: saving it is a deliberate choice
    assert f'name="etag" value="{a}:2"' in lost.text
    again = post(
        first,
        f"/admin/author/{a}/edit",
        {"etag": f"{a}:2", "handle": "ann", "name": "Ann's name", "bio": "b", "submit": "save"},
    )
    assert again.status_code == 303
    assert admin.authors.get(a, user="ann").data.name == "Ann's name"


def test_drafts_save_edit_in_place_and_publish(admin: Any, client: TestClient, post: Any) -> None:
    r = post(
        client, "/admin/author/_new", {"handle": "d", "name": "Draft", "bio": "", "submit": "draft"}
    )
    assert r.status_code == 303
    rid = r.headers["location"].rsplit("/", 1)[1].replace("%3A", ":")
    info = admin.authors.get_revision_info(rid, user="ann")
    assert info.status == "draft"
    page = client.get(f"/admin/author/{quote(rid)}")
    assert 'class="badge draft"' in page.text
    assert "Publish draft" in page.text
    edit = client.get(f"/admin/author/{rid}/edit")
    etag = re.search(r'name="etag" value="([^"]+)"', edit.text)
    assert etag is not None
    assert "~" in etag.group(1)
    r = post(
        client,
        f"/admin/author/{rid}/edit",
        {"etag": etag.group(1), "handle": "d", "name": "Draft 2", "bio": "", "submit": "draft"},
    )
    assert r.status_code == 303
    after = admin.authors.get(rid, user="ann")
    assert after.data.name == "Draft 2"
    assert after.info.revision_id == info.revision_id
    page = client.get(f"/admin/author/{rid}")
    tag = re.search(r'action="[^"]+/publish">.*?name="etag" value="([^"]+)"', page.text)
    assert tag is not None
    assert post(client, f"/admin/author/{rid}/publish", {"etag": tag.group(1)}).status_code == 303
    assert admin.authors.get_revision_info(rid, user="ann").status == "stable"
    # a stable resource saved "as draft" gets a new draft revision
    r = post(
        client,
        f"/admin/author/{rid}/edit",
        {"etag": f"{rid}:1", "handle": "d", "name": "Next", "bio": "", "submit": "draft"},
    )
    assert r.status_code == 303
    latest = admin.authors.get_revision_info(rid, user="ann")
    assert latest.status == "draft"
    assert latest.revision_id == f"{rid}:2"


class Inner(msgspec.Struct, kw_only=True):
    city: str


class Outer(msgspec.Struct, kw_only=True):
    words: int
    tags: list[str] = []
    place: Inner


class Colour(enum.IntEnum):
    red = 1
    blue = 2


class Thing(msgspec.Struct, kw_only=True):
    n: int
    x: float | None = None
    ok: bool = False
    c: Colour = Colour.red
    note: str | None = None


def test_form_helpers_round_trip() -> None:
    fields = form_fields(Outer)
    values = initial_values(fields, {"words": 3, "tags": ["a", "b"], "place": {"city": "X"}})
    assert values == {"words": "3", "tags": "a\nb", "place.city": "X"}
    data, errors = parse_form(fields, values)
    assert errors == {}
    assert data == {"words": 3, "tags": ["a", "b"], "place": {"city": "X"}}


@pytest.mark.parametrize(
    ("loc", "name"),
    [
        ("$.title", "title"),
        ("title", "title"),
        ("/place/city", "place.city"),
        ("$.tags[1]", "tags"),
        ("$", ""),
    ],
)
def test_error_name(loc: str, name: str) -> None:
    assert error_name(loc) == name


def test_parse_form_types_and_errors() -> None:
    fields = form_fields(Thing)
    data, errors = parse_form(fields, {"n": "3", "x": "", "ok": "true", "c": "2", "note": ""})
    assert errors == {}
    assert data == {"n": 3, "x": None, "ok": True, "c": 2, "note": None}
    assert msgspec.convert(data, Thing).c is Colour.blue
    _, errors = parse_form(fields, {"n": "", "x": "y", "ok": "maybe", "c": "7", "note": "z"})
    assert set(errors) == {"n", "x", "ok", "c"}


def test_files_are_uploaded_kept_replaced_and_removed(admin: Any, client: TestClient) -> None:
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get("/admin/attachment/_new").text
    )
    assert token is not None
    form = {"csrf_token": token.group(1), "label": "pic", "file": "", "submit": "save"}
    r = client.post(
        "/admin/attachment/_new",
        data=form,
        files={"file.upload": ("a.png", b"\x89PNG first", "image/png")},
    )
    assert r.status_code == 303, r.text
    rid = r.headers["location"].rsplit("/", 1)[1].replace("%3A", ":")
    stored = admin.attachments.get(rid, user="ann").data.file
    assert stored.content_type == "image/png"
    assert stored.size == len(b"\x89PNG first")
    edit = client.get(f"/admin/attachment/{rid}/edit")
    assert 'enctype="multipart/form-data"' in edit.text
    assert "remove the file" in edit.text
    kept = re.search(r'<input type="hidden" name="file" value="([^"]+)">', edit.text)
    assert kept is not None
    import html

    base = {"csrf_token": token.group(1), "etag": f"{rid}:1", "file": html.unescape(kept.group(1))}
    # saved without a new file: the file stays
    r = client.post(
        f"/admin/attachment/{rid}/edit", data={**base, "label": "renamed", "submit": "save"}
    )
    assert r.status_code == 303
    after = admin.attachments.get(rid, user="ann").data
    assert after.label == "renamed"
    assert after.file.file_id == stored.file_id
    # a new file replaces it
    r = client.post(
        f"/admin/attachment/{rid}/edit",
        data={**base, "etag": f"{rid}:2", "label": "renamed", "submit": "save"},
        files={"file.upload": ("b.txt", b"second", "text/plain")},
    )
    assert r.status_code == 303
    replaced = admin.attachments.get(rid, user="ann").data.file
    assert replaced.size == 6
    assert replaced.file_id != stored.file_id
    # and the box removes it
    r = client.post(
        f"/admin/attachment/{rid}/edit",
        data={**base, "etag": f"{rid}:3", "label": "renamed", "file.remove": "1", "submit": "save"},
    )
    assert r.status_code == 303
    assert admin.attachments.get(rid, user="ann").data.file is None
    # text where a file belongs is refused
    bad = client.post(
        f"/admin/attachment/{rid}/edit",
        data={
            **base,
            "etag": f"{rid}:4",
            "label": "x",
            "file.upload": "not a file",
            "submit": "save",
        },
    )
    assert bad.status_code == 400


def test_owners_see_their_rows_and_a_hidden_holder_is_not_named() -> None:
    from fastapi import FastAPI, Header

    from specstar.admin import mount
    from specstar.core import OwnershipChecker
    from specstar.fastapi import DependencyProvider, SpecStar

    def user(x_user: str | None = Header(None)) -> str | None:
        return x_user

    crud = SpecStar(
        permission_checker=OwnershipChecker(),
        dependency_provider=DependencyProvider(get_user=user),
    )
    tags = crud.add_model(Label, indexed_fields=["name"])
    app = FastAPI()
    crud.apply(app)
    mount(app, crud)
    secret = tags.create({"code": "k1", "name": "Ann's"}, user="ann").resource_id
    carol = TestClient(app, headers={"X-User": "carol"}, follow_redirects=False)
    listed = carol.get("/admin/label")
    assert listed.status_code == 200
    assert secret not in listed.text
    assert "Ann" not in listed.text
    assert carol.get(f"/admin/label/{secret}").status_code == 404  # outside her scope
    token = re.search(r'name="csrf_token" value="([^"]+)"', carol.get("/admin/label/_new").text)
    assert token is not None
    clash = carol.post(
        "/admin/label/_new",
        data={"csrf_token": token.group(1), "code": "k1", "name": "Mine", "submit": "save"},
    )
    assert clash.status_code == 409
    assert secret not in clash.text  # the holder she may not see is not named


class Label(msgspec.Struct, kw_only=True):
    code: Annotated[str, Unique()]
    name: Annotated[str, DisplayName()]
