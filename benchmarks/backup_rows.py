"""The rows of the backup section (``backup_bench.py``), standard library only: SpecStar's side
and the peer's backup driver (``peer_backup_driver.py``, which runs in the peer's venv and
loads this file by path) store the same ``N`` books with the same :data:`REVISIONS` revisions.
"""

from __future__ import annotations

from typing import Any

#: Revisions per book: the create and two updates.
REVISIONS = 3
#: The model's name in both stores.
MODEL = "book"
#: Its indexed fields in both stores (``isbn`` is ``Unique``, which indexes it too).
INDEXED = ["year", "tags"]


def book(i: int, revision: int) -> dict[str, Any]:
    """The fields of book ``i`` at revision ``revision`` (1 ... :data:`REVISIONS`)."""
    return {
        "title": f"Book {i} edition {revision}",
        "isbn": f"isbn-{i}",
        "year": 1900 + (i + revision) % 120,
        "tags": ["bench", f"t{i % 7}"],
    }
