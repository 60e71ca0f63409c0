"""The conformance suites can fail: each runs against a deliberately broken adapter and must.

Every defect wraps the memory adapter and breaks one promise of the storage port (or the blob
store port); the suite runs in a fresh pytest session and must report failures. A suite that
stayed green here would be a suite that cannot tell a broken adapter from a good one.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

_STORAGE_HEADER = """
import msgspec
import pytest

from specstar.core import MemoryStorageFactory
from specstar.core.memory import MemoryStorage
from specstar.core.spi import And, Condition, Not, Op, Or
from specstar.testing import StorageSuite
"""

_STORAGE_FOOTER = """

class BrokenFactory(MemoryStorageFactory):
    def create(self, resource_name):
        return Broken()


class TestBroken(StorageSuite):
    @pytest.fixture
    def storage_factory(self):
        return BrokenFactory()
"""

#: defect name -> the body of ``class Broken(MemoryStorage)``
STORAGE_DEFECTS: dict[str, str] = {
    # the compare-and-swap always passes: the expected revision is replaced by the actual one
    "cas_ignored": """
    def commit(self, write):
        meta = self.get_meta(write.resource_id)
        if write.expected_revision_id is not None and meta is not None:
            write = msgspec.structs.replace(
                write,
                expected_revision_id=meta.current_revision_id,
                expected_draft_hash=None,
            )
        return super().commit(write)
""",
    # unique values are never claimed: two live resources may hold the same one
    "unique_claim_skipped": """
    def _claim_unique(self, old, new):
        self._release_unique(old)
""",
    # a batch of histories answers each id once: a repeated id loses its place
    "histories_deduplicated": """
    def get_histories(self, resource_ids):
        return [self.get_history(rid) for rid in dict.fromkeys(resource_ids)]
""",
    # ``gte`` runs as ``gt``
    "gte_as_gt": """
    def _miscompile(self, expr):
        if isinstance(expr, Condition):
            if expr.op == Op.gte:
                return msgspec.structs.replace(expr, op=Op.gt)
            return expr
        if isinstance(expr, Not):
            return Not(self._miscompile(expr.item))
        return type(expr)(tuple(self._miscompile(e) for e in expr.items))

    def search(self, query):
        if query.where is not None:
            query = query.replace(where=self._miscompile(query.where))
        return super().search(query)

    def count(self, query):
        if query.where is not None:
            query = query.replace(where=self._miscompile(query.where))
        return super().count(query)
""",
}

_BLOB_MODULE = """
import pytest

from specstar.core import MemoryBlobStore
from specstar.testing import BlobStoreSuite


class Broken(MemoryBlobStore):
{body}

class TestBroken(BlobStoreSuite):
    @pytest.fixture
    def blob_store(self):
        return Broken()
"""

#: defect name -> the body of ``class Broken(MemoryBlobStore)``
BLOB_DEFECTS: dict[str, str] = {
    # a delete reports success and keeps the blob
    "delete_ignored": """
    def delete(self, file_id):
        return self.info(file_id) is not None
""",
    # completing an upload skips the declared digest
    "digest_unchecked": """
    def complete_upload(self, upload_id, *, parts, size=None, sha256=None):
        return super().complete_upload(upload_id, parts=parts, size=size)
""",
    # a ranged read ignores its start
    "range_start_ignored": """
    def open(self, file_id, start=0, stop=None):
        return super().open(file_id, 0, stop)
""",
}


#: options of every inner run: native tracebacks, because on Python 3.11 a traceback entry may
#: carry no line number (``tb_lineno is None``), which pytest's own formatter turns into an
#: INTERNALERROR that ends the inner run as if the failing test had never run
_INNER = ("-q", "-p", "no:cacheprovider", "--tb=native")


def _inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    result = pytester.runpytest_inprocess(*_INNER, *args)
    assert result.ret != pytest.ExitCode.INTERNAL_ERROR, "\n".join(result.outlines[-40:])
    return result


def _run(pytester: pytest.Pytester, source: str) -> dict[str, int]:
    pytester.makepyfile(test_broken=source)
    return _inner(pytester, "-x", "--hypothesis-profile=mutation").parseoutcomes()


@pytest.mark.parametrize("defect", sorted(STORAGE_DEFECTS))
def test_storage_suite_fails_on_a_broken_adapter(pytester: pytest.Pytester, defect: str) -> None:
    body = STORAGE_DEFECTS[defect]
    source = f"{_STORAGE_HEADER}\n\nclass Broken(MemoryStorage):{body}{_STORAGE_FOOTER}"
    outcomes = _run(pytester, source)
    assert outcomes.get("failed", 0) > 0, outcomes


def test_storage_suite_passes_on_the_unbroken_wrapper(pytester: pytest.Pytester) -> None:
    """The harness itself: the same wrapper without a defect fails nothing (a few tests)."""
    body = "\n    pass\n"
    source = f"{_STORAGE_HEADER}\n\nclass Broken(MemoryStorage):{body}{_STORAGE_FOOTER}"
    pytester.makepyfile(test_broken=source)
    outcomes = _inner(
        pytester, "-k", "revision or unique", "--hypothesis-profile=mutation"
    ).parseoutcomes()
    assert outcomes.get("passed", 0) > 0, outcomes
    assert outcomes.get("failed", 0) == 0, outcomes


@pytest.mark.parametrize("defect", sorted(BLOB_DEFECTS))
def test_blob_suite_fails_on_a_broken_adapter(pytester: pytest.Pytester, defect: str) -> None:
    outcomes = _run(pytester, textwrap.dedent(_BLOB_MODULE).format(body=BLOB_DEFECTS[defect]))
    assert outcomes.get("failed", 0) > 0, outcomes


_LOCK_MODULE = """
import itertools
import time

