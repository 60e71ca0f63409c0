"""Tests for specstar.core.patch (RFC 6902 JSON Patch and RFC 7386 JSON Merge Patch)."""

import copy
import tracemalloc
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specstar.core.errors import ConflictError, PatchError, PatchTestFailedError, ValidationError
from specstar.core.jsonpointer import format_pointer
from specstar.core.patch import (
    MAX_PATCH_OPERATIONS,
    MAX_PATCHED_BYTES,
    JsonPatchOperation,
    apply_json_patch,
    apply_merge_patch,
    json_equal,
)

# -- RFC 6902, Appendix A -----------------------------------------------------------------------

RFC6902_OK: list[tuple[str, Any, list[dict[str, Any]], Any]] = [
    (
        "A.1 adding an object member",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
    ),
    (
        "A.2 adding an array element",
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    (
        "A.3 removing an object member",
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
    ),
    (
        "A.4 removing an array element",
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    (
        "A.5 replacing a value",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "A.6 moving a value",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "A.7 moving an array element",
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        "A.8 testing a value: success",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        "A.10 adding a nested member object",
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        "A.11 ignoring unrecognized elements",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    (
        "A.14 ~ escape ordering",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
    ),
    (
        "A.16 adding an array value",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
]


@pytest.mark.parametrize(
    ("doc", "ops", "expected"),
    [case[1:] for case in RFC6902_OK],
    ids=[case[0] for case in RFC6902_OK],
)
def test_rfc6902_appendix_a(doc: Any, ops: list[dict[str, Any]], expected: Any) -> None:
    assert apply_json_patch(doc, ops) == expected


def test_rfc6902_a9_testing_a_value_error() -> None:
    with pytest.raises(PatchTestFailedError) as info:
        apply_json_patch({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}])
    assert (info.value.path, info.value.expected, info.value.actual) == ("/baz", "bar", "qux")
    assert isinstance(info.value, ConflictError)


def test_rfc6902_a12_adding_to_a_nonexistent_target() -> None:
    with pytest.raises(PatchError) as info:
        apply_json_patch({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}])
    assert info.value.errors[0].loc == "/baz/bat"
    assert info.value.message.startswith('operation 0 (add): parent of "/baz/bat" does not')


def test_rfc6902_a13_invalid_patch_document() -> None:
    # {"op": "add", "path": "/baz", "value": "qux", "op": "remove"}: a JSON object with a
    # duplicate member cannot be represented as a mapping; decoding keeps the last "op", which
    # turns it into a remove of a member that does not exist -- an error either way.
    ops = msgspec.json.decode(b'[{"op": "add", "path": "/baz", "value": "qux", "op": "remove"}]')
    with pytest.raises(PatchError):
        apply_json_patch({"foo": "bar"}, ops)


def test_rfc6902_a15_comparing_strings_and_numbers() -> None:
    with pytest.raises(PatchTestFailedError):
        apply_json_patch({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}])


# -- add ----------------------------------------------------------------------------------------


def test_add_array_index_equal_to_length_appends() -> None:
    assert apply_json_patch([1, 2], [{"op": "add", "path": "/2", "value": 3}]) == [1, 2, 3]


def test_add_array_insert_at_start() -> None:
    assert apply_json_patch({"a": [1]}, [{"op": "add", "path": "/a/0", "value": 0}]) == {
        "a": [0, 1]
    }


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/a/3", "index 3 is beyond the end of the array (2 elements)"),
        ("/a/01", '"01" is not a valid array index'),
        ("/a/x", '"x" is not a valid array index'),
        ("/a/-1", '"-1" is not a valid array index'),
    ],
)
def test_add_bad_array_index(path: str, detail: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_json_patch({"a": [1, 2]}, [{"op": "add", "path": path, "value": 0}])
    assert info.value.message == f'operation 0 (add): cannot add at "{path}": {detail}'
    assert info.value.errors[0].loc == path


def test_add_existing_member_replaces() -> None:
    assert apply_json_patch({"a": 1}, [{"op": "add", "path": "/a", "value": 2}]) == {"a": 2}


def test_add_empty_member_name() -> None:
    assert apply_json_patch({}, [{"op": "add", "path": "/", "value": 1}]) == {"": 1}


def test_add_root_replaces_document() -> None:
    assert apply_json_patch({"a": 1}, [{"op": "add", "path": "", "value": [1]}]) == [1]


def test_add_null_value() -> None:
    assert apply_json_patch({}, [{"op": "add", "path": "/a", "value": None}]) == {"a": None}


def test_add_into_scalar_fails() -> None:
    with pytest.raises(PatchError) as info:
        apply_json_patch({"a": "text"}, [{"op": "add", "path": "/a/b", "value": 1}])
    assert info.value.message == ('operation 0 (add): cannot address "/a/b": "/a" is a string')


def test_add_dash_in_middle_of_path_fails() -> None:
    with pytest.raises(PatchError, match="position after the last array element"):
        apply_json_patch({"a": [{}]}, [{"op": "add", "path": "/a/-/b", "value": 1}])


# -- remove / replace ---------------------------------------------------------------------------


def test_remove_missing_message() -> None:
    doc = {"tags": ["a", "b", "c"]}
    ops = [
        {"op": "test", "path": "/tags/0", "value": "a"},
        {"op": "add", "path": "/x", "value": 1},
        {"op": "remove", "path": "/tags/9"},
    ]
    with pytest.raises(PatchError) as info:
        apply_json_patch(doc, ops)
    assert info.value.message.startswith('operation 2 (remove): path "/tags/9" does not exist')
    assert info.value.message.endswith("(the array has 3 elements)")
    assert [e.loc for e in info.value.errors] == ["/tags/9"]
    assert info.value.errors[0].message == info.value.message
    assert doc == {"tags": ["a", "b", "c"]}


@pytest.mark.parametrize("path", ["/b", "/a/-", "/a/1", "/a/01", "/c/d"])
def test_remove_requires_existing_target(path: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_json_patch({"a": [1], "c": 5}, [{"op": "remove", "path": path}])
    assert info.value.errors[0].loc == path


def test_remove_root_fails() -> None:
    with pytest.raises(PatchError, match="cannot remove the whole document"):
        apply_json_patch({"a": 1}, [{"op": "remove", "path": ""}])


def test_remove_array_element_and_null_member() -> None:
    doc = {"a": [1, 2, 3], "b": None}
    ops = [{"op": "remove", "path": "/a/0"}, {"op": "remove", "path": "/b"}]
    assert apply_json_patch(doc, ops) == {"a": [2, 3]}


@pytest.mark.parametrize("path", ["/b", "/a/-", "/a/1", "/a/00"])
def test_replace_requires_existing_target(path: str) -> None:
    with pytest.raises(PatchError) as info:
        apply_json_patch({"a": [1]}, [{"op": "replace", "path": path, "value": 0}])
    assert info.value.message.startswith(f'operation 0 (replace): path "{path}" does not exist')


def test_replace_array_element_and_root() -> None:
    assert apply_json_patch([1, 2], [{"op": "replace", "path": "/1", "value": 5}]) == [1, 5]
    assert apply_json_patch([1, 2], [{"op": "replace", "path": "", "value": "x"}]) == "x"


# -- move / copy --------------------------------------------------------------------------------


def test_move_into_own_child_fails() -> None:
    doc = {"a": {"b": {}}}
    with pytest.raises(PatchError) as info:
        apply_json_patch(doc, [{"op": "move", "from": "/a", "path": "/a/b/c"}])
    assert info.value.message == 'operation 0 (move): cannot move "/a" into its own child "/a/b/c"'
    assert info.value.errors[0].loc == "/a/b/c"


def test_move_root_into_child_fails() -> None:
    with pytest.raises(PatchError, match="into its own child"):
        apply_json_patch({"a": 1}, [{"op": "move", "from": "", "path": "/b"}])


def test_move_sibling_with_common_name_prefix_is_fine() -> None:
    doc = {"a": 1, "ab": {}}
    assert apply_json_patch(doc, [{"op": "move", "from": "/a", "path": "/ab/a"}]) == {
        "ab": {"a": 1}
    }


def test_move_onto_itself_is_a_noop() -> None:
    doc = {"a": [1, 2]}
    assert apply_json_patch(doc, [{"op": "move", "from": "/a/1", "path": "/a/1"}]) == doc
    with pytest.raises(PatchError):
        apply_json_patch(doc, [{"op": "move", "from": "/a/5", "path": "/a/5"}])


def test_move_missing_source_reports_from() -> None:
    with pytest.raises(PatchError) as info:
        apply_json_patch({"a": 1}, [{"op": "move", "from": "/x", "path": "/y"}])
    assert info.value.errors[0].loc == "/x"
    assert info.value.message == 'operation 0 (move): path "/x" does not exist'


def test_move_up_out_of_parent() -> None:
    doc = {"a": {"b": {"c": 1}}}
    assert apply_json_patch(doc, [{"op": "move", "from": "/a/b", "path": "/a"}]) == {"a": {"c": 1}}


def test_move_array_element_to_end() -> None:
    doc = {"xs": [1, 2, 3]}
    assert apply_json_patch(doc, [{"op": "move", "from": "/xs/0", "path": "/xs/-"}]) == {
        "xs": [2, 3, 1]
    }


def test_copy_is_deep() -> None:
    doc = {"a": {"b": [1]}}
    result = apply_json_patch(doc, [{"op": "copy", "from": "/a", "path": "/c"}])
    assert result == {"a": {"b": [1]}, "c": {"b": [1]}}
    result["c"]["b"].append(2)
    assert result["a"] == {"b": [1]}


def test_copy_then_modify_copy() -> None:
    doc = {"a": {"b": 1}}
    ops = [
        {"op": "copy", "from": "/a", "path": "/c"},
        {"op": "replace", "path": "/c/b", "value": 2},
    ]
    assert apply_json_patch(doc, ops) == {"a": {"b": 1}, "c": {"b": 2}}


def test_copy_missing_source() -> None:
    with pytest.raises(PatchError) as info:
        apply_json_patch({"a": 1}, [{"op": "copy", "from": "/b", "path": "/c"}])
    assert info.value.errors[0].loc == "/b"


def test_copy_to_own_child_is_allowed() -> None:
    doc = {"a": {"x": 1}}
    assert apply_json_patch(doc, [{"op": "copy", "from": "/a", "path": "/a/y"}]) == {
        "a": {"x": 1, "y": {"x": 1}}
    }


# -- test ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (1, 1.0),
        (1.0, 1),
        (0, 0.0),
        (True, True),
        (None, None),
        ("x", "x"),
        ({"a": 1, "b": [1, {"c": None}]}, {"b": [1.0, {"c": None}], "a": 1}),
        ([1, "a"], [1, "a"]),
        ([], []),
        ({}, {}),
        ((1, 2), [1, 2]),
    ],
)
def test_test_equal(actual: Any, expected: Any) -> None:
    apply_json_patch({"v": actual}, [{"op": "test", "path": "/v", "value": expected}])
    assert json_equal(actual, expected)
    assert json_equal(expected, actual)


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (True, 1),
        (1, True),
        (False, 0),
        (0, None),
        (False, None),
        ("1", 1),
        ("", None),
        ([], {}),
        ([1, 2], [2, 1]),
        ([1], [1, 1]),
        ({"a": 1}, {"a": 1, "b": 2}),
        ({"a": 1}, {"b": 1}),
        ({"a": None}, {}),
        ([True], [1]),
        ("a", ["a"]),
    ],
)
def test_test_not_equal(actual: Any, expected: Any) -> None:
    with pytest.raises(PatchTestFailedError) as info:
        apply_json_patch({"v": actual}, [{"op": "test", "path": "/v", "value": expected}])
    assert info.value.actual == actual
    assert info.value.expected == expected
    assert not json_equal(actual, expected)
    assert not json_equal(expected, actual)


