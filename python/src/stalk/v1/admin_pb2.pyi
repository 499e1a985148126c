from stalk.v1 import events_pb2 as _events_pb2
from stalk.v1 import tasks_pb2 as _tasks_pb2
from stalk.v1 import worker_pb2 as _worker_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QueueStatsRequest(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, queues: _Optional[_Iterable[str]] = ...) -> None: ...

class QueueStats(_message.Message):
    __slots__ = ("queue", "ready", "scheduled", "leased", "retrying", "dead", "paused", "oldest_ready_at_unix_ms", "waiting")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_FIELD_NUMBER: _ClassVar[int]
    LEASED_FIELD_NUMBER: _ClassVar[int]
    RETRYING_FIELD_NUMBER: _ClassVar[int]
    DEAD_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    OLDEST_READY_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    queue: str
    ready: int
    scheduled: int
    leased: int
    retrying: int
    dead: int
    paused: bool
    oldest_ready_at_unix_ms: int
    waiting: int
    def __init__(self, queue: _Optional[str] = ..., ready: _Optional[int] = ..., scheduled: _Optional[int] = ..., leased: _Optional[int] = ..., retrying: _Optional[int] = ..., dead: _Optional[int] = ..., paused: _Optional[bool] = ..., oldest_ready_at_unix_ms: _Optional[int] = ..., waiting: _Optional[int] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("task_id", "state", "reasons")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    state: _tasks_pb2.TaskState
    reasons: _containers.RepeatedCompositeFieldContainer[ExplainReason]
    def __init__(self, task_id: _Optional[str] = ..., state: _Optional[_Union[_tasks_pb2.TaskState, str]] = ..., reasons: _Optional[_Iterable[_Union[ExplainReason, _Mapping]]] = ...) -> None: ...

class ExplainReason(_message.Message):
    __slots__ = ("code", "message", "until_unix_ms", "worker", "limit")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    until_unix_ms: int
    worker: str
    limit: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., until_unix_ms: _Optional[int] = ..., worker: _Optional[str] = ..., limit: _Optional[str] = ...) -> None: ...

class PauseQueueRequest(_message.Message):
    __slots__ = ("queue", "paused")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    queue: str
    paused: bool
    def __init__(self, queue: _Optional[str] = ..., paused: _Optional[bool] = ...) -> None: ...

class PauseQueueResponse(_message.Message):
    __slots__ = ("changed",)
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    changed: bool
    def __init__(self, changed: _Optional[bool] = ...) -> None: ...

