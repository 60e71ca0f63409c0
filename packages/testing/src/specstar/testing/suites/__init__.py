"""Conformance suites: subclass one and provide the adapter fixture."""

from .base import SuiteBase
from .blobs import BlobStoreSuite
from .jobs import JobTests
from .payloads import PayloadStoreSuite
from .processes import ProcessSuite
from .queues import QueuePortTests
from .storage import StorageSuite


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


__all__ = [
    "BlobStoreSuite",
    "JobTests",
    "MessageQueueSuite",
    "PayloadStoreSuite",
    "ProcessSuite",
    "QueuePortTests",
    "StorageSuite",
    "SuiteBase",
]