def test_test_whole_document() -> None:
    doc = {"a": [1]}
    assert apply_json_patch(doc, [{"op": "test", "path": "", "value": {"a": [1.0]}}]) == doc


def test_test_missing_path_fails_as_test_failure() -> None:
    with pytest.raises(PatchTestFailedError) as info:
        apply_json_patch({"a": 1}, [{"op": "test", "path": "/b", "value": None}])
    assert info.value.path == "/b"
    assert "does not exist" in info.value.message
    assert str(info.value) == info.value.message


def test_failed_test_aborts_everything() -> None:
    doc = {"version": 1, "name": "a"}
    ops = [
        {"op": "replace", "path": "/name", "value": "b"},
        {"op": "test", "path": "/version", "value": 2},
    ]
    with pytest.raises(PatchTestFailedError):
        apply_json_patch(doc, ops)
    assert doc == {"version": 1, "name": "a"}


# -- malformed patches --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "message"),
    [
        ("not a mapping", "operation 1 must be an object, not str"),
        ({"path": "/a"}, 'operation 1: missing "op"'),
        ({"op": "delete", "path": "/a"}, "operation 1: unknown op 'delete'"),
        ({"op": 5, "path": "/a"}, "operation 1: unknown op 5"),
        ({"op": None, "path": "/a"}, "operation 1: unknown op None"),
        ({"op": "remove"}, 'operation 1 (remove): missing "path"'),
        ({"op": "remove", "path": 3}, 'operation 1 (remove): "path" must be a string'),
        ({"op": "remove", "path": ["a"]}, 'operation 1 (remove): "path" must be a string'),
        ({"op": "remove", "path": "a"}, 'operation 1 (remove): "path": invalid JSON pointer'),
        ({"op": "remove", "path": "/a~"}, 'operation 1 (remove): "path": invalid JSON pointer'),
        ({"op": "add", "path": "/a"}, 'operation 1 (add): missing "value"'),
        ({"op": "replace", "path": "/a"}, 'operation 1 (replace): missing "value"'),
        ({"op": "test", "path": "/a"}, 'operation 1 (test): missing "value"'),
        ({"op": "move", "path": "/a"}, 'operation 1 (move): missing "from"'),
        ({"op": "copy", "path": "/a"}, 'operation 1 (copy): missing "from"'),
        ({"op": "copy", "path": "/a", "from": 1}, 'operation 1 (copy): "from" must be a string'),
        ({"op": "move", "path": "/a", "from": "x"}, 'operation 1 (move): "from": invalid JSON'),
    ],
)
def test_malformed_operations(op: Any, message: str) -> None:
    doc = {"a": 1}
    ops = [{"op": "add", "path": "/b", "value": 2}, op]
    with pytest.raises(PatchError) as info:
        apply_json_patch(doc, ops)
    assert info.value.message.startswith(message)
    assert [e.loc for e in info.value.errors] == ["/1"]
    assert isinstance(info.value, ValidationError)
    assert info.value.details() == {"errors": [{"loc": "/1", "message": info.value.message}]}
    assert doc == {"a": 1}