class QueueStatsResponse(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedCompositeFieldContainer[QueueStats]
    def __init__(self, queues: _Optional[_Iterable[_Union[QueueStats, _Mapping]]] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("queue", "state", "page_size", "page_token")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    queue: str
    state: _tasks_pb2.TaskState
    page_size: int
    page_token: str
    def __init__(self, queue: _Optional[str] = ..., state: _Optional[_Union[_tasks_pb2.TaskState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class TaskSummary(_message.Message):
    __slots__ = ("task_id", "name", "queue", "state", "priority", "attempts", "enqueued_at_unix_ms", "due_at_unix_ms", "error", "payload_size", "waiting_for", "waiting_until_unix_ms")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SIZE_FIELD_NUMBER: _ClassVar[int]
    WAITING_FOR_FIELD_NUMBER: _ClassVar[int]
    WAITING_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    name: str
    queue: str
    state: _tasks_pb2.TaskState
    priority: int
    attempts: int
    enqueued_at_unix_ms: int
    due_at_unix_ms: int
    error: _tasks_pb2.Error
    payload_size: int
    waiting_for: str
    waiting_until_unix_ms: int
    def __init__(self, task_id: _Optional[str] = ..., name: _Optional[str] = ..., queue: _Optional[str] = ..., state: _Optional[_Union[_tasks_pb2.TaskState, str]] = ..., priority: _Optional[int] = ..., attempts: _Optional[int] = ..., enqueued_at_unix_ms: _Optional[int] = ..., due_at_unix_ms: _Optional[int] = ..., error: _Optional[_Union[_tasks_pb2.Error, _Mapping]] = ..., payload_size: _Optional[int] = ..., waiting_for: _Optional[str] = ..., waiting_until_unix_ms: _Optional[int] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks", "next_page_token")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskSummary]
    next_page_token: str
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PurgeQueueRequest(_message.Message):
    __slots__ = ("queue", "dead_letters")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERS_FIELD_NUMBER: _ClassVar[int]
    queue: str
    dead_letters: bool
    def __init__(self, queue: _Optional[str] = ..., dead_letters: _Optional[bool] = ...) -> None: ...

class PurgeQueueResponse(_message.Message):
    __slots__ = ("purged",)
    PURGED_FIELD_NUMBER: _ClassVar[int]
    purged: int
    def __init__(self, purged: _Optional[int] = ...) -> None: ...

class ReplayDeadLettersRequest(_message.Message):
    __slots__ = ("queue", "task_ids", "limit")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    queue: str
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    def __init__(self, queue: _Optional[str] = ..., task_ids: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ...) -> None: ...

class ReplayDeadLettersResponse(_message.Message):
    __slots__ = ("task_ids",)
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, task_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListWorkersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("worker_id", "hostname", "pid", "queues", "task_names", "sdk_version", "connected_at_unix_ms", "last_seen_unix_ms", "tasks", "processed")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    TASK_NAMES_FIELD_NUMBER: _ClassVar[int]
    SDK_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    hostname: str
    pid: int
    queues: _containers.RepeatedScalarFieldContainer[str]
    task_names: _containers.RepeatedScalarFieldContainer[str]
    sdk_version: str
    connected_at_unix_ms: int
    last_seen_unix_ms: int
    tasks: _containers.RepeatedCompositeFieldContainer[WorkerTask]
    processed: int
    def __init__(self, worker_id: _Optional[str] = ..., hostname: _Optional[str] = ..., pid: _Optional[int] = ..., queues: _Optional[_Iterable[str]] = ..., task_names: _Optional[_Iterable[str]] = ..., sdk_version: _Optional[str] = ..., connected_at_unix_ms: _Optional[int] = ..., last_seen_unix_ms: _Optional[int] = ..., tasks: _Optional[_Iterable[_Union[WorkerTask, _Mapping]]] = ..., processed: _Optional[int] = ...) -> None: ...

class WorkerTask(_message.Message):
    __slots__ = ("task_id", "lease_id", "started")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    lease_id: int
    started: bool
    def __init__(self, task_id: _Optional[str] = ..., lease_id: _Optional[int] = ..., started: _Optional[bool] = ...) -> None: ...

class ListWorkersResponse(_message.Message):
    __slots__ = ("workers",)
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ...) -> None: ...

class ControlWorkersRequest(_message.Message):
    __slots__ = ("worker_ids", "command", "timeout_ms")
    WORKER_IDS_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    worker_ids: _containers.RepeatedScalarFieldContainer[str]
    command: _worker_pb2.WorkerCommand
    timeout_ms: int
    def __init__(self, worker_ids: _Optional[_Iterable[str]] = ..., command: _Optional[_Union[_worker_pb2.WorkerCommand, _Mapping]] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class ControlWorkersResponse(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[WorkerReply]
    def __init__(self, replies: _Optional[_Iterable[_Union[WorkerReply, _Mapping]]] = ...) -> None: ...

class WorkerReply(_message.Message):
    __slots__ = ("worker_id", "ok", "message", "details", "latency_ms")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    ok: bool
    message: str
    details: _containers.ScalarMap[str, str]
    latency_ms: int
    def __init__(self, worker_id: _Optional[str] = ..., ok: _Optional[bool] = ..., message: _Optional[str] = ..., details: _Optional[_Mapping[str, str]] = ..., latency_ms: _Optional[int] = ...) -> None: ...

class SetLimitRequest(_message.Message):
    __slots__ = ("scope", "per_header", "rate", "burst", "max_concurrency")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PER_HEADER_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    scope: str
    per_header: str
    rate: str
    burst: int
    max_concurrency: int
    def __init__(self, scope: _Optional[str] = ..., per_header: _Optional[str] = ..., rate: _Optional[str] = ..., burst: _Optional[int] = ..., max_concurrency: _Optional[int] = ...) -> None: ...

class ListLimitsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LimitInfo(_message.Message):
    __slots__ = ("scope", "per_header", "rate", "burst", "max_concurrency", "running", "waiting")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    PER_HEADER_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    scope: str
    per_header: str
    rate: str
    burst: int
    max_concurrency: int
    running: int
    waiting: int
    def __init__(self, scope: _Optional[str] = ..., per_header: _Optional[str] = ..., rate: _Optional[str] = ..., burst: _Optional[int] = ..., max_concurrency: _Optional[int] = ..., running: _Optional[int] = ..., waiting: _Optional[int] = ...) -> None: ...

class LimitsResponse(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: _containers.RepeatedCompositeFieldContainer[LimitInfo]
    def __init__(self, limits: _Optional[_Iterable[_Union[LimitInfo, _Mapping]]] = ...) -> None: ...
