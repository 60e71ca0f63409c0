"""How SpecStar's SQL is spelled for PostgreSQL: column types, arrays, and text index keys.

A B-tree or GIN index entry has a size limit and a text value has none, so an indexed text
column is indexed through its first :data:`KEY_CHARS` characters (and a list of texts through
the ``specstar_heads`` function, the same prefixes of its elements); every condition tests the
prefix, which the index answers, and then the whole value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from specstar.core.spi import Kind

from ._dialect import Dialect, Sql
from ._layout import to_utc

__all__ = ["ARRAY_TYPES", "KEY_CHARS", "SCALAR_TYPES", "PostgresDialect"]

#: The column type of a scalar of each kind.
SCALAR_TYPES: dict[str, str] = {
    "str": 'text COLLATE "C"',
    "int": "bigint",
    "float": "double precision",
    "bool": "boolean",
    "datetime": "timestamptz",
}
#: The column type of a list of each kind.
ARRAY_TYPES: dict[str, str] = {
    "str": "text[]",
    "int": "bigint[]",
    "float": "double precision[]",
    "bool": "boolean[]",
    "datetime": "timestamptz[]",
}
#: Characters of an indexed text value (or list element) its index entry holds: a B-tree or
#: GIN entry holds at most about 2,700 bytes, and with ``resource_id`` (at most 200
#: characters) a B-tree entry stays well below that (4 bytes per character at worst).
KEY_CHARS = 256
#: The function a list of texts is indexed through (per schema): its elements' prefixes.
_HEADS = "specstar_heads"
#: The function a unique text is indexed through (per schema): the SHA-256 of its UTF-8.
_DIGEST = "specstar_digest"


class PostgresDialect(Dialect):
    """PostgreSQL spellings: native types, arrays with ``@>``/``&&`` (GIN-indexed).

    Text values of any length can be indexed: a text column's B-tree holds the first
    :data:`KEY_CHARS` characters of each value and a list of texts is GIN-indexed through
    ``specstar_heads`` (the same prefixes of its elements); every condition tests the prefix
    (answered by the index) and then the full value. A ``Unique`` text is enforced by a unique
    index on ``specstar_digest`` (the SHA-256 of the value), so two values are refused as
    duplicates only when they are equal (or their SHA-256 collide, which no known pair does).

    Args:
        prefix: the schema prefix (``'"schema".'``) of the ``specstar_heads`` function.
    """

    index_prefix = KEY_CHARS

    def __init__(self, prefix: str = "") -> None:
        self.heads = f"{prefix}{_HEADS}"
        self.digest = f"{prefix}{_DIGEST}"

    def encode(self, kind: Kind, value: Any) -> Any:
        if value is None:
            return None
        if kind == "datetime":
            return to_utc(value)
        if kind == "float":
            return float(value)
        return value

    def encode_list(self, kind: Kind, values: Sequence[Any]) -> Any:
        return [self.encode(kind, v) for v in values]

    def list_contains(self, column: str, kind: Kind, value: Any) -> Sql:
        test = Sql(f"{column} @> CAST(? AS {ARRAY_TYPES[kind]})", ([value],))
        if kind != "str":
            return test
        return (
            Sql(f"{self.heads}({column}) @> CAST(? AS text[]) AND ", ([value[:KEY_CHARS]],)) + test
        )

    def list_contains_any(self, column: str, kind: Kind, values: Sequence[Any]) -> Sql:
        test = Sql(f"{column} && CAST(? AS {ARRAY_TYPES[kind]})", (list(values),))
        if kind != "str":
            return test
        heads = list(dict.fromkeys(v[:KEY_CHARS] for v in values))
        return Sql(f"{self.heads}({column}) && CAST(? AS text[]) AND ", (heads,)) + test

    def substring(self, column: str, needle: str) -> Sql:
        return Sql(f"strpos({column}, ?) > 0", (needle,))

    def prefix(self, column: str, length: int) -> str:
        return f"left({column}, {int(length)})"

    def suffix(self, column: str, length: int) -> str:
        return f"right({column}, {int(length)})"

    _upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def fold(self, column: str) -> str:
        # translate() maps exactly A-Z, whatever the database's locale and collation
        return f"translate({column}, '{self._upper}', '{self._upper.lower()}')"

    def strip(self, column: str) -> str:
        return f"btrim({column}, ?)"

    def text_length(self, column: str) -> str:
        return f"char_length({column})"

    def list_length(self, column: str) -> str:
        return f"cardinality({column})"

    def elements(self, column: str, kind: Kind) -> tuple[str, str]:
        # array elements take the database's collation: compare text by code point like the
        # scalar columns (text COLLATE "C")
        value = 'e.v COLLATE "C"' if kind == "str" else "e.v"
        return f"unnest({column}) AS e(v)", value
