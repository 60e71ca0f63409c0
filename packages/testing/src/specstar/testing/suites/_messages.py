"""The job queue suite: the port on its own, then jobs end to end."""

from __future__ import annotations

from .jobs import JobTests
from .queues import QueuePortTests

__all__ = ["JobTests", "MessageQueueSuite", "QueuePortTests"]


class MessageQueueSuite(QueuePortTests, JobTests):
    """Every behaviour of a job queue: the port on its own, then jobs end to end.

    An adapter's test class provides ``message_queue_factory`` (the queue under test) and
    ``storage_factory`` (where the job resources live)::

        class TestMyQueue(MessageQueueSuite):
            @pytest.fixture
            def message_queue_factory(self):
                return MyMessageQueueFactory()

            @pytest.fixture
            def storage_factory(self):
                return MemoryStorageFactory()
    """
