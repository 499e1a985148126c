from stalk.v1 import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_TASK_SENT: _ClassVar[EventType]
    EVENT_TYPE_TASK_SCHEDULED: _ClassVar[EventType]
    EVENT_TYPE_TASK_READY: _ClassVar[EventType]
    EVENT_TYPE_TASK_LEASED: _ClassVar[EventType]
    EVENT_TYPE_TASK_STARTED: _ClassVar[EventType]
    EVENT_TYPE_TASK_SUCCEEDED: _ClassVar[EventType]
    EVENT_TYPE_TASK_FAILED: _ClassVar[EventType]
    EVENT_TYPE_TASK_RETRIED: _ClassVar[EventType]
    EVENT_TYPE_TASK_REVOKED: _ClassVar[EventType]
    EVENT_TYPE_TASK_EXPIRED: _ClassVar[EventType]
    EVENT_TYPE_TASK_DEAD_LETTERED: _ClassVar[EventType]
    EVENT_TYPE_TASK_REPLAYED: _ClassVar[EventType]
    EVENT_TYPE_TASK_LOST: _ClassVar[EventType]
    EVENT_TYPE_WORKER_ONLINE: _ClassVar[EventType]
    EVENT_TYPE_WORKER_HEARTBEAT: _ClassVar[EventType]
    EVENT_TYPE_WORKER_OFFLINE: _ClassVar[EventType]
    EVENT_TYPE_SCHEDULE_FIRED: _ClassVar[EventType]
    EVENT_TYPE_SCHEDULE_MISSED: _ClassVar[EventType]
    EVENT_TYPE_LIMIT_CHANGED: _ClassVar[EventType]
    EVENT_TYPE_QUEUE_PAUSED: _ClassVar[EventType]
    EVENT_TYPE_QUEUE_RESUMED: _ClassVar[EventType]
    EVENT_TYPE_TASK_HELD: _ClassVar[EventType]
    EVENT_TYPE_QUEUE_THROTTLED: _ClassVar[EventType]
    EVENT_TYPE_WORKFLOW_SUBMITTED: _ClassVar[EventType]
    EVENT_TYPE_WORKFLOW_FINISHED: _ClassVar[EventType]
    EVENT_TYPE_TASK_REPLACED: _ClassVar[EventType]
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_TASK_SENT: EventType
EVENT_TYPE_TASK_SCHEDULED: EventType
EVENT_TYPE_TASK_READY: EventType
EVENT_TYPE_TASK_LEASED: EventType
EVENT_TYPE_TASK_STARTED: EventType
EVENT_TYPE_TASK_SUCCEEDED: EventType
EVENT_TYPE_TASK_FAILED: EventType
EVENT_TYPE_TASK_RETRIED: EventType
EVENT_TYPE_TASK_REVOKED: EventType
EVENT_TYPE_TASK_EXPIRED: EventType
EVENT_TYPE_TASK_DEAD_LETTERED: EventType
EVENT_TYPE_TASK_REPLAYED: EventType
EVENT_TYPE_TASK_LOST: EventType
EVENT_TYPE_WORKER_ONLINE: EventType
EVENT_TYPE_WORKER_HEARTBEAT: EventType
EVENT_TYPE_WORKER_OFFLINE: EventType
EVENT_TYPE_SCHEDULE_FIRED: EventType
EVENT_TYPE_SCHEDULE_MISSED: EventType
EVENT_TYPE_LIMIT_CHANGED: EventType
EVENT_TYPE_QUEUE_PAUSED: EventType
EVENT_TYPE_QUEUE_RESUMED: EventType
EVENT_TYPE_TASK_HELD: EventType
EVENT_TYPE_QUEUE_THROTTLED: EventType
EVENT_TYPE_WORKFLOW_SUBMITTED: EventType
EVENT_TYPE_WORKFLOW_FINISHED: EventType
EVENT_TYPE_TASK_REPLACED: EventType

