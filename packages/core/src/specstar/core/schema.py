"""Schema versions, migrations and validation of one resource type (see :class:`Schema`)."""

from __future__ import annotations

import abc
import io
import re
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Generic, Literal, TypeVar, cast

import msgspec

from .codec import Codec
from .errors import (
    BulkMigrationError,
    FieldError,
    MigrationError,
    MigrationPathError,
    RevisionNotMigratedError,
    ValidationError,
)
from .jsonpointer import format_pointer
from .models import _is_pydantic_instance, _is_pydantic_model_type, as_struct_type, decode_data
from .pipeline import IValidator, _as_validation_error

__all__ = [
    "BulkMigrationError",
    "IMigration",
    "MigrationError",
    "MigrationPathError",
    "RevisionNotMigratedError",
    "Schema",
]

T = TypeVar("T")
SourceVersion = str | re.Pattern[str] | None
ValidatorArg = Callable[[Any], object] | IValidator | type | None
_Check = Callable[[Any], object]
StepFn = Callable[[Any], Any]
_Hop = tuple[str | None, str, "_Step"]


@dataclass(eq=False)
class _Step:
    from_ver: SourceVersion
    fn: StepFn
    to: str | None  # explicit or inferred; None means the schema's target version
    source_type: Any
    decoders: dict[str, Any]  # encoding -> msgspec decoder for source_type

    @property
    def name(self) -> str:
        return str(getattr(self.fn, "__qualname__", None) or repr(self.fn))

    def target(self, version: str) -> str:
        return version if self.to is None else self.to


def _decoders_for(source_type: Any) -> dict[str, Any]:
    if source_type is None:
        return {}
    tp = Any if _is_pydantic_model_type(source_type) else source_type  # Pydantic: via builtins
    try:
        return {"json": msgspec.json.Decoder(tp), "msgpack": msgspec.msgpack.Decoder(tp)}
    except TypeError as exc:
        raise TypeError(f"unsupported source_type {source_type!r}: {exc}") from None


def _pydantic_check(model: Any) -> _Check:
    def check(data: Any) -> object:
        plain = data.model_dump(mode="json") if _is_pydantic_instance(data) else data
        return model.model_validate(msgspec.to_builtins(plain))

    return check


def _pydantic_error(exc: ValueError) -> ValidationError | None:
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or not isinstance(exc, pydantic.ValidationError):
        return None
    errors = [
        FieldError(format_pointer(str(p) for p in e["loc"]), str(e["msg"]))
        for e in exc.errors(include_url=False)
    ]
    where = "; ".join(f'at "{e.loc}": {e.message}' for e in errors)
    return ValidationError(f"invalid {exc.title} data {where}", errors)


def _normalize_validator(validator: ValidatorArg, resource_type: Any) -> _Check | None:
    if validator is None:
        return _pydantic_check(resource_type) if _is_pydantic_model_type(resource_type) else None
    if isinstance(validator, IValidator):
        return validator.validate
    if isinstance(validator, type):
        if issubclass(validator, IValidator):
            return validator().validate
        if _is_pydantic_model_type(validator):
            return _pydantic_check(validator)
        raise TypeError(f"validator class {validator.__qualname__} is no IValidator or Pydantic")
    if callable(validator):
        return validator
    raise TypeError(f"validator must be a callable, an IValidator or a class, not {validator!r}")


def make_validator(validator: ValidatorArg, resource_type: Any = None) -> Callable[[Any], None]:
    """A checking function for any accepted validator form: a callable, an ``IValidator``
    instance or subclass, or a Pydantic model class (``None`` with a Pydantic
    ``resource_type`` validates with that model). It raises :class:`ValidationError` with
    field errors; a validator that checks nothing gives a function that accepts everything.
    """
    check = _normalize_validator(validator, resource_type)

    def validate(data: Any) -> None:
        if check is None:
            return
        try:
            check(data)
        except ValidationError:
            raise
        except ValueError as exc:
            raise (_pydantic_error(exc) or _as_validation_error(exc)) from exc

    return validate


class IMigration(abc.ABC):
    """A migration as one object (the older form; prefer :class:`Schema` steps).

    ``schema_version`` is the version new data is written with; ``migrate`` brings stored
    data of any other version to it. Give it as ``add_model(Model, migration=...)`` or wrap
    it with :meth:`Schema.from_legacy`.
    """

    @property
    @abc.abstractmethod
    def schema_version(self) -> str:
        """The target schema version."""

    @abc.abstractmethod
    def migrate(self, data: IO[bytes], schema_version: str | None) -> Any:
        """The data (a binary stream in the stored encoding) of ``schema_version`` (``None``:
        written before versioning) as data of :attr:`schema_version`."""


