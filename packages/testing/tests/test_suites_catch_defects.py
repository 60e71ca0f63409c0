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


def _run(pytester: pytest.Pytester, source: str) -> dict[str, int]:
    pytester.makepyfile(test_broken=source)
    result = pytester.runpytest_inprocess(
        "-q", "-x", "-p", "no:cacheprovider", "--hypothesis-profile=mutation"
    )
    return result.parseoutcomes()


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
    result = pytester.runpytest_inprocess(
        "-q", "-p", "no:cacheprovider", "-k", "revision or unique", "--hypothesis-profile=mutation"
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 0, outcomes
    assert outcomes.get("failed", 0) == 0, outcomes


@pytest.mark.parametrize("defect", sorted(BLOB_DEFECTS))
def test_blob_suite_fails_on_a_broken_adapter(pytester: pytest.Pytester, defect: str) -> None:
    outcomes = _run(pytester, textwrap.dedent(_BLOB_MODULE).format(body=BLOB_DEFECTS[defect]))
    assert outcomes.get("failed", 0) > 0, outcomes
