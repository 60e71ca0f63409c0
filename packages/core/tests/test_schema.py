"""Tests for specstar.core.schema: versions, migration steps, path finding and validators."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import IO, Any

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from specstar.core.errors import ConflictError, SpecStarError, ValidationError
from specstar.core.pipeline import IValidator
from specstar.core.schema import (
    MigrationError,
    MigrationPathError,
    RevisionNotMigratedError,
    Schema,
)


class V1(msgspec.Struct):
    name: str


class V2(msgspec.Struct):
    name: str
    extra: str


class V3(msgspec.Struct):
    full_name: str
    extra: str


class Hops(msgspec.Struct):
    hops: list[str] = []


def enc(obj: Any) -> bytes:
    return msgspec.json.encode(obj)


def v1_to_v2(data: IO[bytes]) -> V2:
    old = msgspec.json.decode(data.read(), type=V1)
    return V2(name=old.name, extra="new")


def v2_to_v3(data: IO[bytes]) -> dict[str, Any]:
    old = msgspec.json.decode(data.read(), type=V2)
    return {"full_name": old.name.upper(), "extra": old.extra}


def hop(label: str) -> Callable[[IO[bytes]], dict[str, Any]]:
    """A legacy step function that appends ``label`` to ``hops``."""

    def fn(data: IO[bytes]) -> dict[str, Any]:
        obj = msgspec.json.decode(data.read())
        return {"hops": [*obj["hops"], label]}

    fn.__qualname__ = f"hop_{label}"
    return fn


EMPTY_HOPS = enc({"hops": []})


# -- decoding at the target version ---------------------------------------------------------------


def test_target_version_is_decoded_directly() -> None:
    schema = Schema(V3, "v3").step("v1", v1_to_v2).step("v2", v2_to_v3)
    raw = enc({"full_name": "A", "extra": "x"})
    assert schema.migrate(raw, "v3") == V3(full_name="A", extra="x")
    assert schema.migrate(io.BytesIO(raw), "v3") == V3(full_name="A", extra="x")
    assert schema.migrate(bytearray(raw), "v3") == V3(full_name="A", extra="x")
    assert schema.path("v3") == []
    assert schema.can_migrate("v3")


def test_invalid_stored_data_raises_validation_error() -> None:
    schema = Schema(V3, "v3")
    with pytest.raises(ValidationError) as info:
        schema.migrate(enc({"full_name": 1, "extra": "x"}), "v3")
    assert [e.loc for e in info.value.errors] == ["/full_name"]
    with pytest.raises(ValidationError, match="not valid json"):
        schema.migrate(b"{not json", "v3")


def test_schema_without_steps_is_a_version_bump() -> None:
    schema = Schema(V1, "v2")
    assert not schema.has_migration
    assert schema.migrate(enc({"name": "a"}), "v1") == V1(name="a")
    assert schema.migrate(enc({"name": "a"}), None) == V1(name="a")
    assert schema.path("v1") == []
    assert schema.can_migrate("anything")


# -- single steps and chains ----------------------------------------------------------------------


def test_single_legacy_step_receives_a_binary_stream() -> None:
    seen: list[Any] = []

    def fn(data: IO[bytes]) -> V2:
        seen.append(data)
        return v1_to_v2(data)

    schema = Schema(V2, "v2").step("v1", fn)
    assert schema.has_migration
    assert schema.path("v1") == [("v1", "v2")]
    assert schema.migrate(enc({"name": "a"}), "v1") == V2(name="a", extra="new")
    assert isinstance(seen[0], io.BytesIO)


def test_single_typed_step_receives_an_instance() -> None:
    seen: list[Any] = []

    def fn(data: V1) -> V2:
        seen.append(data)
        return V2(name=data.name, extra="typed")

    schema = Schema(V2, "v2").step("v1", fn, source_type=V1)
    assert schema.migrate(io.BytesIO(enc({"name": "a"})), "v1") == V2(name="a", extra="typed")
    assert seen == [V1(name="a")]


def test_chain_infers_to_from_the_next_step_and_the_target() -> None:
    schema = Schema(V3, "v3").step("v1", v1_to_v2).step("v2", v2_to_v3)
    assert schema.path("v1") == [("v1", "v2"), ("v2", "v3")]
    assert schema.path("v2") == [("v2", "v3")]
    assert schema.migrate(enc({"name": "a"}), "v1") == V3(full_name="A", extra="new")
    assert schema.migrate(enc({"name": "b", "extra": "e"}), "v2") == V3(full_name="B", extra="e")


def test_explicit_to_is_kept_in_a_chain() -> None:
    schema = (
        Schema(Hops, "v3").step("v1", hop("a"), to="v2").step("v0", hop("b")).plus("v2", hop("c"))
    )
    assert schema.path("v1") == [("v1", "v2"), ("v2", "v3")]
    assert schema.path("v0") == [("v0", "v3")]


def test_plus_closes_the_previous_chain() -> None:
    schema = Schema(Hops, "v3").step("v1", hop("a")).plus("v2", hop("b"))
    assert schema.path("v1") == [("v1", "v3")]
    assert schema.path("v2") == [("v2", "v3")]


def test_typed_chain_passes_instances_directly() -> None:
    seen: list[Any] = []
    made: list[V2] = []

    def first(data: V1) -> V2:
        made.append(V2(name=data.name, extra="1"))
        return made[-1]

    def second(data: V2) -> V3:
        seen.append(data)
        return V3(full_name=data.name, extra=data.extra + "2")

    schema = Schema(V3, "v3").step("v1", first, source_type=V1).step("v2", second, source_type=V2)
    assert schema.migrate(enc({"name": "a"}), "v1") == V3(full_name="a", extra="12")
    assert seen[0] is made[0]


def test_chain_reencodes_between_steps_when_types_differ() -> None:
    seen: list[Any] = []

    def to_dict(data: V1) -> dict[str, str]:
        return {"name": data.name, "extra": "d"}

    def typed(data: V2) -> V2:
        seen.append(data)
        return V2(name=data.name, extra=data.extra + "t")

    def legacy(data: IO[bytes]) -> bytes:
        raw = data.read()
        seen.append(raw)
        return raw  # bytes are decoded into the target type

    schema = (
        Schema(V2, "v4")
        .step("v1", to_dict, source_type=V1)
        .step("v2", typed, source_type=V2)
        .step("v3", legacy)
    )
    assert schema.migrate(enc({"name": "a"}), "v1") == V2(name="a", extra="dt")
    assert seen[0] == V2(name="a", extra="d")
    assert msgspec.json.decode(seen[1]) == {"name": "a", "extra": "dt"}


def test_typed_step_with_generic_source_type() -> None:
    def fn(data: dict[str, str]) -> dict[str, str]:
        return {"name": data["name"], "extra": "g"}

    schema = Schema(V2, "v2").step("v1", fn, source_type=dict[str, str])
    assert schema.migrate(enc({"name": "a"}), "v1") == V2(name="a", extra="g")


def test_msgpack_encoding_is_used_for_steps_and_target() -> None:
    seen: list[bytes] = []

    def first(data: IO[bytes]) -> V2:
        raw = data.read()
        seen.append(raw)
        return V2(name=msgspec.msgpack.decode(raw, type=V1).name, extra="m")

    def second(data: IO[bytes]) -> dict[str, str]:
        raw = data.read()
        seen.append(raw)
        old = msgspec.msgpack.decode(raw, type=V2)
        return {"full_name": old.name, "extra": old.extra}

    def typed(data: V2) -> V3:
        return V3(full_name=data.name, extra="typed")

    schema = Schema(V3, "v3").step("v1", first).step("v2", second)
    schema.set_encoding("msgpack")
    packed = msgspec.msgpack.encode({"name": "a"})
    assert schema.migrate(packed, "v1") == V3(full_name="a", extra="m")
    assert seen == [packed, msgspec.msgpack.encode(V2(name="a", extra="m"))]
    stored = msgspec.msgpack.encode(V3(full_name="b", extra="c"))
    assert schema.migrate(stored, "v3") == V3(full_name="b", extra="c")

    typed_schema = Schema(V3, "v3").step("v2", typed, source_type=V2)
    typed_schema.set_encoding("msgpack")
    packed2 = msgspec.msgpack.encode({"name": "z", "extra": "e"})
    assert typed_schema.migrate(packed2, "v2") == V3(full_name="z", extra="typed")
    with pytest.raises(ValidationError):
        typed_schema.migrate(msgspec.json.encode({"full_name": "a", "extra": "b"}), "v3")


def test_set_encoding_rejects_unknown_encodings() -> None:
    with pytest.raises(ValueError, match="msgpack"):
        Schema(V1, "v1").set_encoding("yaml")


# -- path choice ----------------------------------------------------------------------------------


def test_plus_adds_a_shortcut_that_wins() -> None:
    schema = Schema(Hops, "v3").step("v1", hop("a")).step("v2", hop("b")).plus("v1", hop("s"))
    assert schema.path("v1") == [("v1", "v3")]
    assert schema.path("v2") == [("v2", "v3")]
    assert schema.migrate(EMPTY_HOPS, "v1").hops == ["s"]
    assert schema.migrate(EMPTY_HOPS, "v2").hops == ["b"]


def test_ties_go_to_the_edge_defined_first() -> None:
    schema = (
        Schema(Hops, "v3")
        .step("v1", hop("1b"), to="b")
        .step("b", hop("b3"))
        .plus("v1", hop("1a"), to="a")
        .step("a", hop("a3"))
    )
    assert schema.migrate(EMPTY_HOPS, "v1").hops == ["1b", "b3"]
    twins = Schema(Hops, "v2").step("v1", hop("first")).plus("v1", hop("second"))
    assert twins.migrate(EMPTY_HOPS, "v1").hops == ["first"]


def test_cycles_do_not_loop() -> None:
    schema = (
        Schema(Hops, "v3")
        .step("v1", hop("12"), to="v2")
        .plus("v2", hop("21"), to="v1")
        .plus("v2", hop("23"))
    )
    assert schema.path("v1") == [("v1", "v2"), ("v2", "v3")]
    assert schema.migrate(EMPTY_HOPS, "v1").hops == ["12", "23"]


# -- regex sources --------------------------------------------------------------------------------


def test_regex_source_matches_every_known_version() -> None:
    schema = (
        Schema(Hops, "v3")
        .step(re.compile(r"v\d"), hop("re"))
        .plus("v1", hop("12"), to="v2")
        .plus("v0", hop("01"), to="v1")
    )
    assert schema.path("v0") == [("v0", "v3")]
    assert schema.path("v1") == [("v1", "v3")]
    assert schema.path("v2") == [("v2", "v3")]
    assert schema.migrate(EMPTY_HOPS, "v1").hops == ["re"]
    # a version only stored data has (no step names it) migrates when the regex matches it
    assert schema.path("v9") == [("v9", "v3")]
    assert schema.migrate(EMPTY_HOPS, "v9").hops == ["re"]
    assert not schema.can_migrate("x9")  # matched by no step
    assert not schema.can_migrate(None)  # regexes never match unversioned data
    assert not schema.can_migrate("v10")  # fullmatch only


def test_regex_skips_its_own_target_and_may_be_first_in_a_chain() -> None:
    schema = (
        Schema(Hops, "v3")
        .step(re.compile(r"v1\.\d"), hop("re"))
        .step("v2", hop("23"))
        .plus("v1.0", hop("a"), to="v1.1")
    )
    assert schema.path("v1.0") == [("v1.0", "v2"), ("v2", "v3")]
    assert schema.path("v1.1") == [("v1.1", "v2"), ("v2", "v3")]
    assert schema.migrate(EMPTY_HOPS, "v1.1").hops == ["re", "23"]
    only_self = Schema(Hops, "v3").step(re.compile(r"v.*"), hop("x"), to="v2").plus("v2", hop("y"))
    assert only_self.path("v2") == [("v2", "v3")]


def test_regex_cannot_close_the_previous_step() -> None:
    with pytest.raises(ValueError, match="cannot infer"):
        Schema(Hops, "v3").step("v1", hop("a")).step(re.compile("v2"), hop("b"))
    schema = Schema(Hops, "v3").step("v1", hop("a"), to="v2").step(re.compile("v2"), hop("b"))
    assert schema.path("v1") == [("v1", "v2"), ("v2", "v3")]


# -- unversioned data -----------------------------------------------------------------------------


def test_none_is_a_literal_source_version() -> None:
    schema = Schema(Hops, "v2").step(None, hop("n1")).step("v1", hop("12"))
    assert schema.path(None) == [(None, "v1"), ("v1", "v2")]
    assert schema.migrate(EMPTY_HOPS, None).hops == ["n1", "12"]
    missing = Schema(Hops, "v2").step("v1", hop("12"))
    assert not missing.can_migrate(None)
    with pytest.raises(MigrationPathError) as info:
        missing.migrate(EMPTY_HOPS, None)
    assert info.value.source is None


def test_none_cannot_close_the_previous_step() -> None:
    with pytest.raises(ValueError, match="cannot infer"):
        Schema(Hops, "v2").step("v1", hop("a")).step(None, hop("b"))


# -- errors ---------------------------------------------------------------------------------------


def test_no_path_raises_migration_path_error() -> None:
    schema = Schema(V3, "v3").step("v1", v1_to_v2).step("v2", v2_to_v3)
    assert not schema.can_migrate("v0")
    with pytest.raises(MigrationPathError) as info:
        schema.migrate(enc({"name": "a"}), "v0")
    err = info.value
    assert isinstance(err, SpecStarError)
    assert err.code == "migration_path_not_found"
    assert (err.source, err.target) == ("v0", "v3")
    assert set(err.known_versions) == {"v1", "v2", "v3"}
    assert "'v0'" in str(err)
    assert "'v1'" in str(err)
    assert err.details()["known_versions"] == err.known_versions
    with pytest.raises(MigrationPathError):
        schema.path("v0")


def test_failing_step_raises_migration_error() -> None:
    def broken(data: IO[bytes]) -> V3:
        raise KeyError("oops")

    schema = Schema(V3, "v3").step("v1", v1_to_v2).step("v2", broken)
    with pytest.raises(MigrationError) as info:
        schema.migrate(enc({"name": "a"}), "v1")
    err = info.value
    assert err.code == "migration_failed"
    assert (err.from_version, err.to_version) == ("v2", "v3")
    assert "broken" in err.step_name
    assert isinstance(err.__cause__, KeyError)
    assert "'v2' -> 'v3'" in str(err)
    assert "oops" in str(err)
    assert err.details() == {"from_version": "v2", "to_version": "v3", "step_name": err.step_name}


def test_undecodable_typed_input_raises_migration_error() -> None:
    schema = Schema(V2, "v2").step("v1", lambda d: d, source_type=V1)
    with pytest.raises(MigrationError) as info:
        schema.migrate(enc({"other": 1}), "v1")
    assert isinstance(info.value.__cause__, msgspec.ValidationError)


def test_invalid_migration_result_raises_validation_error() -> None:
    schema = Schema(V2, "v2").step("v1", lambda d: {"name": 5, "extra": "x"})
    with pytest.raises(ValidationError) as info:
        schema.migrate(enc({"name": "a"}), "v1")
    assert [e.loc for e in info.value.errors] == ["/name"]


def test_step_leading_nowhere_is_reported() -> None:
    schema = Schema(Hops, "v3").step("v1", hop("a"), to="v1.5")
    with pytest.raises(ValueError, match=r"'v1\.5'"):
        schema.path("v1")
    with pytest.raises(ValueError, match="no step reaches"):
        schema.migrate(EMPTY_HOPS, "v1")
    schema.plus("v1.5", hop("b"))  # completing the graph fixes it
    assert schema.path("v1") == [("v1", "v1.5"), ("v1.5", "v3")]


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda s: s.step("v3", hop("x"), to="v4"), ValueError, "target version"),
        (lambda s: s.step("v1", hop("x"), to="v1"), ValueError, "own source"),
        (lambda s: s.step("v1", hop("x")).step("v1", hop("y")), ValueError, "own source"),
        (lambda s: s.step("v1", "not callable"), TypeError, "callable"),
        (lambda s: s.step(1, hop("x")), TypeError, "from_ver"),
        (lambda s: s.step("", hop("x")), TypeError, "from_ver"),
        (lambda s: s.step(re.compile(b"v1"), hop("x")), TypeError, "from_ver"),
        (lambda s: s.step("v1", hop("x"), to=""), TypeError, "to must"),
        (lambda s: s.step("v1", hop("x"), source_type=object()), TypeError, "source_type"),
    ],
)
def test_bad_step_definitions(
    build: Callable[[Schema[Hops]], object], error: type[Exception], match: str
) -> None:
    schema = Schema(Hops, "v3")
    with pytest.raises(error, match=match):
        build(schema)


def test_failed_definition_leaves_the_chain_intact() -> None:
    schema = Schema(Hops, "v3").step("v1", hop("a"))
    with pytest.raises(ValueError, match="cannot infer"):
        schema.step(re.compile("v2"), hop("b"))
    assert schema.path("v1") == [("v1", "v3")]


def test_bad_version_is_rejected() -> None:
    with pytest.raises(TypeError, match="version"):
        Schema(V1, "")
    with pytest.raises(TypeError):
        Schema(dict, "v1")


def test_revision_not_migrated_error() -> None:
    err = RevisionNotMigratedError("res-1", "rev-2", "v1", "v3")
    assert isinstance(err, ConflictError)
    assert err.code == "revision_not_migrated"
    assert (err.resource_id, err.revision_id) == ("res-1", "rev-2")
    assert (err.revision_schema_version, err.current_schema_version) == ("v1", "v3")
    assert "migrate('res-1', revision_id='rev-2')" in str(err)
    assert err.details()["current_schema_version"] == "v3"


# -- properties and validators --------------------------------------------------------------------


def test_properties() -> None:
    schema = Schema(V3, "v3")
    assert schema.version == schema.schema_version == "v3"
    assert schema.resource_type is V3
    assert schema.struct_type is V3
    assert not schema.has_migration
    assert not schema.has_validator
    assert schema.raw_validator is None
    schema.validate(V3(full_name="a", extra="b"))  # no validator: nothing happens
    assert schema.step("v2", v2_to_v3) is schema
    assert schema.has_migration


def test_callable_validator() -> None:
    def check(data: V1) -> bool:
        if not data.name:
            raise ValueError("name must not be empty")
        return False  # the result is ignored

    schema = Schema(V1, "v1", validator=check)
    assert schema.has_validator
    assert schema.raw_validator is check
    schema.validate(V1(name="a"))
    with pytest.raises(ValidationError, match="must not be empty") as info:
        schema.validate(V1(name=""))
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.errors[0].loc == ""


def test_validator_validation_errors_pass_through() -> None:
    own = ValidationError("bad")

    def check(data: Any) -> None:
        raise own

    with pytest.raises(ValidationError) as info:
        Schema(V1, "v1", validator=check).validate(V1(name="a"))
    assert info.value is own


def test_ivalidator_instance_and_class() -> None:
    class NoBob(IValidator):
        def validate(self, data: Any) -> None:
            if data.name == "bob":
                raise ValueError("no bobs")

    for validator in (NoBob(), NoBob):
        schema = Schema(V1, "v1", validator=validator)
        assert schema.has_validator
        assert schema.raw_validator is validator
        schema.validate(V1(name="alice"))
        with pytest.raises(ValidationError, match="no bobs"):
            schema.validate(V1(name="bob"))


def test_bad_validators() -> None:
    with pytest.raises(TypeError, match="IValidator"):
        Schema(V1, "v1", validator=int)
    with pytest.raises(TypeError, match="validator"):
        Schema(V1, "v1", validator=42)  # type: ignore[arg-type]


def test_pydantic_model_validator() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Tag(pydantic.BaseModel):
        label: str = pydantic.Field(max_length=3)

    class Rules(pydantic.BaseModel):
        name: str = pydantic.Field(min_length=2)
        tags: list[Tag] = []

    class Doc(msgspec.Struct):
        name: str
        tags: list[dict[str, str]] = []

    schema = Schema(Doc, "v1", validator=Rules)
    assert schema.has_validator
    schema.validate(Doc(name="ok", tags=[{"label": "abc"}]))
    with pytest.raises(ValidationError) as info:
        schema.validate(Doc(name="x", tags=[{"label": "abc"}, {"label": "long"}]))
    assert [e.loc for e in info.value.errors] == ["/name", "/tags/1/label"]
    assert not isinstance(info.value, pydantic.ValidationError)
    assert '"/tags/1/label"' in str(info.value)


def test_pydantic_resource_type() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Old(pydantic.BaseModel):
        name: str

    class User(pydantic.BaseModel):
        name: str = pydantic.Field(min_length=2)
        age: int = 0

    seen: list[Any] = []

    def upgrade(data: Any) -> Any:
        seen.append(data)
        return User(name=data.name, age=7)

    schema: Schema[Any] = Schema(User, "v2").step("v1", upgrade, source_type=Old)
    assert schema.resource_type is User
    assert schema.has_validator
    assert schema.raw_validator is None
    result = schema.migrate(enc({"name": "ann"}), "v1")
    assert isinstance(result, schema.struct_type)
    assert (result.name, result.age) == ("ann", 7)
    assert isinstance(seen[0], Old)
    schema.validate(result)
    schema.validate(User(name="bob"))
    with pytest.raises(ValidationError) as info:
        schema.validate(schema.struct_type(name="x"))
    assert [e.loc for e in info.value.errors] == ["/name"]


# -- property-based: shortest paths ---------------------------------------------------------------


def _shortest_paths(edges: list[tuple[int, int]], source: int, target: int) -> list[list[int]]:
    """Every path (as edge indices) of minimal length from source to target, by brute force."""
    frontier: list[tuple[int, list[int]]] = [(source, [])]
    for _ in range(len(edges) + 1):
        done = [path for node, path in frontier if node == target]
        if done:
            return done
        frontier = [
            (b, [*path, i])
            for node, path in frontier
            for i, (a, b) in enumerate(edges)
            if a == node
        ]
        if not frontier:
            break
    return []


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_graphs_migrate_along_a_shortest_path(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=2, max_value=6), label="versions")
    target = n - 1
    pairs = st.tuples(st.integers(0, n - 2), st.integers(0, n - 1)).filter(lambda e: e[0] != e[1])
    drawn = data.draw(st.lists(pairs, max_size=14), label="edges")
    reaching = {target}
    while more := {a for a, b in drawn if b in reaching} - reaching:
        reaching |= more
    edges = [(a, b) for a, b in drawn if b in reaching]  # steps leading nowhere are errors
    assume(edges)
    schema = Schema(Hops, f"v{target}")
    for i, (a, b) in enumerate(edges):
        schema.plus(f"v{a}", hop(str(i)), to=f"v{b}")
    for source in range(n - 1):
        best = _shortest_paths(edges, source, target)
        if not best:
            assert not schema.can_migrate(f"v{source}")
            with pytest.raises(MigrationPathError):
                schema.migrate(EMPTY_HOPS, f"v{source}")
            continue
        taken = [int(label) for label in schema.migrate(EMPTY_HOPS, f"v{source}").hops]
        assert taken in best  # a valid path of minimal length
        assert taken == min(best)  # ties: the edge defined first, at the first difference
        assert schema.path(f"v{source}") == [(f"v{edges[i][0]}", f"v{edges[i][1]}") for i in taken]
