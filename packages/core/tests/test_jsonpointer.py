"""Tests for specstar.core.jsonpointer (RFC 6901 pointers and projections)."""

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from specstar.core.errors import PatchError, ValidationError
from specstar.core.jsonpointer import (
    format_pointer,
    is_array_index,
    parse_pointer,
    project,
    resolve,
    to_pointer,
)

# The example document of RFC 6901, section 5.
RFC_DOC: dict[str, Any] = {
    "foo": ["bar", "baz"],
    "": 0,
    "a/b": 1,
    "c%d": 2,
    "e^f": 3,
    "g|h": 4,
    "i\\j": 5,
    'k"l': 6,
    " ": 7,
    "m~n": 8,
}


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("", RFC_DOC),
        ("/foo", ["bar", "baz"]),
        ("/foo/0", "bar"),
        ("/", 0),
        ("/a~1b", 1),
        ("/c%d", 2),
        ("/e^f", 3),
        ("/g|h", 4),
        ("/i\\j", 5),
        ('/k"l', 6),
        ("/ ", 7),
        ("/m~0n", 8),
    ],
)
def test_rfc6901_examples(pointer: str, expected: Any) -> None:
    assert resolve(RFC_DOC, pointer) == expected
    assert resolve(RFC_DOC, parse_pointer(pointer)) == expected


def test_resolve_returns_the_value_itself() -> None:
    assert resolve(RFC_DOC, "/foo") is RFC_DOC["foo"]
    assert resolve(RFC_DOC, "") is RFC_DOC


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", []),
        ("/", [""]),
        ("//", ["", ""]),
        ("/a/b", ["a", "b"]),
        ("/a~1b", ["a/b"]),
        ("/m~0n", ["m~n"]),
        ("/~01", ["~1"]),  # ~0 decodes after ~1: "~01" is "~1", not "/"
        ("/~10", ["/0"]),
        ("/~0~1", ["~/"]),
        ("/items/0/name", ["items", "0", "name"]),
    ],
)
def test_parse_and_format(text: str, tokens: list[str]) -> None:
    assert parse_pointer(text) == tokens
    assert format_pointer(tokens) == text


@pytest.mark.parametrize("text", ["a", "a/b", "~0", "/a~", "/a~2b", "/~x", " /a"])
def test_parse_invalid(text: str) -> None:
    with pytest.raises(PatchError) as info:
        parse_pointer(text)
    assert isinstance(info.value, ValidationError)
    assert [e.loc for e in info.value.errors] == [text]
    assert "invalid JSON pointer" in info.value.message


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(PatchError, match="must be a string"):
        parse_pointer(5)  # type: ignore[arg-type]


@given(st.lists(st.text()))
def test_format_parse_roundtrip(tokens: list[str]) -> None:
    assert parse_pointer(format_pointer(tokens)) == tokens


@pytest.mark.parametrize(
    ("path", "tokens"),
    [
        ("", []),
        ("name", ["name"]),
        ("a.b", ["a", "b"]),
        ("items.0.name", ["items", "0", "name"]),
        ("/a/b", ["a", "b"]),
        ("/a.b", ["a.b"]),
        ("/a~1b", ["a/b"]),
    ],
)
def test_to_pointer(path: str, tokens: list[str]) -> None:
    assert to_pointer(path) == tokens


@pytest.mark.parametrize("path", ["a..b", ".a", "a.", ".", "/a~"])
def test_to_pointer_invalid(path: str) -> None:
    with pytest.raises(PatchError):
        to_pointer(path)


def test_to_pointer_rejects_non_strings() -> None:
    with pytest.raises(PatchError):
        to_pointer(["a"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("token", "ok"),
    [("0", True), ("7", True), ("12", True), ("01", False), ("-", False), ("-1", False),
     ("+1", False), ("1.0", False), ("", False), (" 1", False), ("1e2", False), ("٣", False)],
)  # fmt: skip
def test_is_array_index(token: str, ok: bool) -> None:
    assert is_array_index(token) is ok


DOC: dict[str, Any] = {
    "name": "n",
    "tags": ["a", "b", "c"],
    "address": {"city": "Paris", "geo": {"lat": 1.5, "lng": 2.5}},
    "items": [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}, {"id": 3, "name": "z"}],
    "nothing": None,
    "pair": ("p", "q"),
}


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("/tags/0", "a"),
        ("/tags/2", "c"),
        ("/items/1/name", "y"),
        ("/address/geo/lng", 2.5),
        ("/nothing", None),
        ("/pair/1", "q"),
    ],
)
def test_resolve(pointer: str, expected: Any) -> None:
    assert resolve(DOC, pointer) == expected