def test_malformed_operation_is_reported_before_apply_errors() -> None:
    ops = [{"op": "remove", "path": "/missing"}, {"op": "nope", "path": "/a"}]
    with pytest.raises(PatchError, match="unknown op"):
        apply_json_patch({}, ops)


@pytest.mark.parametrize("patch", [{"op": "add"}, "add", b"x", None, 5])
def test_patch_must_be_an_array(patch: Any) -> None:
    with pytest.raises(PatchError, match="must be an array of operations"):
        apply_json_patch({}, patch)


def test_empty_patch_returns_a_copy() -> None:
    doc = {"a": [1]}
    result = apply_json_patch(doc, [])
    assert result == doc
    assert result is not doc
    assert result["a"] is not doc["a"]


def test_tuple_of_operations_and_mapping_documents() -> None:
    from types import MappingProxyType

    doc = MappingProxyType({"a": (1, 2)})
    result = apply_json_patch(doc, ({"op": "add", "path": "/a/-", "value": 3},))
    assert result == {"a": [1, 2, 3]}


# -- typed operations ---------------------------------------------------------------------------


def test_typed_operations_decode_and_apply() -> None:
    body = b"""[
        {"op": "add", "path": "/a", "value": null},
        {"op": "copy", "from": "/a", "path": "/b"},
        {"op": "move", "from": "/b", "path": "/c"},
        {"op": "remove", "path": "/a"}
    ]"""
    ops = msgspec.json.decode(body, type=list[JsonPatchOperation])
    assert ops[0].value is None
    assert ops[1].from_ == "/a"
    assert ops[3].value is msgspec.UNSET
    assert ops[1].to_dict() == {"op": "copy", "path": "/b", "from": "/a"}
    assert ops[0].to_dict() == {"op": "add", "path": "/a", "value": None}
    assert apply_json_patch({}, ops) == {"c": None}
    assert msgspec.json.decode(msgspec.json.encode(ops[1])) == {
        "op": "copy",
        "path": "/b",
        "from": "/a",
    }


