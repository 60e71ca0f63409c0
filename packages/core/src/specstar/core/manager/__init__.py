"""The ResourceManager, composed by concern.

* :mod:`._manager` — the public verbs (:class:`ResourceManager`, :class:`ResourceOps`);
* :mod:`._guard` — context resolution and every permission decision;
* :mod:`._binding` — input coercion, encoding, hashing and index extraction;
* :mod:`._write_path` — the retry skeleton, pipeline stages, commit and events;
* :mod:`._changes` — what each write changes, as steps of the write path;
* :mod:`._reader` — query resolution, scoped searches and listings;
* :mod:`._maintenance` — ``reindex`` and ``migrate_all``;
* :mod:`._integrity` — ``restrict``/``cascade``/``set_null`` across managers;
* :mod:`._defaults` — the composition point for the default storage.
"""

from ._manager import ResourceManager, ResourceOps

__all__ = ["ResourceManager", "ResourceOps"]