import msgspec
import pytest

from specstar.core import Lock, LockNotOwnedError, MemoryLockBackend
from specstar.testing import LockSuite


class Broken(MemoryLockBackend):
{body}

class TestBroken(LockSuite):
    lock_patience = 2.0

    @pytest.fixture
    def lock_backend(self):
        return Broken()
"""

#: defect name -> the body of ``class Broken(MemoryLockBackend)``
LOCK_DEFECTS: dict[str, str] = {
    # every caller is granted the key: no mutual exclusion
    "no_exclusion": """
    def try_lock(self, key, ttl):
        with self._mutex:
            self._leases.pop(key, None)
        return super().try_lock(key, ttl)
""",
    # a grant checks the key, then takes it in a second step: racing callers both get in
    "check_then_take": """
    def try_lock(self, key, ttl):
        with self._mutex:
            held = self._leases.get(key)
            if held is not None and held[2] > time.monotonic():
                return None
        time.sleep(0.0005)
        with self._mutex:
            self._leases.pop(key, None)
        return super().try_lock(key, ttl)
""",
    # anyone may release: the owner and token are not compared
    "release_by_anyone": """
    def release(self, lock):
        with self._mutex:
            self._leases.pop(lock.key, None)
""",
    # every grant gets the same fencing token
    "tokens_repeat": """
    def try_lock(self, key, ttl):
        lock = super().try_lock(key, ttl)
        if lock is None:
            return None
        with self._mutex:
            owner, _, expiry = self._leases[key]
            self._leases[key] = (owner, 1, expiry)
        return msgspec.structs.replace(lock, token=1)
""",
    # leases never end
    "never_expires": """
    def try_lock(self, key, ttl):
        lock = super().try_lock(key, ttl)
        if lock is not None:
            with self._mutex:
                owner, token, _ = self._leases[key]
                self._leases[key] = (owner, token, time.monotonic() + 3600)
        return lock
""",
    # a renewal reports success and keeps the old expiry
    "renew_ignored": """
    def renew(self, lock, ttl):
        with self._mutex:
            if not self._owned(lock, time.monotonic()):
                raise LockNotOwnedError(lock.key, lock.token)
        return msgspec.structs.replace(lock, ttl=float(ttl), deadline=time.monotonic() + ttl)
""",
    # a zero or negative ttl is accepted (a lease that is over before it starts)
    "ttl_unchecked": """
    def try_lock(self, key, ttl):
        if isinstance(ttl, (int, float)) and not isinstance(ttl, bool) and ttl <= 0:
            return Lock(key=key, token=1, owner="x", ttl=float(ttl), deadline=time.monotonic())
        return super().try_lock(key, ttl)
""",
}


#: defect name -> the tests of the lock suite that must catch it
LOCK_CATCHERS: dict[str, str] = {
    "no_exclusion": "test_mutual_exclusion_across_threads",
    "check_then_take": "test_one_winner_of_a_race test_mutual_exclusion_across_threads",
    "release_by_anyone": "test_release_and_renew_only_by_the_owner",
    "tokens_repeat": "test_tokens_strictly_increase_per_key",
    "never_expires": "test_expiry_lets_another_owner_in",
    "renew_ignored": "test_renewal_keeps_the_lease",
    "ttl_unchecked": "test_invalid_ttl_is_rejected",
}


@pytest.mark.parametrize("defect", sorted(LOCK_DEFECTS))
def test_lock_suite_fails_on_a_broken_backend(pytester: pytest.Pytester, defect: str) -> None:
    """The whole suite runs (no ``-x``) and the test aimed at the defect is among the failures."""
    pytester.makepyfile(test_broken=textwrap.dedent(_LOCK_MODULE).format(body=LOCK_DEFECTS[defect]))
    result = _inner(pytester, "-rf")
    failed = {
        line.split("::")[-1].split(" ")[0].split("[")[0]
        for line in result.outlines
        if "FAILED" in line
    }
    assert set(LOCK_CATCHERS[defect].split()) <= failed, (failed, result.parseoutcomes())


def test_lock_suite_passes_on_the_unbroken_wrapper(pytester: pytest.Pytester) -> None:
    """The harness itself: the same wrapper without a defect fails nothing."""
    source = textwrap.dedent(_LOCK_MODULE).format(body="    pass\n")
    pytester.makepyfile(test_broken=source)
    outcomes = _inner(pytester).parseoutcomes()
    assert outcomes.get("passed", 0) > 0, outcomes
    assert outcomes.get("failed", 0) == 0, outcomes