def test_typed_operation_without_value() -> None:
    with pytest.raises(PatchError, match='missing "value"'):
        apply_json_patch({}, [JsonPatchOperation(op="add", path="/a")])


def test_typed_operation_rejects_unknown_op() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'[{"op": "nope", "path": ""}]', type=list[JsonPatchOperation])


# -- no mutation, no aliasing -------------------------------------------------------------------


def test_values_are_never_aliased() -> None:
    value = {"x": []}
    ops = [
        {"op": "add", "path": "/v", "value": value},
        {"op": "add", "path": "/v/x/-", "value": 1},
        {"op": "add", "path": "/w", "value": value},
    ]
    result = apply_json_patch({}, ops)
    assert result == {"v": {"x": [1]}, "w": {"x": []}}
    assert value == {"x": []}
    result["w"]["x"].append(2)
    assert value == {"x": []}


def test_replace_and_test_values_not_aliased() -> None:
    value = [1]
    result = apply_json_patch({"a": 0}, [{"op": "replace", "path": "/a", "value": value}])
    result["a"].append(2)
    assert value == [1]


# -- RFC 7386 -----------------------------------------------------------------------------------

RFC7386_CASES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386_CASES)
def test_rfc7386_appendix_a(target: Any, patch: Any, expected: Any) -> None:
    before = (copy.deepcopy(target), copy.deepcopy(patch))
    assert apply_merge_patch(target, patch) == expected
    assert (target, patch) == before


