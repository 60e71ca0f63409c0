"""The memory adapter, through the manager, against a deliberately naive model of resources.

The model is a dict from id to a list of revisions (the data written), the current index and a
deleted flag - nothing of the adapter's code - so it checks the memory adapter itself, where
the conformance state machine can only compare memory with memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from specstar.core import MemoryStorageFactory, Query, ResourceManager
from specstar.testing import budget


class Note(msgspec.Struct, kw_only=True):
    n: int


@dataclass
class Row:
    revisions: list[int] = field(default_factory=list)  # the data of revision i + 1
    current: int = 0  # index into revisions
    deleted: bool = False


class NaiveModel:
    """Ids to rows; every operation is a few lines of list and dict handling."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def live(self, rid: str) -> Row:
        row = self.rows.get(rid)
        if row is None:
            raise LookupError("NotFoundError")
        if row.deleted:
            raise LookupError("GoneError")
        return row

    def create(self, rid: str, n: int) -> str:
        if rid in self.rows:
            raise LookupError("AlreadyExistsError")
        self.rows[rid] = Row([n])
        return f"{rid}:1"

    def update(self, rid: str, n: int) -> str:
        row = self.live(rid)
        if row.revisions[row.current] != n:  # identical data writes no revision
            row.revisions.append(n)
            row.current = len(row.revisions) - 1
        return f"{rid}:{row.current + 1}"

    def switch(self, rid: str, seq: int) -> str:
        row = self.live(rid)
        if not 1 <= seq <= len(row.revisions):
            raise LookupError("NotFoundError")
        row.current = seq - 1
        return f"{rid}:{seq}"

    def delete(self, rid: str) -> bool:
        self.live(rid).deleted = True
        return True

    def restore(self, rid: str) -> bool:
        if rid not in self.rows:
            raise LookupError("NotFoundError")
        self.rows[rid].deleted = False
        return False

    def purge(self, rid: str) -> str:
        if self.rows.pop(rid, None) is None:
            raise LookupError("NotFoundError")
        return rid

    def get(self, rid: str) -> int:
        row = self.live(rid)
        return row.revisions[row.current]

    def history(self, rid: str) -> list[str]:
        if rid not in self.rows:
            raise LookupError("NotFoundError")
        return [f"{rid}:{i + 1}" for i in range(len(self.rows[rid].revisions))]

    def visible(self) -> list[str]:
        return sorted(rid for rid, row in self.rows.items() if not row.deleted)


IDS = st.sampled_from(["a", "b", "c"])
VALUES = st.integers(0, 3)


class MemoryVersusModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m = ResourceManager(Note, storage_factory=MemoryStorageFactory(), name="note")
        self.model = NaiveModel()

    def same(self, real: Any, naive: Any) -> None:
        try:
            got = ("ok", real())
        except Exception as exc:
            got = ("error", type(exc).__name__)
        try:
            want = ("ok", naive())
        except LookupError as exc:
            want = ("error", exc.args[0])
        assert got == want

    @rule(rid=IDS, n=VALUES)
    def create(self, rid: str, n: int) -> None:
        self.same(
            lambda: self.m.create(Note(n=n), resource_id=rid).revision_id,
            lambda: self.model.create(rid, n),
        )

    @rule(rid=IDS, n=VALUES)
    def update(self, rid: str, n: int) -> None:
        self.same(
            lambda: self.m.update(rid, Note(n=n)).revision_id, lambda: self.model.update(rid, n)
        )

    @rule(rid=IDS, seq=st.integers(0, 4))
    def switch(self, rid: str, seq: int) -> None:
        self.same(
            lambda: self.m.switch(rid, f"{rid}:{seq}").current_revision_id,
            lambda: self.model.switch(rid, seq),
        )

    @rule(rid=IDS)
    def delete(self, rid: str) -> None:
        self.same(lambda: self.m.delete(rid).is_deleted, lambda: self.model.delete(rid))

    @rule(rid=IDS)
    def restore(self, rid: str) -> None:
        self.same(lambda: self.m.restore(rid).is_deleted, lambda: self.model.restore(rid))

    @rule(rid=IDS)
    def permanently_delete(self, rid: str) -> None:
        self.same(lambda: self.m.permanently_delete(rid).resource_id, lambda: self.model.purge(rid))

    @rule(rid=IDS)
    def read(self, rid: str) -> None:
        self.same(lambda: self.m.get(rid).data.n, lambda: self.model.get(rid))
        self.same(lambda: self.m.list_revisions(rid), lambda: self.model.history(rid))

    @invariant()
    def same_population(self) -> None:
        ids = sorted(meta.resource_id for meta in self.m.iter_all(Query()))
        assert ids == self.model.visible()
        assert self.m.count() == len(ids)


def test_memory_adapter_matches_the_naive_model() -> None:
    run_state_machine_as_test(
        MemoryVersusModel,
        settings=settings(
            max_examples=budget(60),
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
