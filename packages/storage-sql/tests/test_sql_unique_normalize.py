"""``Unique(normalize=...)``: the store's unique index holds a normalised key, so variants of
one value written differently are duplicates — atomically, on memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from typing import Annotated

import msgspec
import pytest

from specstar.core import (
    QB,
    ResourceManager,
    StorageFactory,
    Unique,
    UniqueConstraintError,
)


class Account(msgspec.Struct, kw_only=True):
    email: Annotated[str, Unique(normalize="text")]
    handle: Annotated[str | None, Unique()] = None  # exact, the default


class Exact(msgspec.Struct, kw_only=True):
    email: Annotated[str, Unique()]


def wide(text: str) -> str:
    """``text`` in fullwidth forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


ORIGINAL = "José.Ünal@Example.com"
#: Twelve ways to write the same address (case, NFC/NFD, fullwidth, invisible characters,
#: surrounding white space).
VARIANTS = [
    "josé.ünal@example.com",  # lower case
    "JOSÉ.ÜNAL@EXAMPLE.COM",  # upper case
    "Jose\u0301.U\u0308nal@Example.com",  # NFD: combining accents
    "jose\u0301.u\u0308nal@example.com",  # NFD, lower case
    wide("Jos") + "é.Ünal@" + wide("Example.com"),  # fullwidth letters
    "José.Ünal" + wide("@") + "Example" + wide(".") + "com",  # fullwidth @ and full stop
    "José.\u200bÜnal@Example.com",  # zero-width space
    "\u200dJosé.Ünal@Example.com\ufeff",  # zero-width joiner, byte order mark
    "  José.Ünal@Example.com",  # leading spaces
    "José.Ünal@Example.com \t\n",  # trailing white space
    "\u3000José.Ünal@Example.com\u00a0",  # ideographic and no-break spaces
    " " + wide("JOSE") + "\u0301.\u200bu\u0308nal@EXAMPLE.COM ",  # all at once
]


def accounts(factory: StorageFactory) -> ResourceManager[Account]:
    return ResourceManager(Account, storage_factory=factory, name="account")


def test_twelve_variants_of_one_email_are_duplicates(factory: StorageFactory) -> None:
    assert len(set(VARIANTS)) == 12
    assert ORIGINAL not in VARIANTS
    manager = accounts(factory)
    first = manager.create(Account(email=ORIGINAL)).resource_id
    for variant in VARIANTS:
        with pytest.raises(UniqueConstraintError) as err:
            manager.create(Account(email=variant))
        # the error names the field and the value as written, not the key
        assert (err.value.field, err.value.value) == ("email", variant)
        assert err.value.conflicting_resource_id == first
    assert manager.count() == 1
    assert manager.get(first).data.email == ORIGINAL  # stored as written
    key = manager.get_meta(first).indexed_data["email__invisible_nfkc_casefold_trim"]
    assert key == "josé.ünal@example.com"
    assert manager.count(QB["email__invisible_nfkc_casefold_trim"] == key) == 1

    # an update to a variant of another account's address clashes too; its own variant not
    other = manager.create(Account(email="someone@example.com")).resource_id
    with pytest.raises(UniqueConstraintError):
        manager.update(other, Account(email=VARIANTS[4]))
    manager.update(first, Account(email=VARIANTS[1]))  # its own value, written differently
    # deleting releases the key; restoring a duplicate meanwhile is refused
    manager.delete(first)
    taken = manager.create(Account(email=VARIANTS[6])).resource_id
    with pytest.raises(UniqueConstraintError):
        manager.restore(first)
    manager.permanently_delete(taken)
    manager.restore(first)


def test_exact_comparison_stays_the_default(factory: StorageFactory) -> None:
    exact = ResourceManager(Exact, storage_factory=factory, name="exact")
    exact.create(Exact(email=ORIGINAL))
    for variant in VARIANTS:
        exact.create(Exact(email=variant))
    assert exact.count() == 13
    manager = accounts(factory)
    manager.create(Account(email="a@x", handle="Ann"))
    manager.create(Account(email="b@x", handle="ann"))  # handle: Unique() compares exactly
    with pytest.raises(UniqueConstraintError) as err:
        manager.create(Account(email="c@x", handle="Ann"))
    assert err.value.field == "handle"


def test_racing_variants_leave_one_winner(factory: StorageFactory) -> None:
    manager = accounts(factory)
    barrier = threading.Barrier(len(VARIANTS))
    won: list[str] = []
    lost: list[BaseException] = []

    def create(email: str) -> None:
        barrier.wait()
        try:
            won.append(manager.create(Account(email=email)).resource_id)
        except UniqueConstraintError as exc:
            lost.append(exc)

    threads = [threading.Thread(target=create, args=(v,)) for v in VARIANTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert (len(won), len(lost)) == (1, len(VARIANTS) - 1)
    assert manager.count() == 1


def test_the_key_is_backfilled_for_existing_data(factory: StorageFactory) -> None:
    class Plain(msgspec.Struct, kw_only=True):
        email: str

    before = ResourceManager(Plain, storage_factory=factory, name="account")
    kept = before.create(Plain(email="Kim@Example.com")).resource_id
    manager = accounts(factory)  # the key appears: existing accounts are backfilled
    assert manager.get_meta(kept).indexed_data["email__invisible_nfkc_casefold_trim"] == (
        "kim@example.com"
    )
    with pytest.raises(UniqueConstraintError):
        manager.create(Account(email=" KIM@example.com"))


def test_normalize_is_checked_when_the_model_is_declared() -> None:
    with pytest.raises(ValueError, match="unknown normaliser 'lower'"):
        Unique(normalize="lower+trim")
    with pytest.raises(TypeError):
        Unique(normalize=42)  # type: ignore[arg-type]
    assert Unique(normalize=["trim", "casefold"]).normalize == ("casefold", "trim")
    assert Unique(normalize="nfc+nfkc").normalize == ("nfkc",)

    class Numbered(msgspec.Struct):
        number: Annotated[int, Unique(normalize="trim")]

    with pytest.raises(Exception, match="normalize applies to str fields"):
        ResourceManager(Numbered)