class Schema(Generic[T]):
    """Target schema version, migration steps and validator of one resource type.

    Each step is an edge ``from_ver -> to``. ``.step()`` extends the current chain, ``.plus()``
    starts a new one. Without ``to``, a step leads to the next step's ``from_ver`` in its chain
    (a literal version), or, last in its chain, to the target. A regex ``from_ver`` migrates
    from every known version (all literal versions of the steps, and the target) it fully
    matches, except its own ``to`` and the target, and from any version found on stored data
    that it fully matches (data written at ``v0.3`` migrates by a ``re.compile(r"v0[.].*")``
    step even though no step names ``v0.3``). ``None`` is the version of data written
    before versioning: ``.step(None, fn)`` migrates it; regexes never match it. A schema
    without steps is a plain version bump: data of every version is decoded as it is.

    :meth:`migrate` takes a shortest path (breadth-first search); among shortest paths, the
    first hop where they differ uses the edge defined first. Cycles are harmless; a step to a
    version the target is unreachable from is an error (``ValueError`` on first use).

    A step function receives an ``IO[bytes]`` of the data in the stored encoding (see
    :meth:`set_encoding`), or, with ``source_type``, the data decoded as that type. It returns
    a Struct, a Pydantic instance, builtins or bytes. A result that is an instance of the next
    step's ``source_type`` is passed on as it is, any other is encoded for the next step. The
    final result is validated into :attr:`struct_type`.

    Args:
        resource_type: the model class (a ``msgspec.Struct`` or Pydantic v2 model subclass).
        version: the target schema version, which new data is written with.
        validator: a callable ``fn(data)`` (result ignored), an ``IValidator`` instance or
            subclass (instantiated), or a Pydantic model class; by default a Pydantic
            ``resource_type`` validates.
    """

    def __init__(self, resource_type: type[T], version: str, validator: ValidatorArg = None):
        if not isinstance(version, str) or not version:
            raise TypeError(f"version must be a non-empty string, not {version!r}")
        self._legacy: IMigration | None = None
        self._resource_type = resource_type
        self._struct_type = as_struct_type(resource_type)
        self._version = version
        self._raw_validator = validator
        self._check = _normalize_validator(validator, resource_type)
        self._validate = make_validator(validator, resource_type)
        self._steps: list[_Step] = []
        self._last: _Step | None = None  # last step of the current chain
        self._graph_cache: dict[str | None, list[tuple[str, _Step]]] | None = None
        self.set_encoding("json")

    @property
    def version(self) -> str:
        """The target schema version (alias: ``schema_version``)."""
        return self._version

    schema_version = version

    @property
    def resource_type(self) -> type[T]:
        """The model class."""
        return self._resource_type

    @property
    def struct_type(self) -> type[msgspec.Struct]:
        """The ``msgspec.Struct`` type data is stored and migrated as."""
        return self._struct_type

    @property
    def has_migration(self) -> bool:
        """Whether any migration step is defined (or a legacy migration is wrapped)."""
        return bool(self._steps) or self._legacy is not None

    @classmethod
    def from_legacy(cls, migration: IMigration, resource_type: type[T]) -> Schema[T]:
        """A Schema wrapping an :class:`IMigration`: its ``schema_version`` is the target,
        and data of any other version is handed to its ``migrate`` (which may return a
        Struct, a Pydantic instance, builtins or bytes in the stored encoding).

        ``add_model(Model, migration=legacy)`` calls this; ``resource_type`` is the model.

        Raises:
            TypeError: ``migration`` has no ``migrate`` method or no ``schema_version``.
        """
        version = getattr(migration, "schema_version", None)
        if not callable(getattr(migration, "migrate", None)) or not isinstance(version, str):
            raise TypeError(
                f"{migration!r} is no IMigration: it needs migrate(data, schema_version) and "
                "a str schema_version"
            )
        schema = cls(resource_type, version)
        schema._legacy = migration
        return schema

    @property
    def legacy_migration(self) -> IMigration | None:
        """The :class:`IMigration` this schema wraps (:meth:`from_legacy`), if any."""
        return self._legacy

    @property
    def has_validator(self) -> bool:
        """Whether :meth:`validate` checks anything (a validator, or a Pydantic model)."""
        return self._check is not None

    @property
    def raw_validator(self) -> ValidatorArg:
        """The ``validator`` argument as given."""
        return self._raw_validator

    def set_encoding(self, encoding: str) -> None:
        """Set the encoding of stored data (``"json"``, the default, or ``"msgpack"``), which
        is also used between migration steps; another value raises ``ValueError``."""
        if encoding not in ("json", "msgpack"):
            raise ValueError(f"encoding must be 'json' or 'msgpack', not {encoding!r}")
        self._codec = Codec(self._struct_type, cast(Literal["json", "msgpack"], encoding))
        self._encoding = encoding

    def _no_legacy(self) -> None:
        if self._legacy is not None:
            raise ValueError("a Schema wrapping a legacy IMigration takes no steps")

    def step(
        self, from_ver: SourceVersion, fn: StepFn, *, to: str | None = None, source_type: Any = None
    ) -> Schema[T]:
        """Append a migration step to the current chain.

        Args:
            from_ver: the version migrated from: a string, ``None`` or a compiled regex.
            fn: the transform; receives an ``IO[bytes]``, or an instance of ``source_type``.
            to: the version migrated to; inferred when omitted (see the class).
            source_type: the type ``fn`` receives the data decoded as.

        Returns:
            This schema, for chaining.

        Raises:
            TypeError: bad argument types, or a ``source_type`` msgspec cannot decode.
            ValueError: a step from the target or to its own source, or the previous step's
                ``to`` cannot be inferred (this ``from_ver`` is not a literal version).
        """
        self._no_legacy()
        self._add(from_ver, fn, to, source_type, new_chain=False)
        return self

    def plus(
        self, from_ver: SourceVersion, fn: StepFn, *, to: str | None = None, source_type: Any = None
    ) -> Schema[T]:
        """Start a new chain with this step; the previous chain's last step leads to its
        ``to`` or the target. Arguments, result and errors as for :meth:`step`."""
        self._no_legacy()
        self._add(from_ver, fn, to, source_type, new_chain=True)
        return self

    def _add(
        self, from_ver: SourceVersion, fn: Any, to: Any, source_type: Any, *, new_chain: bool
    ) -> None:
        pattern_ok = isinstance(from_ver, re.Pattern) and isinstance(from_ver.pattern, str)
        if not (pattern_ok or from_ver is None or (isinstance(from_ver, str) and from_ver)):
            raise TypeError(f"from_ver must be a str, None or a compiled regex, not {from_ver!r}")
        if from_ver == self._version:
            raise ValueError(f"a step from the target version {from_ver!r} would never run")
        if not callable(fn):
            raise TypeError(f"migration step function must be callable, not {fn!r}")
        if to is not None and (not isinstance(to, str) or not to):
            raise TypeError(f"to must be a non-empty string or None, not {to!r}")
        if to is not None and to == from_ver:
            raise ValueError(f"step {from_ver!r} -> {to!r} leads to its own source version")
        new = _Step(from_ver, fn, to, source_type, _decoders_for(source_type))
        prev = None if new_chain else self._last
        if prev is not None and prev.to is None:
            if not isinstance(from_ver, str):
                raise ValueError(
                    f"cannot infer where step {prev.from_ver!r} ({prev.name}) leads: the next "
                    f"step starts from {from_ver!r}, not a literal version; pass to=... to "
                    "the previous step, or add this one with plus()"
                )
            if from_ver == prev.from_ver:
                raise ValueError(f"step {from_ver!r} ({prev.name}) leads to its own source")
            prev.to = from_ver
        self._steps.append(new)
        self._last = new
        self._graph_cache = None

    def _known_versions(self) -> list[str | None]:
        found = [s.from_ver for s in self._steps if not isinstance(s.from_ver, re.Pattern)]
        found += [s.to for s in self._steps if s.to is not None]
        return list(dict.fromkeys([*found, self._version]))

    def _graph(self) -> dict[str | None, list[tuple[str, _Step]]]:
        graph = self._graph_cache
        if graph is not None:
            return graph
        target, known = self._version, self._known_versions()
        graph = {}
        parents: dict[str | None, set[str | None]] = {}
        for step in self._steps:
            pattern, dst = step.from_ver, step.target(target)
            sources: list[str | None]
            if isinstance(pattern, re.Pattern):
                sources = [
                    v for v in known if v and v not in (dst, target) and pattern.fullmatch(v)
                ]
            else:
                sources = [pattern]
            for src in sources:
                graph.setdefault(src, []).append((dst, step))
                parents.setdefault(dst, set()).add(src)
        reaching: set[str | None] = {target}
        while more := {s for d in reaching for s in parents.get(d, ())} - reaching:
            reaching |= more
        for step in self._steps:
            if (dst := step.target(target)) not in reaching:
                raise ValueError(
                    f"migration step {step.from_ver!r} -> {dst!r} ({step.name}) leads to a "
                    f"version from which no step reaches the target version {target!r}"
                )
        self._graph_cache = graph
        return graph

    def _find_path(self, source: str | None) -> list[_Hop]:
        graph, target = self._graph(), self._version
        if isinstance(source, str) and source not in graph:  # a version only storage knows
            found = [
                (step.target(target), step)
                for step in self._steps
                if isinstance(step.from_ver, re.Pattern)
                and step.from_ver.fullmatch(source)
                and step.target(target) != source
            ]
            if found:
                graph = {**graph, source: found}
        parent: dict[str | None, tuple[str | None, _Step]] = {}
        queue: deque[str | None] = deque([source])
        seen: set[str | None] = {source}
        while queue and target not in seen:
            node = queue.popleft()
            for dst, step in graph.get(node, ()):
                if dst not in seen:
                    seen.add(dst)
                    parent[dst] = (node, step)
                    queue.append(dst)
        if target not in parent:
            raise MigrationPathError(source, target, self._known_versions())
        hops: list[_Hop] = []
        dst = target
        while dst != source:
            src, step = parent[dst]
            hops.append((src, dst, step))
            dst = cast(str, src)  # None only if it is the source, which ends the loop
        return hops[::-1]

    def path(self, from_version: str | None) -> list[tuple[str | None, str]]:
        """The ``(from, to)`` hops :meth:`migrate` runs for data of ``from_version``: empty
        when it decodes the data as it is. Raises like :meth:`migrate`."""
        if from_version == self._version or not self.has_migration:
            return []
        if self._legacy is not None:
            return [(from_version, self._version)]
        return [(src, dst) for src, dst, _ in self._find_path(from_version)]

    def can_migrate(self, from_version: str | None) -> bool:
        """Whether :meth:`migrate` can bring data of ``from_version`` to the target version."""
        try:
            self.path(from_version)
        except MigrationPathError:
            return False
        return True

    def migrate(self, data: bytes | IO[bytes], schema_version: str | None) -> T:
        """Migrate stored data from ``schema_version`` to the target version.

        Args:
            data: the stored bytes (or a binary stream of them), in :attr:`encoding`.
            schema_version: the version the data was written with (``None``: unversioned).

        Returns:
            An instance of :attr:`struct_type` (the model itself for Struct models).

        Raises:
            MigrationPathError: no path leads from ``schema_version`` to the target.
            MigrationError: a step function, or preparing its input, failed.
            ValidationError: the (migrated) data does not fit the model.
            ValueError: a step leads to a version the target is unreachable from.
        """
        raw = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else data.read()
        if schema_version == self._version or not self.has_migration:
            return self._decode(raw)
        if self._legacy is not None:
            legacy = self._legacy
            try:
                result: Any = legacy.migrate(io.BytesIO(raw), schema_version)
            except Exception as exc:
                name = type(legacy).__qualname__
                raise MigrationError(schema_version, self._version, name, exc) from exc
            if isinstance(result, bytes | bytearray):
                return self._decode(bytes(result))
            if _is_pydantic_instance(result):
                result = result.model_dump(mode="python")
            return cast(T, decode_data(self._struct_type, result))
        value: Any = raw
        for src, dst, step in self._find_path(schema_version):
            try:
                value = step.fn(self._step_input(step, value))
            except Exception as exc:
                raise MigrationError(src, dst, step.name, exc) from exc
        if isinstance(value, bytes | bytearray):
            return self._decode(bytes(value))
        return cast(T, decode_data(self._struct_type, value))

    def _step_input(self, step: _Step, value: Any) -> Any:
        tp = step.source_type
        if isinstance(value, bytes | bytearray):
            raw = bytes(value)
        elif isinstance(tp, type) and isinstance(value, tp):  # not for dict[str, int] & co
            return value
        else:
            plain = value.model_dump(mode="python") if _is_pydantic_instance(value) else value
            encode = msgspec.json.encode if self._encoding == "json" else msgspec.msgpack.encode
            raw = encode(plain)
        if tp is None:
            return io.BytesIO(raw)
        decoded = step.decoders[self._encoding].decode(raw)
        return tp.model_validate(decoded) if _is_pydantic_model_type(tp) else decoded

    def _decode(self, raw: bytes) -> T:
        untyped = msgspec.json.decode if self._encoding == "json" else msgspec.msgpack.decode
        try:
            try:
                return cast(T, self._codec.decode(raw))
            except msgspec.ValidationError:  # decode again, for an error that locates the problem
                plain = untyped(raw)
        except msgspec.DecodeError as exc:
            msg = f"stored data is not valid {self._encoding}: {exc}"
            raise ValidationError(msg, [FieldError("", msg)]) from None
        return cast(T, decode_data(self._struct_type, plain))

    def validate(self, data: Any) -> None:
        """Run the validator, if any, on ``data`` (usually a :attr:`struct_type` instance).

        Raises:
            ValidationError: the validator raised a ``ValueError`` (Pydantic's included).
        """
        self._validate(data)
