"""The field registry: which column holds which indexed path, and whether it is backfilled.

One table, ``specstar_fields``, shared by every resource type of a database (or schema): a row
per ``(resource_name, path, kind, is_list)`` with its column number ``col`` and a ``backfilled``
flag. Column numbers are never reused, so a path whose kind changes gets a fresh, empty column,
and a path that left the model and came back is backfilled again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from specstar.core import IndexSpec, StorageError

from ._backend import Backend, Tx, Violation
from ._layout import IndexColumn, ident

__all__ = ["Registry", "path_of"]


class Registry:
    """The registry rows of one resource type."""

    def __init__(self, backend: Backend, resource_name: str, base: str) -> None:
        self._backend = backend
        self._name = resource_name
        self._base = base
        self._table = f"{backend.prefix}{ident('specstar_fields')}"
        self._meta = f"{backend.prefix}{ident(base + '_meta')}"

    def sync(self, spec: IndexSpec) -> tuple[dict[str, IndexColumn], frozenset[str]]:
        """Create what ``spec`` needs (tables, columns, indexes, registry rows), serialised
        against other processes; returns the columns and the paths not yet backfilled.

        On an empty table every path counts as backfilled (there is nothing to backfill).

        Raises:
            StorageError: a new unique index cannot be built over existing duplicates.
        """
        b = self._backend
        with b.ddl(self._base) as tx:
            b.create_tables(tx, self._base)
            rows = tx.all(
                f"SELECT path, kind, is_list, col, backfilled FROM {self._table} "
                "WHERE resource_name = ?",
                (self._name,),
            )
            known = {(r[0], r[1], bool(r[2])): (int(r[3]), bool(r[4])) for r in rows}
            has_rows = tx.one(f"SELECT 1 FROM {self._meta} LIMIT 1") is not None
            next_number = max((n for n, _ in known.values()), default=0) + 1
            columns: dict[str, IndexColumn] = {}
            stale: set[str] = set()
            for f in spec.fields:
                number, done = known.get((f.path, f.kind, f.is_list), (0, False))
                if number == 0:
                    number, done = next_number, not has_rows
                    next_number += 1
                    tx.run(
                        f"INSERT INTO {self._table} "
                        "(resource_name, path, kind, is_list, col, backfilled) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            self._name,
                            f.path,
                            f.kind,
                            self._bool(f.is_list),
                            number,
                            self._bool(done),
                        ),
                    )
                elif not done and not has_rows:
                    self.set_backfilled(tx, [number], True)
                    done = True
                if not done:
                    stale.add(f.path)
                columns[f.path] = IndexColumn(f, number)
            in_spec = {c.number for c in columns.values()}
            left_out = [n for n, done in known.values() if n not in in_spec and done]
            if has_rows and left_out:  # no longer maintained: their values go stale
                self.set_backfilled(tx, left_out, False)
            unique = frozenset(c.number for c in columns.values() if c.field.unique)
            try:
                b.sync_columns(tx, self._base, list(columns.values()), unique)
            except Violation as exc:
                raise StorageError(
                    f"{self._name}: cannot create the unique index of "
                    f"{path_of(columns, exc.column)}: existing resources share values"
                ) from None
        return columns, frozenset(stale)

    def mark_backfilled(self, numbers: Sequence[int]) -> None:
        """Record that these columns hold the right value for every resource."""
        with self._backend.ddl(self._base) as tx:
            self.set_backfilled(tx, numbers, True)

    def set_backfilled(self, tx: Tx, numbers: Sequence[int], done: bool) -> None:
        for number in numbers:
            tx.run(
                f"UPDATE {self._table} SET backfilled = ? WHERE resource_name = ? AND col = ?",
                (self._bool(done), self._name, number),
            )

    def _bool(self, value: bool) -> object:
        return self._backend.dialect.encode("bool", value)


def path_of(columns: Mapping[str, IndexColumn], column: str | None) -> str:
    """The indexed path stored in the ``ix_<n>`` column (for error messages)."""
    for path, c in columns.items():
        if c.value == column:
            return path
    return str(column)
