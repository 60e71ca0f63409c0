"""Property-based checks: the adapter agrees with the reference on random data and queries."""

from __future__ import annotations

import warnings
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisWarning
from hypothesis.stateful import run_state_machine_as_test

from specstar.core import Query, ResourceManager, StorageFactory
from specstar.core.spi import evaluate

from .._budget import budget
from ..models import Item
from ..stateful import storage_state_machine
from ..strategies import item_data, operator_queries
from .base import SuiteBase


class PropertyTests(SuiteBase):
    #: hypothesis examples per property; adapters with slow writes may lower these.
    differential_examples = 60
    state_machine_examples = 25

    def test_random_queries_match_reference(self, items: ResourceManager[Item]) -> None:
        """Every operator, in every example, with values drawn from the stored rows half the
        time: the adapter returns the reference's rows, counts and next pages. Most queries
        must select rows (else the comparison proves little), which the test checks too."""
        selected: list[bool] = []

        @settings(
            max_examples=budget(self.differential_examples),
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(rows=st.lists(item_data(), min_size=1, max_size=12), data=st.data())
        def check(rows: list[Item], data: st.DataObject) -> None:
            for meta in list(items.iter_all(Query(is_deleted=None))):
                items.permanently_delete(meta.resource_id)
            for row in rows:
                items.create(row)
            everything = list(items.iter_all(Query(is_deleted=None)))
            for query in data.draw(operator_queries(rows)):
                resolved = items.resolve(query)
                want = evaluate.run(everything, resolved)
                got = items.storage.search(resolved)
                assert [m.resource_id for m in got.items] == [m.resource_id for m in want.items], (
                    query
                )
                assert got.has_more == want.has_more
                want_count = evaluate.count(everything, resolved)
                assert items.storage.count(resolved) == want_count, query
                selected.append(want_count > 0)
                if got.next_cursor is not None:  # the next page agrees too
                    nxt = resolved.replace(cursor=got.next_cursor)
                    assert [m.resource_id for m in items.storage.search(nxt).items] == [
                        m.resource_id for m in evaluate.run(everything, nxt).items
                    ]

        check()
        assert len(selected) >= 15 * min(self.differential_examples, 10)
        share = sum(selected) / len(selected)
        assert share >= 0.4, f"only {share:.0%} of the queries selected a row"

    def test_state_machine_against_reference(self, storage_factory: StorageFactory) -> None:
        machine: Any = storage_state_machine(storage_factory)
        with warnings.catch_warnings():
            # hypothesis describes a rule's strategy when it retries a filtered draw; the
            # query strategies (every operator over every field's edge values) describe in
            # hundreds of kB, which it warns about: a cost of the description, not a finding
            warnings.filterwarnings(
                "ignore", "Generating overly large repr", category=HypothesisWarning
            )
            run_state_machine_as_test(
                machine,
                settings=settings(
                    max_examples=budget(self.state_machine_examples),
                    stateful_step_count=30,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
