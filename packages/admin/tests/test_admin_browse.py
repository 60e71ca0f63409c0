"""The dashboard, the lists (search, errors, filters, sorting, pages, deleted rows, batch
actions) and the reference picker's options."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient


def _author(admin: Any, handle: str, name: str, user: str = "ann") -> str:
    return str(admin.authors.create({"handle": handle, "name": name}, user=user).resource_id)


def _post(admin: Any, title: str, author: str, **extra: Any) -> str:
    data = {"title": title, "author_id": author, **extra}
    return str(admin.posts.create(data, user="ann").resource_id)


def _ids(html: str, model: str) -> list[str]:
    return re.findall(rf'<td><a href="/admin/{model}/([^"]+)">', html)


def test_dashboard_counts_every_model_and_shows_recent_changes(
    admin: Any, client: TestClient
) -> None:
    a = _author(admin, "ann", "Ann")
    _post(admin, "First", a)
    r = client.get("/admin/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    for name in ("author", "post", "attachment", "send-mail"):
        assert f'href="/admin/{name}"' in r.text
    rows = re.findall(r'<td><a href="/admin/([a-z-]+)">[a-z-]+</a></td>\s*<td>(\d+)</td>', r.text)
    assert dict(rows) == {"author": "1", "post": "1", "attachment": "0", "send-mail": "0"}
    assert "Recent changes" in r.text
    assert a.replace(":", "%3A") in r.text
    assert client.get("/admin").status_code == 200


def test_dashboard_shows_job_states(admin: Any, client: TestClient) -> None:
    admin.jobs.create({"payload": {"to": "a@example.com"}}, user="ann")
    admin.jobs.create({"payload": {"to": "b@example.com", "fail": True}}, user="ann")
    while admin.jobs.process_next():
        pass
    r = client.get("/admin/")
    assert "completed: 1" in r.text
    assert "failed: 1" in r.text


def test_list_shows_display_and_indexed_columns(admin: Any, client: TestClient) -> None:
    a = _author(admin, "ann", "Ann")
    _post(admin, "Hello", a, words=42, tags=["x", "y"])
    r = client.get("/admin/post")
    assert r.status_code == 200
    headers = re.findall(r'<th scope="col"[^>]*><a [^>]*>([^<▲▼]+)', r.text)
    assert headers[:5] == ["id", "title", "words", "tags", "author_id"]
    assert "<td>Hello</td>" in r.text
    assert "<td>42</td>" in r.text
    assert "<td>x, y</td>" in r.text
    # a reference is a link to the resource it names
    assert f'<a class="ref" href="/admin/author/{a.replace(":", "%3A")}">{a}</a>' in r.text


def test_qb_search_filters_and_a_bad_qb_shows_its_position(admin: Any, client: TestClient) -> None:
    a = _author(admin, "ann", "Ann")
    hello = _post(admin, "Hello", a, words=10)
    _post(admin, "World", a, words=20)
    r = client.get("/admin/post", params={"qb": "words >= 15"})
    assert r.status_code == 200
    assert len(_ids(r.text, "post")) == 1
    assert hello.replace(":", "%3A") not in r.text
    bad = client.get("/admin/post", params={"qb": "words >= "})
    assert bad.status_code == 400
    assert "Search error at position 9" in bad.text
    assert re.search(r'<pre class="caret">words &gt;= \n {9}\^</pre>', bad.text), bad.text
    assert 'aria-invalid="true"' in bad.text
    unindexed = client.get("/admin/post", params={"qb": 'bio == "x"'})
    assert unindexed.status_code == 400
    assert "Search error" in unindexed.text
    assert "bio" in unindexed.text


def test_filters_per_indexed_field(admin: Any, client: TestClient) -> None:
    a = _author(admin, "ann", "Ann")
    _post(admin, "Hello", a, words=10, tags=["x"])
    world = _post(admin, "World", a, words=20, tags=["x", "y"])
    r = client.get("/admin/post", params={"f.words": "20"})
    assert _ids(r.text, "post") == [world.replace(":", "%3A")]
    # a list field matches the rows whose list holds the value
    tagged = client.get("/admin/post", params={"f.tags": "y"})
    assert _ids(tagged.text, "post") == [world.replace(":", "%3A")]
    both = client.get("/admin/post", params={"f.tags": "x", "f.words": "10"})
    assert len(_ids(both.text, "post")) == 1
    assert client.get("/admin/post", params={"f.words": "many"}).status_code == 400
    unknown = client.get("/admin/post", params={"f.body": "x"})
    assert unknown.status_code == 400
    assert "no filter for &#39;body&#39;" in unknown.text


def test_sorting_by_a_column_and_a_bad_sort(admin: Any, client: TestClient) -> None:
    a = _author(admin, "ann", "Ann")
    b = _post(admin, "B", a)
    c = _post(admin, "C", a)
    first = _post(admin, "A", a)
    asc = client.get("/admin/post", params={"sort": "title"})
    assert _ids(asc.text, "post")[0] == first.replace(":", "%3A")
    assert 'aria-sort="ascending"' in asc.text
    # the header link now sorts the other way
    assert "sort=-title" in asc.text
    desc = client.get("/admin/post", params={"sort": "-title"})
    assert [i.replace("%3A", ":") for i in _ids(desc.text, "post")] == [c, b, first]
    assert client.get("/admin/post", params={"sort": "-"}).status_code == 400


def test_cursor_pages(make_admin: Any) -> None:
    small = make_admin(page_size=2)
    client = small.client()
    a = _author(small, "ann", "Ann")
    ids = [_post(small, f"T{i}", a) for i in range(5)]
    seen: list[str] = []
    url: str | None = "/admin/post"
    while url:
        r = client.get(url)
        assert r.status_code == 200
        seen += [i.replace("%3A", ":") for i in _ids(r.text, "post")]
        match = re.search(r'<a rel="next" href="([^"]+)"', r.text)
        url = match.group(1).replace("&amp;", "&") if match else None
    assert seen == ids


def test_show_deleted(admin: Any, client: TestClient) -> None:
    a = _author(admin, "ann", "Ann")
    p = _post(admin, "Gone", a)
    admin.posts.delete(p, user="ann")
    assert _ids(client.get("/admin/post").text, "post") == []
    r = client.get("/admin/post", params={"deleted": "1"})
    assert _ids(r.text, "post") == [p.replace(":", "%3A")]
    assert 'class="deleted"' in r.text
    assert client.get("/admin/post", params={"deleted": "yes"}).status_code == 400


def test_unknown_parameter_and_model(client: TestClient) -> None:
    r = client.get("/admin/post", params={"qbb": "x"})
    assert r.status_code == 400
    assert "unknown query parameter &#39;qbb&#39;" in r.text
    assert client.get("/admin/nothing").status_code == 404
    assert client.get("/admin/", params={"x": "1"}).status_code == 400
    cursor = client.get("/admin/post", params={"cursor": "garbage"})
    assert cursor.status_code == 400
    assert "Query error" in cursor.text


def test_batch_delete_asks_then_deletes_each(admin: Any, client: TestClient, post: Any) -> None:
    a = _author(admin, "ann", "Ann")
    p1, p2 = _post(admin, "One", a), _post(admin, "Two", a)
    ask = post(client, "/admin/post/_batch", {"action": "delete", "ids": [p1, p2]})
    assert ask.status_code == 200
    assert "Yes, delete" in ask.text
    assert admin.posts.count(user="ann") == 2  # nothing done before the confirmation
    done = post(
        client, "/admin/post/_batch", {"action": "delete", "ids": [p1, p2], "confirmed": "1"}
    )
    assert done.status_code == 200
    assert admin.posts.count(user="ann") == 0
    restored = post(
        client, "/admin/post/_batch", {"action": "restore", "ids": [p1], "confirmed": "1"}
    )
    assert restored.status_code == 200
    assert admin.posts.count(user="ann") == 1


def test_batch_reports_each_failure(admin: Any, client: TestClient, post: Any) -> None:
    a = _author(admin, "ann", "Ann")
    _post(admin, "Keeps its author", a)
    b = _author(admin, "bob", "Bob")
    r = post(client, "/admin/author/_batch", {"action": "delete", "ids": [a, b], "confirmed": "1"})
    assert r.status_code == 200
    assert 'class="error"' in r.text  # the author with a post is restricted
    assert admin.authors.exists(a, user="ann")
    assert not admin.authors.exists(b, user="ann")


def test_batch_refuses_bad_input(client: TestClient, post: Any) -> None:
    assert (
        post(client, "/admin/post/_batch", {"action": "explode", "ids": ["x"]}).status_code == 400
    )
    assert post(client, "/admin/post/_batch", {"action": "delete"}).status_code == 400
    r = post(client, "/admin/post/_batch", {"action": "delete", "ids": ["x"], "extra": "1"})
    assert r.status_code == 400
    assert "unknown form input &#39;extra&#39;" in r.text


def test_options_of_the_reference_picker(admin: Any, client: TestClient) -> None:
    a = _author(admin, "ann", "Annabel")
    _author(admin, "bob", "Bob")
    r = client.get("/admin/author/_options", params={"q": "ann"})
    assert r.status_code == 200
    assert r.json() == [{"id": a, "label": "Annabel"}]
    assert len(client.get("/admin/author/_options").json()) == 2
    assert client.get("/admin/author/_options", params={"z": "1"}).status_code == 400