class WatchEventsRequest(_message.Message):
    __slots__ = ("from_seq", "types", "queues", "task_names", "workers", "task_ids", "stop_at_end")
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    TASK_NAMES_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    STOP_AT_END_FIELD_NUMBER: _ClassVar[int]
    from_seq: int
    types: _containers.RepeatedScalarFieldContainer[str]
    queues: _containers.RepeatedScalarFieldContainer[str]
    task_names: _containers.RepeatedScalarFieldContainer[str]
    workers: _containers.RepeatedScalarFieldContainer[str]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    stop_at_end: bool
    def __init__(self, from_seq: _Optional[int] = ..., types: _Optional[_Iterable[str]] = ..., queues: _Optional[_Iterable[str]] = ..., task_names: _Optional[_Iterable[str]] = ..., workers: _Optional[_Iterable[str]] = ..., task_ids: _Optional[_Iterable[str]] = ..., stop_at_end: _Optional[bool] = ...) -> None: ...

class WatchEventsResponse(_message.Message):
    __slots__ = ("events", "live", "lagged", "too_old")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    LAGGED_FIELD_NUMBER: _ClassVar[int]
    TOO_OLD_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    live: Live
    lagged: Lagged
    too_old: TooOld
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., live: _Optional[_Union[Live, _Mapping]] = ..., lagged: _Optional[_Union[Lagged, _Mapping]] = ..., too_old: _Optional[_Union[TooOld, _Mapping]] = ...) -> None: ...

class Live(_message.Message):
    __slots__ = ("next_seq",)
    NEXT_SEQ_FIELD_NUMBER: _ClassVar[int]
    next_seq: int
    def __init__(self, next_seq: _Optional[int] = ...) -> None: ...

class Lagged(_message.Message):
    __slots__ = ("resume_from",)
    RESUME_FROM_FIELD_NUMBER: _ClassVar[int]
    resume_from: int
    def __init__(self, resume_from: _Optional[int] = ...) -> None: ...

class TooOld(_message.Message):
    __slots__ = ("asked_seq", "oldest_seq")
    ASKED_SEQ_FIELD_NUMBER: _ClassVar[int]
    OLDEST_SEQ_FIELD_NUMBER: _ClassVar[int]
    asked_seq: int
    oldest_seq: int
    def __init__(self, asked_seq: _Optional[int] = ..., oldest_seq: _Optional[int] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("seq", "type", "type_name", "at_unix_ms", "task_id", "task_name", "queue", "attempt", "state", "worker", "due_at_unix_ms", "runtime_ms", "error", "active", "processed", "note", "waited_ms")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_NAME_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    WAITED_MS_FIELD_NUMBER: _ClassVar[int]
    seq: int
    type: EventType
    type_name: str
    at_unix_ms: int
    task_id: str
    task_name: str
    queue: str
    attempt: int
    state: _tasks_pb2.TaskState
    worker: str
    due_at_unix_ms: int
    runtime_ms: int
    error: _tasks_pb2.Error
    active: int
    processed: int
    note: str
    waited_ms: int
    def __init__(self, seq: _Optional[int] = ..., type: _Optional[_Union[EventType, str]] = ..., type_name: _Optional[str] = ..., at_unix_ms: _Optional[int] = ..., task_id: _Optional[str] = ..., task_name: _Optional[str] = ..., queue: _Optional[str] = ..., attempt: _Optional[int] = ..., state: _Optional[_Union[_tasks_pb2.TaskState, str]] = ..., worker: _Optional[str] = ..., due_at_unix_ms: _Optional[int] = ..., runtime_ms: _Optional[int] = ..., error: _Optional[_Union[_tasks_pb2.Error, _Mapping]] = ..., active: _Optional[int] = ..., processed: _Optional[int] = ..., note: _Optional[str] = ..., waited_ms: _Optional[int] = ...) -> None: ...
