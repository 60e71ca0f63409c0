"""A tour of SpecStar's core, with nothing but ``specstar-core``.

Creates a few books, changes them, searches them, shows their history, refuses a duplicate
unique value, and deletes and restores one. Run it from the repository root::

    make quickstart

which runs ``python -m examples.quickstart`` in the workspace environment (built on first
use). In an environment of your own where ``specstar-core`` is installed, run
``python -m examples.quickstart`` from the repository root.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from specstar.core import QB, Query, ResourceManager, Sort, Unique, UniqueConstraintError


class Book(msgspec.Struct, kw_only=True):
    title: str
    isbn: Annotated[str, Unique()]
    year: int
    rating: float | None = None
    tags: list[str] = []


def main() -> None:
    books = ResourceManager(Book, indexed_fields=["title", "year", "rating", "tags"])
    with books.using(user="librarian"):
        dune = books.create(Book(title="Dune", isbn="978-0441013593", year=1965))
        books.create(Book(title="Neuromancer", isbn="978-0441569595", year=1984, rating=4.1))
        books.create(Book(title="Solaris", isbn="978-0156027601", year=1961, rating=4.0))
        books.patch(dune.resource_id, [{"op": "replace", "path": "/rating", "value": 4.3}])
        books.merge_patch(dune.resource_id, {"tags": ["classic", "desert"]})

        print("Books before 1970, best rated first:")
        query = Query(where=QB["year"] < 1970, sorts=(Sort.parse("-rating"),))
        for row in books.list(query):
            print(f"  {row.data.title} ({row.data.year}) rating={row.data.rating}")  # type: ignore[union-attr]

        print("\nHistory of Dune:")
        for info in books.list_revision_infos(dune.resource_id):
            data = books.get(dune.resource_id, revision_id=info.revision_id).data
            print(
                f"  {info.revision_id} by {info.created_by}: rating={data.rating} tags={data.tags}"
            )

        try:
            books.create(Book(title="Dune (copy)", isbn="978-0441013593", year=1965))
        except UniqueConstraintError as exc:
            print(f"\nRefused a duplicate: {exc}")

        books.delete(dune.resource_id)
        print(f"\nAfter a soft delete, {books.count()} books are listed;", end=" ")
        books.restore(dune.resource_id)
        print(f"after restore, {books.count()}.")


if __name__ == "__main__":
    main()
