"""Entity tags of drafts, and conditional requests as RFC 9110 evaluates them."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def _draft(client: TestClient) -> tuple[str, str]:
    r = client.post("/note", json={"text": "draft"})
    assert r.status_code == 201
    return r.json()["resource_id"], r.headers["etag"]


def test_two_modifies_with_the_same_if_match_one_wins(client: TestClient) -> None:
    rid, tag = _draft(client)
    first = client.post(
        f"/note/{rid}/modify", json={"data": {"text": "one"}}, headers={"If-Match": tag}
    )
    assert first.status_code == 200
    assert first.headers["etag"] != tag
    second = client.post(
        f"/note/{rid}/modify", json={"data": {"text": "two"}}, headers={"If-Match": tag}
    )
    assert second.status_code == 412
    assert second.json()["code"] == "precondition_failed"
    assert client.get(f"/note/{rid}").json()["data"] == {"text": "one"}  # nothing lost


def test_if_none_match_sees_every_edit_of_a_draft(client: TestClient) -> None:
    rid, tag = _draft(client)
    assert client.get(f"/note/{rid}", headers={"If-None-Match": tag}).status_code == 304
    client.post(f"/note/{rid}/modify", json={"data": {"text": "changed"}})
    r = client.get(f"/note/{rid}", headers={"If-None-Match": tag})
    assert r.status_code == 200
    assert r.json()["data"] == {"text": "changed"}
    assert r.headers["etag"] != tag
    for path in ("", "?returns=meta", "?returns=info"):  # every read of it has the same tag
        assert client.get(f"/note/{rid}{path}").headers["etag"] == r.headers["etag"]


def test_every_write_compares_a_drafts_content(client: TestClient) -> None:
    rid, tag = _draft(client)
    client.post(f"/note/{rid}/modify", json={"data": {"text": "changed"}})
    stale = {"If-Match": tag}
    assert client.put(f"/note/{rid}", json={"text": "x"}, headers=stale).status_code == 412
    assert client.patch(f"/note/{rid}", json={"text": "x"}, headers=stale).status_code == 412
    assert client.delete(f"/note/{rid}", headers=stale).status_code == 412
    bare = {"If-Match": f'"{rid}:1"'}  # the bare revision id is not a draft's tag
    assert client.patch(f"/note/{rid}", json={"text": "x"}, headers=bare).status_code == 412
    current = client.get(f"/note/{rid}").headers["etag"]
    several = {"If-Match": f"{tag}, {current}"}
    r = client.delete(f"/note/{rid}", headers=several)
    assert r.status_code == 200
    assert r.headers["etag"] == current
    r = client.post(f"/note/{rid}/restore", headers={"If-Match": current})
    assert r.status_code == 200


def _book(client: TestClient) -> tuple[str, str]:
    r = client.post("/book", json={"title": "Dune", "isbn": "e1", "year": 1965})
    assert r.status_code == 201
    return r.json()["resource_id"], r.headers["etag"]


def test_if_match_on_get(client: TestClient) -> None:
    rid, tag = _book(client)
    url = f"/book/{rid}"
    assert client.get(url, headers={"If-Match": tag}).status_code == 200
    assert client.get(url, headers={"If-Match": "*"}).status_code == 200
    assert client.get(url, headers={"If-Match": f'"other", {tag}'}).status_code == 200
    r = client.get(url, headers={"If-Match": '"other"'})
    assert r.status_code == 412
    assert r.json()["code"] == "precondition_failed"
    assert client.get(url, headers={"If-Match": f"W/{tag}"}).status_code == 412  # weak: never
    old = client.patch(url, json={"year": 1966}).json()
    assert old["revision_id"] != rid + ":1"
    assert client.get(url, headers={"If-Match": tag}).status_code == 412
    # the representation of ?revision_id=… is that revision
    older = client.get(url, params={"revision_id": f"{rid}:1"}, headers={"If-Match": tag})
    assert older.status_code == 200
    assert client.get(url, headers={"If-Match": "bad tag"}).status_code == 400


def test_if_match_before_if_none_match(client: TestClient) -> None:
    rid, tag = _book(client)
    url = f"/book/{rid}"

    def get(**headers: Any) -> int:
        return client.get(
            url, headers={k.replace("_", "-"): v for k, v in headers.items()}
        ).status_code

    assert get(If_Match=tag, If_None_Match=tag) == 304  # If-Match holds, then If-None-Match
    assert get(If_Match='"other"', If_None_Match=tag) == 412  # If-Match first
    assert get(If_Match=tag, If_None_Match='"other"') == 200
    assert get(If_Match="*", If_None_Match="*") == 304
    assert get(If_None_Match=f"W/{tag}") == 304  # If-None-Match compares weakly


def test_conditions_do_not_hide_404_or_410(client: TestClient) -> None:
    assert client.get("/book/nope", headers={"If-Match": '"x"'}).status_code == 404
    rid, tag = _book(client)
    client.delete(f"/book/{rid}")
    assert client.get(f"/book/{rid}", headers={"If-Match": tag}).status_code == 410
