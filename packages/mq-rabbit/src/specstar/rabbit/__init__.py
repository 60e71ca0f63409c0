"""SpecStar job queue on RabbitMQ: durable queues, persistent messages, publisher confirms,
manual acknowledgements with a bounded prefetch, delays and retry backoff through TTL queues
(no plugin), dead letters, and connections that come back after the broker drops them::

    from specstar.rabbit import RabbitMessageQueueFactory

    queues = RabbitMessageQueueFactory("amqp://guest:guest@127.0.0.1:5672/%2F")
    jobs = JobManager(MyJob, job_handler=handle, message_queue_factory=queues)

See :class:`RabbitMessageQueue` for how the queue port maps onto AMQP.
"""

from ._version import __version__
from .factory import RabbitMessageQueueFactory
from .queue import RabbitMessageQueue

__all__ = ["RabbitMessageQueue", "RabbitMessageQueueFactory", "__version__"]