def test_rfc7386_section3_example() -> None:
    target = {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    }
    patch = {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    }
    assert apply_merge_patch(target, patch) == {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    }


def test_merge_patch_result_shares_nothing() -> None:
    target = {"keep": {"x": [1]}, "change": {"y": 1}}
    patch = {"change": {"z": [2]}, "new": {"w": [3]}}
    result = apply_merge_patch(target, patch)
    result["keep"]["x"].append(9)
    result["change"]["z"].append(9)
    result["new"]["w"].append(9)
    assert target == {"keep": {"x": [1]}, "change": {"y": 1}}
    assert patch == {"change": {"z": [2]}, "new": {"w": [3]}}


def test_merge_patch_keeps_nulls_inside_arrays() -> None:
    assert apply_merge_patch({}, {"a": [None, {"b": None}]}) == {"a": [None, {"b": None}]}


# -- properties ---------------------------------------------------------------------------------

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(["a", "b", "c", "", "~", "/"])
small_objects = st.recursive(
    st.dictionaries(keys, json_leaves, max_size=3),
    lambda children: st.dictionaries(keys, children | json_leaves, max_size=4),
    max_leaves=15,
)


@given(json_values, json_values)
def test_merge_patch_is_idempotent(target: Any, patch: Any) -> None:
    once = apply_merge_patch(target, patch)
    assert apply_merge_patch(once, patch) == once


@given(small_objects, small_objects)
def test_merge_patch_is_idempotent_on_overlapping_objects(target: Any, patch: Any) -> None:
    before = (copy.deepcopy(target), copy.deepcopy(patch))
    once = apply_merge_patch(target, patch)
    assert apply_merge_patch(once, patch) == once
    assert (target, patch) == before


@given(json_values)
def test_json_equal_is_reflexive(value: Any) -> None:
    assert json_equal(value, copy.deepcopy(value))


