"""The synchronous client: enqueue tasks, read and wait for their results, revoke them, and
read queue counts, over the broker's gRPC API (``proto/stalk/v1``)."""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import grpc

from .errors import StalkError, TaskFailed, TaskTimeout
from .payload import JSON, decode_result, encode_args
from .v1 import admin_pb2, admin_pb2_grpc, tasks_pb2, tasks_pb2_grpc, worker_pb2

#: The states a task ends in.
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "REVOKED", "EXPIRED"})

# One GetResult long poll waits at most this long (the broker's bound is 60 s).
_MAX_POLL_S = 30.0

Duration = Union[float, _dt.timedelta]
When = Union[float, _dt.datetime]


def state_name(state: int) -> str:
    """``SUCCEEDED`` for ``TASK_STATE_SUCCEEDED``."""
    return tasks_pb2.TaskState.Name(state).removeprefix("TASK_STATE_")


@dataclass(frozen=True)
class TaskStatus:
    """A task's state and, once it ended, its result or error (``GetResult``)."""

    id: str
    state: str
    name: str = ""
    queue: str = ""
    result: Optional[bytes] = None
    content_type: str = ""
    error_kind: str = ""
    error: str = ""
    attempts: int = 0

    @property
    def ready(self) -> bool:
        """Whether it has ended (SUCCEEDED, FAILED, REVOKED or EXPIRED)."""
        return self.state in TERMINAL

    def value(self) -> Any:
        """The result, decoded from JSON (``None`` for an empty one). Raises ``TaskFailed``
        when the task ended without success."""
        if self.state != "SUCCEEDED":
            raise TaskFailed(self.id, self.state, self.error_kind, self.error)
        return decode_result(self.result or b"")


@dataclass(frozen=True)
class QueueStats:
    """How many tasks a queue holds in each state."""

    name: str
    ready: int
    scheduled: int
    leased: int
    retrying: int
    dead: int
    waiting: int


@dataclass(frozen=True)
class TaskSummary:
    """A task as a listing shows it; ``waiting_for`` says what holds a waiting one."""

    id: str
    name: str
    queue: str
    state: str
    priority: int
    attempts: int
    error_kind: str
    error: str
    waiting_for: str


@dataclass(frozen=True)
class WorkerInfo:
    """A connected worker: who it is, what it takes, what it runs."""

    worker_id: str
    hostname: str
    pid: int
    queues: List[str]
    task_names: List[str]
    sdk_version: str
    running: List[str]
    processed: int


@dataclass(frozen=True)
class Limit:
    """A rate limit or concurrency cap the broker enforces across every worker."""

    scope: str
    per_header: str
    rate: str
    burst: int
    max_concurrency: int
    running: int
    waiting: int


@dataclass
class TaskOptions:
    """How a task is sent (every field optional)."""

    queue: str = "default"
    priority: int = 0
    countdown: Optional[Duration] = None
    eta: Optional[When] = None
    expires: Optional[Union[Duration, _dt.datetime]] = None
    max_retries: Optional[int] = None
    retry_backoff: Optional[Duration] = None
    retry_backoff_max: Optional[Duration] = None
    time_limit: Optional[Duration] = None
    soft_time_limit: Optional[Duration] = None
    headers: Dict[str, str] = field(default_factory=dict)
    task_id: Optional[str] = None
    unique_key: Optional[str] = None


def _ms(value: Optional[Duration]) -> int:
    if value is None:
        return 0
    seconds = value.total_seconds() if isinstance(value, _dt.timedelta) else float(value)
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {value!r}")
    return max(1, round(seconds * 1000)) if seconds > 0 else 0


def _unix_ms(value: When) -> int:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"give a time zone with {value!r} (e.g. datetime.timezone.utc)")
        return round(value.timestamp() * 1000)
    return round(float(value) * 1000)


def task_spec(
    name: str,
    args: Sequence[Any] = (),
    kwargs: Optional[Mapping[str, Any]] = None,
    options: Optional[TaskOptions] = None,
    *,
    payload: Optional[bytes] = None,
) -> tasks_pb2.TaskSpec:
    """The wire form of one task: its arguments by the payload convention (or ``payload`` as
    given) and its options."""
    o = options or TaskOptions()
    spec = tasks_pb2.TaskSpec(
        name=name,
        queue=o.queue,
        payload=encode_args(args, kwargs) if payload is None else payload,
        content_type=JSON,
        headers=dict(o.headers),
        priority=o.priority,
        task_id=o.task_id or "",
        unique_key=o.unique_key or "",
        retry_backoff_ms=_ms(o.retry_backoff),
        retry_backoff_max_ms=_ms(o.retry_backoff_max),
        countdown_ms=_ms(o.countdown),
        time_limit_ms=_ms(o.time_limit),
        soft_time_limit_ms=_ms(o.soft_time_limit),
    )
    if o.max_retries is not None:
        if o.max_retries == 0:
            spec.no_retries = True
        else:
            spec.max_retries = o.max_retries
    if o.eta is not None:
        spec.eta_unix_ms = _unix_ms(o.eta)
    if isinstance(o.expires, _dt.datetime):
        spec.expires_at_unix_ms = _unix_ms(o.expires)
    elif o.expires is not None:
        spec.expires_in_ms = _ms(o.expires)
    return spec


