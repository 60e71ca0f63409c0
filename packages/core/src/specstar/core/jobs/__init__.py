"""Background jobs that are resources: the model, the queue port, workers.

A job model subclasses :class:`Job`; a :class:`JobManager` stores each job as a resource
(every state change a revision), queues its id on a :class:`MessageQueue`, and runs the
handler in workers (:meth:`JobManager.start_consume`).
"""

from .handler import DelayRetry, JobContext, JobHandler, JobLogger, NoRetry
from .manager import JobManager
from .memory import MemoryMessageQueue, MemoryMessageQueueFactory
from .model import (
    JOB_INDEXES,
    TERMINAL,
    BackgroundTaskAccepted,
    Job,
    JobLog,
    JobRedirectInfo,
    JobStatus,
    is_job_model,
)
from .pool import WorkerPool, job_managers
from .queue import Lease, MessageQueue, MessageQueueFactory
from .worker import Consumer, Worker

__all__ = [
    "JOB_INDEXES",
    "TERMINAL",
    "BackgroundTaskAccepted",
    "Consumer",
    "DelayRetry",
    "Job",
    "JobContext",
    "JobHandler",
    "JobLog",
    "JobLogger",
    "JobManager",
    "JobRedirectInfo",
    "JobStatus",
    "Lease",
    "MemoryMessageQueue",
    "MemoryMessageQueueFactory",
    "MessageQueue",
    "MessageQueueFactory",
    "NoRetry",
    "Worker",
    "WorkerPool",
    "is_job_model",
    "job_managers",
]
