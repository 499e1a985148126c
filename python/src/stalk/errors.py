"""What stalk's Python SDK raises."""

from __future__ import annotations

from typing import Optional


class StalkError(Exception):
    """The broker refused a call, or could not be reached. ``code`` is the gRPC status code's
    name (``INVALID_ARGUMENT``, ``UNAVAILABLE``, …) when the broker answered one."""

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.code = code


class TaskFailed(StalkError):
    """A task ended without success (FAILED, REVOKED or EXPIRED) where its result was asked
    for: ``state`` is how it ended, ``kind`` and ``error`` what its last error said."""

    def __init__(self, task_id: str, state: str, kind: str, error: str) -> None:
        super().__init__(f"task {task_id} ended {state}: {kind}: {error}")
        self.task_id = task_id
        self.state = state
        self.kind = kind
        self.error = error


class TaskTimeout(StalkError, TimeoutError):
    """A task did not finish within the time waited for it; ``state`` is where it was."""

    def __init__(self, task_id: str, state: str, waited: float) -> None:
        super().__init__(f"task {task_id} is still {state} after {waited:g} s")
        self.task_id = task_id
        self.state = state