class Client:
    """A connection to a broker. Cheap to share between threads; close it when done (or use
    it as a context manager).

    ``addr`` is ``host:port``; ``token`` is sent as a bearer token when the broker requires
    one; ``ca_cert`` (PEM bytes) turns on TLS.
    """

    def __init__(
        self,
        addr: str = "127.0.0.1:7070",
        *,
        token: Optional[str] = None,
        ca_cert: Optional[bytes] = None,
        timeout: float = 30.0,
    ) -> None:
        self.addr = addr
        self.timeout = timeout
        if ca_cert is not None:
            self._channel = grpc.secure_channel(addr, grpc.ssl_channel_credentials(ca_cert))
        else:
            self._channel = grpc.insecure_channel(addr)
        self._metadata: Tuple[Tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        # The generated stubs are untyped: every call goes through `_call`, typed by its use.
        self._tasks: Any = tasks_pb2_grpc.TaskQueueStub(self._channel)  # type: ignore[no-untyped-call]
        self._admin: Any = admin_pb2_grpc.AdminStub(self._channel)  # type: ignore[no-untyped-call]

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection."""
        self._channel.close()

    def _call(self, method: Any, request: Any, timeout: Optional[float] = None) -> Any:
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            code = err.code().name if hasattr(err, "code") else None
            details = err.details() if hasattr(err, "details") else str(err)
            raise StalkError(f"{code}: {details}", code) from None

    def enqueue(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Optional[Mapping[str, Any]] = None,
        options: Optional[TaskOptions] = None,
        *,
        payload: Optional[bytes] = None,
    ) -> str:
        """Sends one task and returns its id (an existing task's, for a repeated ``task_id`` or
        a live ``unique_key``). Raises ``StalkError`` naming what the broker refused."""
        return self.enqueue_many([task_spec(name, args, kwargs, options, payload=payload)])[0]

    def enqueue_many(self, specs: Iterable[tasks_pb2.TaskSpec]) -> List[str]:
        """Sends tasks in one call (at most 1,000; see ``task_spec``) and returns their ids, in
        order. Each is created or refused on its own: the first refusal raises ``StalkError``
        after the others were created."""
        response = self._call(self._tasks.Enqueue, tasks_pb2.EnqueueRequest(tasks=list(specs)))
        ids: List[str] = []
        refused: List[str] = []
        for i, outcome in enumerate(response.outcomes):
            if outcome.HasField("error"):
                refused.append(f"tasks[{i}]: {outcome.error.kind}: {outcome.error.message}")
            ids.append(outcome.task_id)
        if refused:
            raise StalkError("; ".join(refused), "INVALID_ARGUMENT")
        return ids

    def status(self, task_id: str) -> TaskStatus:
        """The task's state now, and its result or error if it ended."""
        return self._status(task_id, 0)

    def wait(self, task_id: str, timeout: float = 60.0) -> TaskStatus:
        """Waits up to ``timeout`` seconds for the task to end and returns how it did. Raises
        ``TaskTimeout`` when it has not ended by then."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            status = self._status(task_id, max(0, min(left, _MAX_POLL_S)))
            if status.ready:
                return status
            if left <= 0:
                raise TaskTimeout(task_id, status.state, timeout)

    def _status(self, task_id: str, wait_s: float) -> TaskStatus:
        request = tasks_pb2.GetResultRequest(task_id=task_id, wait_ms=round(wait_s * 1000))
        r = self._call(self._tasks.GetResult, request, timeout=wait_s + self.timeout)
        return TaskStatus(
            id=r.task_id or task_id,
            state=state_name(r.state),
            name=r.name,
            queue=r.queue,
            result=r.result.value if r.HasField("result") else None,
            content_type=r.result.content_type if r.HasField("result") else "",
            error_kind=r.error.kind if r.HasField("error") else "",
            error=r.error.message if r.HasField("error") else "",
            attempts=r.attempts,
        )

    def revoke(self, *task_ids: str) -> Dict[str, str]:
        """Revokes tasks (or whole workflows, by their id): waiting ones never run, running
        ones are stopped. Returns what each was doing (``waiting``, ``running``, …)."""
        response = self._call(self._tasks.Revoke, tasks_pb2.RevokeRequest(task_ids=task_ids))
        return {
            r.task_id: tasks_pb2.RevokedWhile.Name(r.was)
            .removeprefix("REVOKED_WHILE_")
            .lower()
            for r in response.outcomes
        }

    def queues(self, *names: str) -> List[QueueStats]:
        """Task counts per queue (every queue with tasks, or the ones named)."""
        response = self._call(self._admin.QueueStats, admin_pb2.QueueStatsRequest(queues=names))
        return [
            QueueStats(
                name=q.queue,
                ready=q.ready,
                scheduled=q.scheduled,
                leased=q.leased,
                retrying=q.retrying,
                dead=q.dead,
                waiting=q.waiting,
            )
            for q in response.queues
        ]

    def tasks(self, queue: str, state: str = "READY", page_size: int = 100) -> List[TaskSummary]:
        """The tasks of ``queue`` in ``state`` (READY, SCHEDULED, LEASED, RETRYING, FAILED,
        WAITING, …), in the order a worker would get them, every page of them."""
        out: List[TaskSummary] = []
        token = ""
        wire_state = f"TASK_STATE_{state.upper()}"
        if wire_state not in tasks_pb2.TaskState.keys():
            raise ValueError(f"no task state {state!r}")
        while True:
            request = admin_pb2.ListTasksRequest(
                queue=queue, state=wire_state, page_size=page_size, page_token=token
            )
            response = self._call(self._admin.ListTasks, request)
            out.extend(
                TaskSummary(
                    id=t.task_id,
                    name=t.name,
                    queue=t.queue,
                    state=state_name(t.state),
                    priority=t.priority,
                    attempts=t.attempts,
                    error_kind=t.error.kind if t.HasField("error") else "",
                    error=t.error.message if t.HasField("error") else "",
                    waiting_for=t.waiting_for,
                )
                for t in response.tasks
            )
            token = response.next_page_token
            if not token:
                return out

    def purge(self, queue: str, dead_letters: bool = False) -> int:
        """Deletes every waiting task of ``queue`` (or its dead letters); returns how many."""
        request = admin_pb2.PurgeQueueRequest(queue=queue, dead_letters=dead_letters)
        return int(self._call(self._admin.PurgeQueue, request).purged)

    def replay(self, queue: str, task_ids: Sequence[str] = (), limit: int = 0) -> List[str]:
        """Puts dead letters of ``queue`` back to READY (these, or all up to ``limit``)."""
        request = admin_pb2.ReplayDeadLettersRequest(queue=queue, task_ids=task_ids, limit=limit)
        return list(self._call(self._admin.ReplayDeadLetters, request).task_ids)

    def pause(self, queue: str, paused: bool = True) -> bool:
        """Pauses (or resumes) a queue; says whether that changed anything."""
        request = admin_pb2.PauseQueueRequest(queue=queue, paused=paused)
        return bool(self._call(self._admin.PauseQueue, request).changed)

    def explain(self, task_id: str) -> Tuple[str, List[Tuple[str, str]]]:
        """Why a task is not running: its state and every (code, message) that holds it."""
        response = self._call(self._admin.Explain, admin_pb2.ExplainRequest(task_id=task_id))
        return state_name(response.state), [(r.code, r.message) for r in response.reasons]

    def workers(self) -> List[WorkerInfo]:
        """The connected workers."""
        response = self._call(self._admin.ListWorkers, admin_pb2.ListWorkersRequest())
        return [
            WorkerInfo(
                worker_id=w.worker_id,
                hostname=w.hostname,
                pid=w.pid,
                queues=list(w.queues),
                task_names=list(w.task_names),
                sdk_version=w.sdk_version,
                running=[t.task_id for t in w.tasks],
                processed=w.processed,
            )
            for w in response.workers
        ]

    def ping_workers(self, timeout: float = 5.0) -> Dict[str, str]:
        """Pings every connected worker; answers each one's reply message."""
        request = admin_pb2.ControlWorkersRequest(
            command=worker_pb2.WorkerCommand(ping=worker_pb2.Ping()),
            timeout_ms=round(timeout * 1000),
        )
        response = self._call(self._admin.ControlWorkers, request, timeout=timeout + self.timeout)
        return {r.worker_id: r.message for r in response.replies}

    def set_limit(
        self,
        scope: str,
        *,
        rate: str = "",
        burst: int = 0,
        max_concurrency: int = 0,
        per_header: str = "",
    ) -> List[Limit]:
        """Sets a limit on ``task:NAME`` or ``queue:NAME`` (``rate`` like ``10/s``, and/or
        ``max_concurrency``), whole or per value of a header; neither removes it. Returns the
        limits now."""
        request = admin_pb2.SetLimitRequest(
            scope=scope,
            per_header=per_header,
            rate=rate,
            burst=burst,
            max_concurrency=max_concurrency,
        )
        return _limits(self._call(self._admin.SetLimit, request))

    def limits(self) -> List[Limit]:
        """Every limit, with what it holds now."""
        return _limits(self._call(self._admin.ListLimits, admin_pb2.ListLimitsRequest()))


def _limits(response: Any) -> List[Limit]:
    return [
        Limit(
            scope=limit.scope,
            per_header=limit.per_header,
            rate=limit.rate,
            burst=limit.burst,
            max_concurrency=limit.max_concurrency,
            running=limit.running,
            waiting=limit.waiting,
        )
        for limit in response.limits
    ]
