"""A hypothesis state machine that drives any storage and the memory reference side by side."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from specstar.core import MemoryStorage, Query, ResourceManager, RevisionStatus, StorageFactory

from .models import ITEM_INDEXES, Item
from .strategies import item_data, operator_queries

__all__ = ["outcome", "storage_state_machine"]

IDS = st.sampled_from(["r0", "r1", "r2", "r3"])


class _Queries(list[Query]):
    """One query per operator; its repr names them by their filters only (a full repr of
    fifteen queries is too long for hypothesis's step log)."""

    def __repr__(self) -> str:
        return f"<{len(self)} queries: " + "; ".join(str(q.where) for q in self) + ">"


def outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    """``("ok", value)`` or ``("error", exception class name)`` — what a user can observe."""
    try:
        return ("ok", call())
    except Exception as exc:
        return ("error", type(exc).__name__)


def storage_state_machine(factory: StorageFactory) -> type[RuleBasedStateMachine]:
    """A state machine class comparing managers over ``factory`` and over memory."""

    class StorageVersusMemory(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            name = f"sm-{uuid.uuid4().hex[:10]}"
            self.subject = ResourceManager(
                Item, storage=factory.build(name), name=name, indexed_fields=ITEM_INDEXES
            )
            self.reference = ResourceManager(
                Item, storage=MemoryStorage(), name=name, indexed_fields=ITEM_INDEXES
            )
            self.clock = datetime(2024, 1, 1, tzinfo=UTC)
            self.created = False

        def both(self, op: Callable[[ResourceManager[Item]], Any]) -> Any:
            self.clock += timedelta(seconds=1)
            with self.subject.using(user="sm", now=self.clock):
                got = outcome(lambda: op(self.subject))
            with self.reference.using(user="sm", now=self.clock):
                want = outcome(lambda: op(self.reference))
            assert got == want, f"adapter {got!r} != reference {want!r}"
            return got

        @rule(rid=IDS, data=item_data(), draft=st.booleans())
        def create(self, rid: str, data: Item, draft: bool) -> None:
            status = RevisionStatus.draft if draft else None
            self.both(lambda m: m.create(data, resource_id=rid, status=status))
            self.created = True

        @rule(rid=IDS, data=item_data())
        def update(self, rid: str, data: Item) -> None:
            self.both(lambda m: m.update(rid, data))

        @rule(rid=IDS, tag=st.sampled_from(["x", "y"]), age=st.integers(0, 3))
        def patch(self, rid: str, tag: str, age: int) -> None:
            ops: list[dict[str, Any]] = [
                {"op": "add", "path": "/tags/-", "value": tag},
                {"op": "replace", "path": "/age", "value": age},
            ]
            self.both(lambda m: m.patch(rid, ops))

        @rule(rid=IDS, data=item_data(), stable=st.booleans())
        def modify(self, rid: str, data: Item, stable: bool) -> None:
            status = RevisionStatus.stable if stable else RevisionStatus.draft
            self.both(lambda m: m.modify(rid, data, status))

        @rule(rid=IDS, seq=st.integers(1, 4))
        def switch(self, rid: str, seq: int) -> None:
            self.both(lambda m: m.switch(rid, f"{rid}:{seq}"))

        @rule(rid=IDS)
        def delete(self, rid: str) -> None:
            self.both(lambda m: m.delete(rid))

        @rule(rid=IDS)
        def restore(self, rid: str) -> None:
            self.both(lambda m: m.restore(rid))

        @rule(rid=IDS)
        def permanently_delete(self, rid: str) -> None:
            self.both(lambda m: m.permanently_delete(rid))

        @rule(rid=IDS, keep=st.integers(0, 2))
        def prune(self, rid: str, keep: int) -> None:
            self.both(lambda m: m.prune_revisions(rid, keep_last_n=keep))

        @precondition(lambda self: self.created)
        @rule(
            # deferred: the repr of the strategy itself is too long for hypothesis's step log
            queries=st.deferred(lambda: operator_queries().map(_Queries)),
            deleted=st.sampled_from([False, True, None]),
        )
        def search(self, queries: list[Query], deleted: bool | None) -> None:
            for query in queries:  # one per operator
                self.compare_search(query.replace(is_deleted=deleted))

        def compare_search(self, q: Query) -> None:
            self.both(lambda m: [meta.resource_id for meta in m.search(q)])
            self.both(lambda m: m.count(q))

        @rule(rid=IDS)
        def read(self, rid: str) -> None:
            self.both(lambda m: m.get(rid, include_deleted=True))
            self.both(lambda m: m.get_meta(rid, include_deleted=True))
            self.both(lambda m: m.list_revision_infos(rid))

        @invariant()
        def same_population(self) -> None:
            everything = Query(is_deleted=None, limit=100)
            self.both(lambda m: [x.resource_id for x in m.search(everything)])

    return StorageVersusMemory