@pytest.mark.parametrize(
    ("pointer", "detail"),
    [
        ("/missing", None),
        ("/address/zip", None),
        ("/tags/3", "the array has 3 elements"),
        ("/tags/01", '"01" is not a valid array index'),
        ("/tags/-", '"-" refers to the position after the last array element'),
        ("/tags/-1", '"-1" is not a valid array index'),
        ("/tags/x", '"x" is not a valid array index'),
        ("/name/x", '"/name" is a string'),
        ("/nothing/x", '"/nothing" is null'),
        ("/address/geo/lat/0", '"/address/geo/lat" is a number'),
    ],
)
def test_resolve_missing(pointer: str, detail: str | None) -> None:
    with pytest.raises(PatchError) as info:
        resolve(DOC, pointer)
    error = info.value
    assert [e.loc for e in error.errors] == [pointer]
    expected = f'path "{pointer}" does not exist'
    if detail is not None:
        expected += f" ({detail})"
    assert error.message == expected
    assert error.errors[0].message == expected
    assert error.code == "invalid_patch"


def test_resolve_with_tokens_reports_escaped_pointer() -> None:
    with pytest.raises(PatchError) as info:
        resolve({"a": {}}, ["a", "b/c"])
    assert info.value.errors[0].loc == "/a/b~1c"


def test_resolve_single_element_message() -> None:
    with pytest.raises(PatchError, match=r"\(the array has 1 element\)"):
        resolve({"xs": [1]}, "/xs/1")


# -- project ----------------------------------------------------------------------------------


def test_project_nested_objects() -> None:
    assert project(DOC, ["/name", "/address/city"]) == {
        "name": "n",
        "address": {"city": "Paris"},
    }


def test_project_whole_subtree() -> None:
    result = project(DOC, ["/address"])
    assert result == {"address": DOC["address"]}
    assert result["address"] is not DOC["address"]
    assert result["address"]["geo"] is not DOC["address"]["geo"]


def test_project_root_pointer_copies_everything() -> None:
    result = project(DOC, [""])
    assert result == {**DOC, "pair": ["p", "q"]}
    assert result is not DOC


def test_project_no_pointers() -> None:
    assert project(DOC, []) == {}


def test_project_list_elements_keep_index_order() -> None:
    result = project(DOC, ["/tags/2", "/tags/0"])
    assert result == {"tags": ["a", "c"]}


def test_project_inside_list_elements() -> None:
    result = project(DOC, ["/items/2/name", "/items/0/id", "/items/0/name"])
    assert result == {"items": [{"id": 1, "name": "x"}, {"name": "z"}]}


def test_project_tuple_becomes_list() -> None:
    assert project(DOC, ["/pair/1"]) == {"pair": ["q"]}


def test_project_whole_wins_over_parts_in_any_order() -> None:
    expected = {"address": DOC["address"]}
    assert project(DOC, ["/address/city", "/address"]) == expected
    assert project(DOC, ["/address", "/address/geo/lat"]) == expected


def test_project_duplicates_are_harmless() -> None:
    assert project(DOC, ["/name", "/name"]) == {"name": "n"}


@pytest.mark.parametrize(
    "pointer",
    ["/missing", "/address/zip", "/tags/9", "/tags/01", "/tags/-", "/name/x", "/nothing/x"],
)
def test_project_omits_unresolvable(pointer: str) -> None:
    assert project(DOC, [pointer, "/name"]) == {"name": "n"}


def test_project_does_not_create_empty_parents() -> None:
    assert project(DOC, ["/address/zip/code"]) == {}


def test_project_null_values_are_kept() -> None:
    assert project(DOC, ["/nothing"]) == {"nothing": None}


@pytest.mark.parametrize("pointer", ["name", "/a~2", "/ok~"])
def test_project_rejects_invalid_pointers(pointer: str) -> None:
    with pytest.raises(PatchError):
        project(DOC, ["/name", pointer])


def test_project_escaped_names() -> None:
    assert project(RFC_DOC, ["/a~1b", "/m~0n", "/"]) == {"a/b": 1, "m~n": 8, "": 0}


def test_project_never_mutates_or_aliases() -> None:
    before = copy.deepcopy(DOC)
    result = project(DOC, ["/items/0", "/tags", "/address/geo"])
    result["items"][0]["id"] = 99
    result["tags"].append("d")
    result["address"]["geo"]["lat"] = 0
    assert before == DOC


json_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=4), json_values, max_size=5)


@given(json_objects)
def test_project_all_members_is_identity(doc: dict[str, Any]) -> None:
    pointers = [format_pointer([key]) for key in doc]
    assert project(doc, pointers) == doc
    assert project(doc, [""]) == doc


@given(json_objects, st.data())
def test_project_selected_leaf_values_resolve(doc: dict[str, Any], data: st.DataObject) -> None:
    pointers = _all_pointers(doc)
    chosen = data.draw(st.lists(st.sampled_from(pointers))) if pointers else []
    result = project(doc, chosen)
    # Objects keep their nesting, so pointers without array indices resolve identically.
    for pointer in chosen:
        tokens = parse_pointer(pointer)
        if not _crosses_array(doc, tokens):
            assert resolve(result, tokens) == resolve(doc, tokens)


def _all_pointers(value: Any, prefix: tuple[str, ...] = ()) -> list[str]:
    out = [format_pointer(prefix)]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_all_pointers(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_all_pointers(item, (*prefix, str(index))))
    return out


def _crosses_array(doc: Any, tokens: list[str]) -> bool:
    current = doc
    for token in tokens:
        if isinstance(current, list):
            return True
        current = current[token]
    return False