def _pointers(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_pointers(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(_pointers(item, (*prefix, str(index))))
    return out


@st.composite
def patch_operations(draw: st.DrawFn, doc: Any) -> list[dict[str, Any]]:
    """A mix of valid and (sometimes) invalid operations aimed mostly at existing paths."""
    existing = [format_pointer(p) for p in _pointers(doc)]
    path = st.sampled_from(existing) | st.sampled_from(["/zz", "/a/-", "/0", "/zz/y", ""])
    op = st.fixed_dictionaries(
        {
            "op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]),
            "path": path,
        },
        optional={"value": json_values, "from": path},
    )
    return draw(st.lists(op, max_size=5))


@settings(deadline=None)
@given(st.data(), json_values)
def test_json_patch_never_mutates_inputs(data: st.DataObject, doc: Any) -> None:
    ops = data.draw(patch_operations(doc))
    doc_before = copy.deepcopy(doc)
    ops_before = copy.deepcopy(ops)
    try:
        result = apply_json_patch(doc, ops)
    except (PatchError, PatchTestFailedError):
        pass
    else:
        # The result shares nothing with the inputs: scribbling over it changes neither.
        _scribble(result)
    assert doc == doc_before
    assert ops == ops_before


def _scribble(value: Any) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _scribble(item)
        value["scribble"] = 1
    elif isinstance(value, list):
        for item in value:
            _scribble(item)
        value.append("scribble")


@settings(deadline=None)
@given(st.data(), json_values)
def test_failing_patch_leaves_document_unchanged(data: st.DataObject, doc: Any) -> None:
    ops = data.draw(patch_operations(doc))
    failing = data.draw(
        st.sampled_from(
            [
                {"op": "remove", "path": "/no/such/member"},
                {"op": "test", "path": "", "value": {"unmatched": object()}},
                {"op": "replace", "path": "/no/such/member", "value": 1},
            ]
        )
    )
    position = data.draw(st.integers(0, len(ops)))
    ops.insert(position, failing)
    before = copy.deepcopy(doc)
    with pytest.raises((PatchError, PatchTestFailedError)):
        apply_json_patch(doc, ops)
    assert doc == before


@given(st.data(), small_objects, json_values)
def test_add_then_remove_new_member_is_identity(data: st.DataObject, doc: Any, value: Any) -> None:
    containers = [p for p in _pointers(doc) if isinstance(_get(doc, p), dict)]
    parent = data.draw(st.sampled_from(containers))
    key = "new-member"
    path = format_pointer((*parent, key))
    ops = [
        {"op": "add", "path": path, "value": value},
        {"op": "test", "path": path, "value": value},
        {"op": "remove", "path": path},
    ]
    assert apply_json_patch(doc, ops) == doc


@given(json_values)
def test_operations_match_sequential_application(doc: Any) -> None:
    ops = [
        {"op": "add", "path": "", "value": {"wrap": doc}},
        {"op": "copy", "from": "/wrap", "path": "/copy"},
        {"op": "move", "from": "/copy", "path": "/moved"},
        {"op": "test", "path": "/moved", "value": doc},
    ]
    expected: Any = doc
    for op in ops:
        expected = apply_json_patch(expected, [op])
    assert apply_json_patch(doc, ops) == expected == {"wrap": doc, "moved": doc}


def _get(doc: Any, tokens: tuple[str, ...]) -> Any:
    for token in tokens:
        doc = doc[int(token)] if isinstance(doc, list) else doc[token]
    return doc


# -- cost limits ---------------------------------------------------------------------------------


def test_a_patch_with_too_many_operations_is_refused_before_any_runs() -> None:
    ops = [{"op": "test", "path": "", "value": {}}] * (MAX_PATCH_OPERATIONS + 1)
    with pytest.raises(PatchError, match=r"at most 1000 operations \(max_patch_operations\)"):
        apply_json_patch({}, ops)
    assert apply_json_patch({}, ops[:MAX_PATCH_OPERATIONS]) == {}
    with pytest.raises(PatchError, match="at most 3 operations"):
        apply_json_patch({}, [{"op": "remove", "path": "/nothing"}] * 4, max_operations=3)


def test_the_copy_bomb_stops_at_the_first_operation_past_the_size_limit() -> None:
    """23 ``copy`` operations double the document each: refused at the first operation that
    would pass the limit, before it allocates the copy (peak memory stays near the limit)."""
    ops = [{"op": "add", "path": "/b", "value": ["y" * 64]}]
    ops += [{"op": "copy", "from": "/b", "path": "/b/-"} for _ in range(23)]
    tracemalloc.start()
    try:
        with pytest.raises(PatchError, match=r"operation 18 \(copy\).*max_patched_bytes") as info:
            apply_json_patch({"a": 1}, ops)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.errors[0].loc == "/18"
    assert peak < 4 * MAX_PATCHED_BYTES  # the unbounded patch needs about 1.2 GB
    with pytest.raises(PatchError, match=r"operation 5 \(copy\)"):
        apply_json_patch({"a": 1}, ops, max_bytes=2_000)


def test_the_size_accounting_credits_what_operations_remove() -> None:
    big = "x" * 1000
    doc = {"a": big, "l": [big]}
    ops: list[dict[str, Any]] = []
    for _ in range(50):  # each round keeps the document the same size
        ops += [
            {"op": "replace", "path": "/a", "value": big},
            {"op": "add", "path": "/l/0", "value": big},
            {"op": "remove", "path": "/l/1"},
            {"op": "copy", "from": "/a", "path": "/c"},
            {"op": "remove", "path": "/c"},
            {"op": "add", "path": "/a", "value": big},
            {"op": "move", "from": "/a", "path": "/z"},
            {"op": "move", "from": "/z", "path": "/a"},
        ]
    assert apply_json_patch(doc, ops, max_bytes=3_300) == doc  # one value more at most
    grow = [{"op": "add", "path": "/l/-", "value": big}] * 2
    with pytest.raises(PatchError, match=r"operation 1 \(add\).*max_patched_bytes"):
        apply_json_patch(doc, grow, max_bytes=3_300)
    whole = [{"op": "replace", "path": "", "value": {"small": 1}}]
    assert apply_json_patch({"big": "x" * 5000}, whole, max_bytes=100) == {"small": 1}
    # a document already past the limit can still take operations that do not grow it
    assert (
        apply_json_patch({"big": "x" * 5000}, [{"op": "remove", "path": "/big"}], max_bytes=100)
        == {}
    )
