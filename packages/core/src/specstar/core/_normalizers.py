"""Named text normalisers for ``Unique(normalize=...)``: the comparison key of a value.

Normalisers are named, not callables: the key is stored in a unique index and backfilled by
every process, so what makes it must be known by name, the same everywhere and recorded with
the index (the key's indexed path names its steps, so changing them builds a new index).

========== ====================================================================================
name       what it does
========== ====================================================================================
invisible  removes format characters (Unicode category Cf: zero-width space and joiners, word
           joiner, soft hyphen, byte order mark, bidirectional marks)
nfc        canonical composition: ``e`` + combining acute and ``é`` become one
nfkc       compatibility composition: also fullwidth ``A`` (U+FF21) → ``A``, ligature ``fi``
           (U+FB01) → ``fi``,
           no-break space → space (implies ``nfc``)
casefold   Unicode case folding (``Straße`` and ``STRASSE`` agree; stronger than lower-casing)
trim       removes surrounding white space
text       all of the above: ``invisible+nfkc+casefold+trim``
========== ====================================================================================

The steps always run in the order of the table, whatever order they are given in; after
``casefold`` the chosen normal form is applied again (case folding can un-normalise).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Literal

__all__ = ["NORMALIZERS", "normalize_key", "parse_normalize"]

#: The normalisers, in the order they run.
NORMALIZERS: tuple[str, ...] = ("invisible", "nfc", "nfkc", "casefold", "trim")

_PRESETS: dict[str, tuple[str, ...]] = {"text": ("invisible", "nfkc", "casefold", "trim")}


def parse_normalize(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """The normaliser names of ``spec`` (``"casefold+nfkc"``, ``["casefold", "nfkc"]``,
    ``"text"``) in their running order; ``()`` for ``None``.

    Raises:
        ValueError: an unknown name (the message lists the known ones), or nothing named.
        TypeError: ``spec`` is neither a string nor a sequence of strings.
    """
    if spec is None:
        return ()
    if isinstance(spec, str):
        names = [part.strip() for part in spec.split("+")]
    elif isinstance(spec, Sequence) and all(isinstance(n, str) for n in spec):
        names = [n.strip() for n in spec]
    else:
        raise TypeError(f"normalize takes a string like 'casefold+nfkc+trim', not {spec!r}")
    chosen: set[str] = set()
    for name in names:
        if name in _PRESETS:
            chosen.update(_PRESETS[name])
        elif name in NORMALIZERS:
            chosen.add(name)
        else:
            known = ", ".join([*NORMALIZERS, *_PRESETS])
            raise ValueError(f"unknown normaliser {name!r} (known: {known})")
    if "nfkc" in chosen:
        chosen.discard("nfc")
    if not chosen:
        raise ValueError("normalize names no normaliser")
    return tuple(n for n in NORMALIZERS if n in chosen)


def normalize_key(value: str, steps: Sequence[str]) -> str:
    """``value`` through the normalisers ``steps`` (as :func:`parse_normalize` returns)."""
    form: Literal["NFC", "NFKC"] | None = (
        "NFKC" if "nfkc" in steps else "NFC" if "nfc" in steps else None
    )
    if "invisible" in steps:
        value = "".join(c for c in value if unicodedata.category(c) != "Cf")
    if form is not None:
        value = unicodedata.normalize(form, value)
    if "casefold" in steps:
        value = value.casefold()
        if form is not None:
            value = unicodedata.normalize(form, value)
    if "trim" in steps:
        value = value.strip()
    return value
