"""Every generated route, through the FastAPI test client (success paths)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"


def _etag(rev: str) -> str:
    return f'"{rev}"'


# -- create -------------------------------------------------------------------------------------


def test_create_returns_201_location_etag_and_revision_info(client: TestClient) -> None:
    r = client.post("/book", json={"title": "Dune", "isbn": "1", "year": 1965})
    assert r.status_code == 201
    info = r.json()
    assert info["resource_id"].startswith("book:")
    assert info["revision_id"] == info["resource_id"] + ":1"
    assert info["parent_revision_id"] is None
    assert info["status"] == "stable"
    assert r.headers["etag"] == _etag(info["revision_id"])
    assert r.headers["location"].endswith("/book/" + info["resource_id"])
    assert client.get(r.headers["location"]).status_code == 200


def test_create_with_chosen_id_and_draft_status(client: TestClient) -> None:
    r = client.post(
        "/book",
        params={"resource_id": "dune", "status": "draft"},
        json={"title": "Dune", "isbn": "1", "year": 1965},
    )
    assert r.status_code == 201
    assert r.json()["resource_id"] == "dune"
    assert r.json()["status"] == "draft"


def test_create_accepts_json_suffix_content_types(client: TestClient) -> None:
    body = json.dumps({"title": "Dune", "isbn": "1", "year": 1965})
    r = client.post("/book", content=body, headers={"Content-Type": "application/vnd.x+json"})
    assert r.status_code == 201
    r = client.post("/book", content=body.replace('"1"', '"2"'))  # no content type at all
    assert r.status_code == 201


def test_create_with_if_none_match_star_creates_once(client: TestClient) -> None:
    headers = {"If-None-Match": "*"}
    body = {"title": "Dune", "isbn": "1", "year": 1965}
    r = client.post("/book", params={"resource_id": "x1"}, json=body, headers=headers)
    assert r.status_code == 201


def test_created_by_is_the_default_user(client: TestClient) -> None:
    info = client.post("/book", json={"title": "D", "isbn": "1", "year": 1}).json()
    assert info["created_by"] == "anonymous"


# -- get ----------------------------------------------------------------------------------------


def test_get_returns_data_info_meta_and_etag(client: TestClient, make_book: Any) -> None:
    info = make_book(title="Dune", year=1965)
    r = client.get(f"/book/{info['resource_id']}")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"data", "info", "meta"}
    assert body["data"]["title"] == "Dune"
    assert body["info"] == info
    assert body["meta"]["current_revision_id"] == info["revision_id"]
    assert body["meta"]["indexed_data"]["year"] == 1965
    assert r.headers["etag"] == _etag(info["revision_id"])


def test_get_of_all_parts_answers_like_the_default(client: TestClient, make_book: Any) -> None:
    """The plain read (one combined fetch) and an explicit ``returns`` of every part (one
    fetch per part) give the same document, in the same key order, with the same ETag."""
    first = make_book(title="Dune", year=1965)
    rid = first["resource_id"]
    client.put(f"/book/{rid}", json={"title": "Dune II", "isbn": "x-2", "year": 1969})
    plain = client.get(f"/book/{rid}")
    explicit = client.get(f"/book/{rid}", params={"returns": "meta,info,data"})
    assert plain.status_code == explicit.status_code == 200
    assert plain.content == explicit.content
    assert list(plain.json()) == ["data", "info", "meta"]
    assert plain.json()["data"]["title"] == "Dune II"
    assert plain.headers["etag"] == explicit.headers["etag"] == _etag(rid + ":2")
    client.delete(f"/book/{rid}")
    assert client.get(f"/book/{rid}").status_code == 410
    gone = client.get(f"/book/{rid}", params={"include_deleted": "true"})
    assert gone.json()["meta"]["is_deleted"] is True


def test_get_returns_subsets_and_partial_data(client: TestClient, make_book: Any) -> None:
    rid = make_book(title="Dune", tags=["a", "b"])["resource_id"]
    assert set(client.get(f"/book/{rid}", params={"returns": "data"}).json()) == {"data"}
    both = client.get(f"/book/{rid}", params=[("returns", "info"), ("returns", "meta")]).json()
    assert set(both) == {"info", "meta"}
    r = client.get(f"/book/{rid}", params={"partial": "/title,/tags/1", "returns": "data"})
    assert r.json() == {"data": {"title": "Dune", "tags": ["b"]}}
    r = client.get(f"/book/{rid}", params=[("partial", "year"), ("partial", "/rating")])
    assert r.json()["data"] == {"year": 1965, "rating": None}
    r = client.get(f"/book/{rid}", params=[("partial", "year"), ("partial", "/nope")])
    assert r.status_code == 400  # a path naming nothing in the model is not ignored
    assert "/nope" in r.json()["detail"]


def test_get_an_older_revision(client: TestClient, make_book: Any) -> None:
    first = make_book(title="One")
    rid = first["resource_id"]
    client.patch(f"/book/{rid}", json={"title": "Two"})
    old = client.get(f"/book/{rid}", params={"revision_id": first["revision_id"]})
    assert old.json()["data"]["title"] == "One"
    assert old.headers["etag"] == _etag(first["revision_id"])
    assert old.json()["meta"]["current_revision_id"] == rid + ":2"
    meta_only = client.get(
        f"/book/{rid}", params={"revision_id": first["revision_id"], "returns": "meta"}
    )
    assert meta_only.status_code == 200


def test_get_if_none_match_gives_304(client: TestClient, make_book: Any) -> None:
    info = make_book()
    url = f"/book/{info['resource_id']}"
    r = client.get(url, headers={"If-None-Match": _etag(info["revision_id"])})
    assert r.status_code == 304
    assert r.headers["etag"] == _etag(info["revision_id"])
    assert r.content == b""
    weak = client.get(url, headers={"If-None-Match": f'W/"{info["revision_id"]}", "x"'})
    assert weak.status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200


def test_ids_with_colons_work_in_every_sub_route(client: TestClient) -> None:
    body = {"title": "T", "isbn": "i", "year": 1}
    rid = client.post("/book", params={"resource_id": "a:b:c"}, json=body).json()["resource_id"]
    assert rid == "a:b:c"
    assert client.get("/book/a:b:c").status_code == 200
    assert client.get("/book/a%3Ab%3Ac").status_code == 200
    assert client.get("/book/a:b:c/revisions").json()[0]["revision_id"] == "a:b:c:1"
    assert client.patch("/book/a:b:c", json={"year": 2}).status_code == 200
    assert client.post("/book/a:b:c/switch/a:b:c:1").status_code == 200
    assert client.delete("/book/a:b:c").status_code == 200
    assert client.post("/book/a:b:c/restore").status_code == 200
    assert client.delete("/book/a:b:c/permanently").status_code == 200


# -- list and count -----------------------------------------------------------------------------


def _titles(r: Any) -> list[str]:
    return [item["data"]["title"] for item in r.json()]


def test_list_filters_with_qb_and_sorts(client: TestClient, make_book: Any) -> None:
    for title, year in [("A", 1950), ("B", 1960), ("C", 1970)]:
        make_book(title=title, year=year)
    r = client.get("/book", params={"qb": "year >= 1960", "sorts": "-year"})
    assert r.status_code == 200
    assert _titles(r) == ["C", "B"]
    assert r.headers["x-has-more"] == "false"
    assert "x-total-count" not in r.headers
    r = client.get("/book", params={"qb": 'title.starts_with("A") | year == 1970'})
    assert sorted(_titles(r)) == ["A", "C"]


def test_list_filters_with_json_conditions_and_sorts(client: TestClient, make_book: Any) -> None:
    for title, year in [("A", 1950), ("B", 1960), ("C", 1970)]:
        make_book(title=title, year=year)
    cond = {"type": "cmp", "field": {"path": "year"}, "op": "lt", "value": 1970}
    sorts = [{"field": {"path": "title"}, "descending": True}]
    r = client.get("/book", params={"conditions": json.dumps(cond), "sorts": json.dumps(sorts)})
    assert _titles(r) == ["B", "A"]
    both = [cond, {"type": "cmp", "field": {"path": "title"}, "op": "ne", "value": "A"}]
    r = client.get("/book", params={"conditions": json.dumps(both), "qb": "year > 1900"})
    assert _titles(r) == ["B"]


def test_list_returns_and_partial(client: TestClient, make_book: Any) -> None:
    make_book(title="A")
    r = client.get("/book", params={"returns": "data", "partial": "title"})
    assert r.json() == [{"data": {"title": "A"}}]
    r = client.get("/book", params={"returns": "meta"})
    assert set(r.json()[0]) == {"meta"}


def test_list_pages_with_cursor_and_link(client: TestClient, make_book: Any) -> None:
    for i in range(5):
        make_book(title=f"T{i}", year=2000 + i)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "sorts": "year", "include_total": "true"}
    r = client.get("/book", params=params)
    while True:
        assert r.headers["x-total-count"] == "5"
        seen += _titles(r)
        if r.headers["x-has-more"] == "false":
            assert "x-next-cursor" not in r.headers
            assert "link" not in r.headers
            break
        link = r.headers["link"]
        assert link.endswith('>; rel="next"')
        url = link[1 : link.index(">")]
        query = parse_qs(urlsplit(url).query)
        assert query["cursor"] == [r.headers["x-next-cursor"]]
        assert query["limit"] == ["2"]
        r = client.get(url)
    assert seen == [f"T{i}" for i in range(5)]


def test_list_offset_paging(client: TestClient, make_book: Any) -> None:
    for i in range(3):
        make_book(title=f"T{i}", year=i)
    r = client.get("/book", params={"offset": 1, "limit": 1, "sorts": "year"})
    assert _titles(r) == ["T1"]
    assert r.headers["x-has-more"] == "true"
    nxt = r.headers["link"][1 : r.headers["link"].index(">")]
    assert "offset" not in parse_qs(urlsplit(nxt).query)
    assert _titles(client.get(nxt)) == ["T2"]


def test_list_time_user_and_deleted_filters(client: TestClient, make_book: Any) -> None:
    a = make_book(title="A")
    b = make_book(title="B")
    client.delete(f"/book/{b['resource_id']}")
    assert _titles(client.get("/book")) == ["A"]
    assert _titles(client.get("/book", params={"is_deleted": "true"})) == ["B"]
    assert sorted(_titles(client.get("/book", params={"is_deleted": "any"}))) == ["A", "B"]
    t = a["created_time"]
    assert _titles(client.get("/book", params={"created_time_start": t})) == ["A"]
    assert _titles(client.get("/book", params={"created_time_end": t})) == []
    assert _titles(client.get("/book", params={"updated_time_start": t})) == ["A"]
    assert _titles(client.get("/book", params={"updated_time_end": "2000-01-01T00:00:00Z"})) == []
    assert _titles(client.get("/book", params={"created_by": "anonymous"})) == ["A"]
    assert _titles(client.get("/book", params={"created_by": ["x", "y"]})) == []
    assert _titles(client.get("/book", params={"updated_by": "anonymous"})) == ["A"]


def test_count(client: TestClient, make_book: Any) -> None:
    for year in (1950, 1960, 1970):
        make_book(year=year)
    assert client.get("/book/count").json() == {"count": 3}
    assert client.get("/book/count", params={"qb": "year > 1955"}).json() == {"count": 2}
    assert client.get("/book/count", params={"is_deleted": "true"}).json() == {"count": 0}


def test_nested_indexed_fields_and_kebab_names(client: TestClient) -> None:
    body = {"name": "Ann", "address": {"city": "Oslo"}, "joined": "2024-01-02T03:04:05Z"}
    assert client.post("/user-profile", json=body).status_code == 201
    r = client.get("/user-profile", params={"qb": 'address.city == "Oslo"'})
    assert [i["data"]["name"] for i in r.json()] == ["Ann"]
    r = client.get("/user-profile", params={"qb": 'joined < dt"2025-01-01T00:00:00Z"'})
    assert len(r.json()) == 1


# -- revisions ----------------------------------------------------------------------------------


def test_revisions_are_listed_oldest_first_with_paging(client: TestClient, make_book: Any) -> None:
    rid = make_book(year=1)["resource_id"]
    for year in (2, 3, 4):
        client.patch(f"/book/{rid}", json={"year": year})
    r = client.get(f"/book/{rid}/revisions", params={"limit": 3})
    assert [i["revision_id"] for i in r.json()] == [f"{rid}:1", f"{rid}:2", f"{rid}:3"]
    assert r.headers["x-has-more"] == "true"
    assert r.headers["x-total-count"] == "4"
    nxt = r.headers["link"][1 : r.headers["link"].index(">")]
    r = client.get(nxt)
    assert [i["revision_id"] for i in r.json()] == [f"{rid}:4"]
    assert r.headers["x-has-more"] == "false"


# -- put ----------------------------------------------------------------------------------------


def test_put_replaces_with_a_new_revision(client: TestClient, make_book: Any) -> None:
    info = make_book(title="Old", isbn="i1")
    rid = info["resource_id"]
    r = client.put(f"/book/{rid}", json={"title": "New", "isbn": "i1", "year": 2000})
    assert r.status_code == 200
    assert r.json()["revision_id"] == f"{rid}:2"
    assert r.json()["parent_revision_id"] == info["revision_id"]
    assert r.headers["etag"] == _etag(f"{rid}:2")
    assert client.get(f"/book/{rid}").json()["data"] == {
        "title": "New",
        "isbn": "i1",
        "year": 2000,
        "tags": [],
        "rating": None,
    }


def test_put_with_if_match(client: TestClient, make_book: Any) -> None:
    info = make_book(isbn="i1")
    rid = info["resource_id"]
    body = {"title": "New", "isbn": "i1", "year": 2000}
    r = client.put(f"/book/{rid}", json=body, headers={"If-Match": _etag(info["revision_id"])})
    assert r.status_code == 200
    body["year"] = 2001
    r = client.put(f"/book/{rid}", json=body, headers={"If-Match": "*"})
    assert r.status_code == 200
    several = f'"nope", {r.headers["etag"]}'
    body["year"] = 2002
    assert client.put(f"/book/{rid}", json=body, headers={"If-Match": several}).status_code == 200


def test_put_identical_data_writes_no_revision(client: TestClient, make_book: Any) -> None:
    info = make_book(title="Same", isbn="s", year=1)
    rid = info["resource_id"]
    body = {"title": "Same", "isbn": "s", "year": 1}
    r = client.put(f"/book/{rid}", json=body)
    assert r.status_code == 200
    assert r.json()["revision_id"] == info["revision_id"]


def test_put_creates_a_missing_resource(client: TestClient) -> None:
    body = {"title": "T", "isbn": "i", "year": 1}
    r = client.put("/book/my-book", json=body)
    assert r.status_code == 201
    assert r.json()["revision_id"] == "my-book:1"
    assert r.headers["location"].endswith("/book/my-book")
    r = client.put("/book/other", json=body | {"isbn": "j"}, headers={"If-None-Match": "*"})
    assert r.status_code == 201
    r = client.put("/book/draft1", params={"status": "draft"}, json=body | {"isbn": "k"})
    assert r.json()["status"] == "draft"


# -- patch --------------------------------------------------------------------------------------


def test_patch_json_patch(client: TestClient, make_book: Any) -> None:
    rid = make_book(tags=["a"])["resource_id"]
    ops = [
        {"op": "add", "path": "/tags/-", "value": "b"},
        {"op": "replace", "path": "/year", "value": 7},
    ]
    r = client.patch(f"/book/{rid}", content=json.dumps(ops), headers={"Content-Type": JSON_PATCH})
    assert r.status_code == 200
    assert r.headers["etag"] == _etag(f"{rid}:2")
    data = client.get(f"/book/{rid}").json()["data"]
    assert data["tags"] == ["a", "b"]
    assert data["year"] == 7


def test_patch_merge_patch(client: TestClient, make_book: Any) -> None:
    rid = make_book(rating=4.5)["resource_id"]
    doc = {"title": "Merged", "rating": None}
    r = client.patch(f"/book/{rid}", content=json.dumps(doc), headers={"Content-Type": MERGE_PATCH})
    assert r.status_code == 200
    data = client.get(f"/book/{rid}").json()["data"]
    assert data["title"] == "Merged"
    assert data["rating"] is None


def test_patch_plain_json_list_is_json_patch_object_is_merge(
    client: TestClient, make_book: Any
) -> None:
    rid = make_book()["resource_id"]
    assert (
        client.patch(
            f"/book/{rid}", json=[{"op": "replace", "path": "/year", "value": 1}]
        ).status_code
        == 200
    )
    assert client.patch(f"/book/{rid}", json={"year": 2}).status_code == 200
    assert client.get(f"/book/{rid}").json()["data"]["year"] == 2


def test_patch_with_if_match(client: TestClient, make_book: Any) -> None:
    info = make_book()
    r = client.patch(
        f"/book/{info['resource_id']}",
        json={"year": 5},
        headers={"If-Match": _etag(info["revision_id"])},
    )
    assert r.status_code == 200


# -- modify -------------------------------------------------------------------------------------


def test_modify_a_draft_in_place_then_freeze_it(client: TestClient) -> None:
    info = client.post("/note", json={"text": "draft"}).json()
    rid = info["resource_id"]
    assert info["status"] == "draft"
    r = client.post(f"/note/{rid}/modify", json={"data": {"text": "edited"}})
    assert r.status_code == 200
    assert r.json()["revision_id"] == info["revision_id"]
    assert r.headers["etag"].startswith(f'"{info["revision_id"]}~')  # a draft's content
    ops = [{"op": "replace", "path": "/text", "value": "patched"}]
    patched = client.post(f"/note/{rid}/modify", json={"patch": ops})
    assert patched.status_code == 200
    assert patched.headers["etag"] != r.headers["etag"]
    r = client.post(
        f"/note/{rid}/modify",
        json={"status": "stable"},
        headers={"If-Match": patched.headers["etag"]},
    )
    assert r.json()["status"] == "stable"
    assert r.headers["etag"] == _etag(info["revision_id"])  # stable: the revision id
    assert client.get(f"/note/{rid}").json()["data"] == {"text": "patched"}
    assert client.get(f"/note/{rid}/revisions").json()[0]["revision_id"] == info["revision_id"]


# -- switch, delete, restore, permanently ---------------------------------------------------------


def test_switch_back_to_an_older_revision(client: TestClient, make_book: Any) -> None:
    first = make_book(year=1)
    rid = first["resource_id"]
    second = client.patch(f"/book/{rid}", json={"year": 2}).json()
    r = client.post(
        f"/book/{rid}/switch/{first['revision_id']}",
        headers={"If-Match": _etag(second["revision_id"])},
    )
    assert r.status_code == 200
    assert r.json()["current_revision_id"] == first["revision_id"]
    assert r.headers["etag"] == _etag(first["revision_id"])
    assert client.get(f"/book/{rid}").json()["data"]["year"] == 1


def test_soft_delete_and_restore(client: TestClient, make_book: Any) -> None:
    info = make_book()
    rid = info["resource_id"]
    r = client.delete(f"/book/{rid}", headers={"If-Match": _etag(info["revision_id"])})
    assert r.status_code == 200
    assert r.json()["is_deleted"] is True
    assert r.headers["etag"] == _etag(info["revision_id"])
    assert client.get(f"/book/{rid}").status_code == 410
    r = client.get(f"/book/{rid}", params={"include_deleted": "true"})
    assert r.status_code == 200
    assert r.json()["meta"]["is_deleted"] is True
    assert client.get(f"/book/{rid}/revisions").status_code == 200
    r = client.post(f"/book/{rid}/restore")
    assert r.status_code == 200
    assert r.json()["is_deleted"] is False
    assert client.post(f"/book/{rid}/restore").status_code == 200  # live: unchanged
    assert client.get(f"/book/{rid}").status_code == 200


def test_permanent_delete(client: TestClient, make_book: Any) -> None:
    rid = make_book()["resource_id"]
    client.delete(f"/book/{rid}")
    r = client.delete(f"/book/{rid}/permanently")
    assert r.status_code == 200
    assert r.json()["resource_id"] == rid
    assert "etag" not in r.headers
    assert client.get(f"/book/{rid}", params={"include_deleted": "true"}).status_code == 404


# -- batch --------------------------------------------------------------------------------------


def test_batch_delete_and_restore_by_query(client: TestClient, make_book: Any) -> None:
    ids = [make_book(year=year)["resource_id"] for year in (1950, 1960, 1970)]
    r = client.post("/book/batch/delete", json={"qb": "year < 1965"})
    assert r.status_code == 200
    body = r.json()
    assert body["matched"] == 2
    assert sorted(body["succeeded"]) == sorted(ids[:2])
    assert body["failed"] == []
    assert client.get("/book/count").json() == {"count": 1}
    cond = {"type": "cmp", "field": {"path": "year"}, "op": "eq", "value": 1950}
    r = client.post("/book/batch/restore", json={"conditions": cond})
    assert r.json()["succeeded"] == [ids[0]]
    assert client.get("/book/count").json() == {"count": 2}


def test_batch_without_filter_needs_confirmation(client: TestClient, make_book: Any) -> None:
    for year in (1, 2):
        make_book(year=year)
    assert client.post("/book/batch/delete", json={}).status_code == 422
    assert client.post("/book/batch/delete", json={"qb": "  "}).status_code == 422
    assert client.post("/book/batch/delete", json={"conditions": []}).status_code == 422
    r = client.post("/book/batch/delete", json={"confirm_all": True})
    assert r.json()["matched"] == 2
    r = client.post("/book/batch/restore", json={"confirm_all": True, "conditions": []})
    assert r.json()["matched"] == 2


def test_batch_reports_per_resource_failures(client: TestClient, make_book: Any) -> None:
    a = make_book(isbn="same", year=1)["resource_id"]
    client.delete(f"/book/{a}")
    make_book(isbn="same", year=2)  # takes the unique value meanwhile
    r = client.post("/book/batch/restore", json={"qb": "year == 1"})
    body = r.json()
    assert body["matched"] == 1
    assert body["succeeded"] == []
    assert body["failed"][0]["resource_id"] == a
    assert body["failed"][0]["status"] == 409
    assert body["failed"][0]["code"] == "unique_violation"


def test_partial_reads_have_their_own_routes(client: TestClient, make_book: Any) -> None:
    rid = make_book(title="Emma", tags=["a"])["resource_id"]
    r = client.get(f"/book/{rid}/partial", params={"partial": "title,tags"})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"title": "Emma", "tags": ["a"]}
    assert r.headers["etag"] == client.get(f"/book/{rid}").headers["etag"]
    items = client.get("/book/_partial", params={"partial": "/title", "qb": 'title == "Emma"'})
    assert [i["data"] for i in items.json()] == [{"title": "Emma"}]
    assert client.get(f"/book/{rid}/partial").status_code == 422  # partial is required
    assert client.get("/book/_partial").status_code == 422
    # the partial parameter of the full reads still works (it is no longer documented there)
    old = client.get(f"/book/{rid}", params={"partial": "title", "returns": "data"})
    assert old.json() == {"data": {"title": "Emma"}}
