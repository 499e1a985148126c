"""stalk's Python SDK: a client for the stalk broker and Celery-shaped tasks.

>>> from stalk import Stalk
>>> app = Stalk("127.0.0.1:7070")
>>> @app.task
... def add(x, y):
...     return x + y
>>> add.delay(2, 3).get(timeout=10)  # doctest: +SKIP
5
"""

from .app import AsyncResult, Stalk, Task
from .canvas import Chain, Chord, Group, Signature, WorkflowResult, chain, chord, group
from .client import Client, QueueStats, TaskOptions, TaskStatus, task_spec
from .errors import StalkError, TaskFailed, TaskTimeout
from .payload import decode_args, encode_args
from .worker import BoundTask, Reject, Retry, TaskRequest, Worker, current_request

__all__ = [
    "AsyncResult",
    "BoundTask",
    "Chain",
    "Chord",
    "Group",
    "Signature",
    "WorkflowResult",
    "chain",
    "chord",
    "group",
    "Client",
    "QueueStats",
    "Reject",
    "Retry",
    "Stalk",
    "StalkError",
    "Task",
    "TaskFailed",
    "TaskOptions",
    "TaskRequest",
    "TaskStatus",
    "TaskTimeout",
    "Worker",
    "current_request",
    "decode_args",
    "encode_args",
    "task_spec",
]
