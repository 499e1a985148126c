from stalk.v1 import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerMessage(_message.Message):
    __slots__ = ("hello", "credit", "started", "acks", "nack", "extend", "goodbye", "heartbeat", "control_reply", "consume")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    CREDIT_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    ACKS_FIELD_NUMBER: _ClassVar[int]
    NACK_FIELD_NUMBER: _ClassVar[int]
    EXTEND_FIELD_NUMBER: _ClassVar[int]
    GOODBYE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    CONTROL_REPLY_FIELD_NUMBER: _ClassVar[int]
    CONSUME_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    credit: Credit
    started: Started
    acks: _tasks_pb2.AckManyRequest
    nack: _tasks_pb2.NackRequest
    extend: _tasks_pb2.ExtendLeaseRequest
    goodbye: Goodbye
    heartbeat: Heartbeat
    control_reply: ControlReply
    consume: Consume
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., credit: _Optional[_Union[Credit, _Mapping]] = ..., started: _Optional[_Union[Started, _Mapping]] = ..., acks: _Optional[_Union[_tasks_pb2.AckManyRequest, _Mapping]] = ..., nack: _Optional[_Union[_tasks_pb2.NackRequest, _Mapping]] = ..., extend: _Optional[_Union[_tasks_pb2.ExtendLeaseRequest, _Mapping]] = ..., goodbye: _Optional[_Union[Goodbye, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., control_reply: _Optional[_Union[ControlReply, _Mapping]] = ..., consume: _Optional[_Union[Consume, _Mapping]] = ...) -> None: ...

class Consume(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, queues: _Optional[_Iterable[str]] = ...) -> None: ...

class ControlReply(_message.Message):
    __slots__ = ("request_id", "ok", "message", "details")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    ok: bool
    message: str
    details: _containers.ScalarMap[str, str]
    def __init__(self, request_id: _Optional[int] = ..., ok: _Optional[bool] = ..., message: _Optional[str] = ..., details: _Optional[_Mapping[str, str]] = ...) -> None: ...

class WorkerCommand(_message.Message):
    __slots__ = ("ping", "shutdown", "time_limit", "add_consumer", "cancel_consumer", "pool_grow", "pool_shrink", "custom")
    PING_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_FIELD_NUMBER: _ClassVar[int]
    ADD_CONSUMER_FIELD_NUMBER: _ClassVar[int]
    CANCEL_CONSUMER_FIELD_NUMBER: _ClassVar[int]
    POOL_GROW_FIELD_NUMBER: _ClassVar[int]
    POOL_SHRINK_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_NUMBER: _ClassVar[int]
    ping: Ping
    shutdown: Shutdown
    time_limit: TimeLimit
    add_consumer: AddConsumer
    cancel_consumer: CancelConsumer
    pool_grow: PoolGrow
    pool_shrink: PoolShrink
    custom: CustomCommand
    def __init__(self, ping: _Optional[_Union[Ping, _Mapping]] = ..., shutdown: _Optional[_Union[Shutdown, _Mapping]] = ..., time_limit: _Optional[_Union[TimeLimit, _Mapping]] = ..., add_consumer: _Optional[_Union[AddConsumer, _Mapping]] = ..., cancel_consumer: _Optional[_Union[CancelConsumer, _Mapping]] = ..., pool_grow: _Optional[_Union[PoolGrow, _Mapping]] = ..., pool_shrink: _Optional[_Union[PoolShrink, _Mapping]] = ..., custom: _Optional[_Union[CustomCommand, _Mapping]] = ...) -> None: ...

class Ping(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Shutdown(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TimeLimit(_message.Message):
    __slots__ = ("task_name", "hard_ms", "soft_ms")
    TASK_NAME_FIELD_NUMBER: _ClassVar[int]
    HARD_MS_FIELD_NUMBER: _ClassVar[int]
    SOFT_MS_FIELD_NUMBER: _ClassVar[int]
    task_name: str
    hard_ms: int
    soft_ms: int
    def __init__(self, task_name: _Optional[str] = ..., hard_ms: _Optional[int] = ..., soft_ms: _Optional[int] = ...) -> None: ...

class AddConsumer(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class CancelConsumer(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class PoolGrow(_message.Message):
    __slots__ = ("slots",)
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    slots: int
    def __init__(self, slots: _Optional[int] = ...) -> None: ...

class PoolShrink(_message.Message):
    __slots__ = ("slots",)
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    slots: int
    def __init__(self, slots: _Optional[int] = ...) -> None: ...

class CustomCommand(_message.Message):
    __slots__ = ("name", "args")
    class ArgsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    args: _containers.ScalarMap[str, str]
    def __init__(self, name: _Optional[str] = ..., args: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ControlRequest(_message.Message):
    __slots__ = ("request_id", "command")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    command: WorkerCommand
    def __init__(self, request_id: _Optional[int] = ..., command: _Optional[_Union[WorkerCommand, _Mapping]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Goodbye(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Hello(_message.Message):
    __slots__ = ("worker_id", "hostname", "pid", "queues", "task_names", "sdk_version", "lease_duration_ms", "prefetch_lease_ms")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    TASK_NAMES_FIELD_NUMBER: _ClassVar[int]
    SDK_VERSION_FIELD_NUMBER: _ClassVar[int]
    LEASE_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    hostname: str
    pid: int
    queues: _containers.RepeatedScalarFieldContainer[str]
    task_names: _containers.RepeatedScalarFieldContainer[str]
    sdk_version: str
    lease_duration_ms: int
    prefetch_lease_ms: int
    def __init__(self, worker_id: _Optional[str] = ..., hostname: _Optional[str] = ..., pid: _Optional[int] = ..., queues: _Optional[_Iterable[str]] = ..., task_names: _Optional[_Iterable[str]] = ..., sdk_version: _Optional[str] = ..., lease_duration_ms: _Optional[int] = ..., prefetch_lease_ms: _Optional[int] = ...) -> None: ...

class Credit(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: int
    def __init__(self, tasks: _Optional[int] = ...) -> None: ...

class Started(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[StartedTask]
    def __init__(self, tasks: _Optional[_Iterable[_Union[StartedTask, _Mapping]]] = ...) -> None: ...

class StartedTask(_message.Message):
    __slots__ = ("task_id", "lease_id")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    lease_id: int
    def __init__(self, task_id: _Optional[str] = ..., lease_id: _Optional[int] = ...) -> None: ...

class BrokerMessage(_message.Message):
    __slots__ = ("welcome", "tasks", "acked", "nacked", "extended", "control", "stop")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    ACKED_FIELD_NUMBER: _ClassVar[int]
    NACKED_FIELD_NUMBER: _ClassVar[int]
    EXTENDED_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    tasks: _tasks_pb2.LeaseResponse
    acked: _tasks_pb2.AckManyResponse
    nacked: NackOutcome
    extended: ExtendOutcome
    control: ControlRequest
    stop: StopTasks
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., tasks: _Optional[_Union[_tasks_pb2.LeaseResponse, _Mapping]] = ..., acked: _Optional[_Union[_tasks_pb2.AckManyResponse, _Mapping]] = ..., nacked: _Optional[_Union[NackOutcome, _Mapping]] = ..., extended: _Optional[_Union[ExtendOutcome, _Mapping]] = ..., control: _Optional[_Union[ControlRequest, _Mapping]] = ..., stop: _Optional[_Union[StopTasks, _Mapping]] = ...) -> None: ...

class StopTasks(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[StopTask]
    def __init__(self, tasks: _Optional[_Iterable[_Union[StopTask, _Mapping]]] = ...) -> None: ...

class StopTask(_message.Message):
    __slots__ = ("task_id", "lease_id", "state", "reason")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    lease_id: int
    state: _tasks_pb2.TaskState
    reason: str
    def __init__(self, task_id: _Optional[str] = ..., lease_id: _Optional[int] = ..., state: _Optional[_Union[_tasks_pb2.TaskState, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("session_id", "priority_aging_ms")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_AGING_MS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    priority_aging_ms: int
    def __init__(self, session_id: _Optional[str] = ..., priority_aging_ms: _Optional[int] = ...) -> None: ...

class NackOutcome(_message.Message):
    __slots__ = ("task_id", "state", "error")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    state: _tasks_pb2.TaskState
    error: _tasks_pb2.Error
    def __init__(self, task_id: _Optional[str] = ..., state: _Optional[_Union[_tasks_pb2.TaskState, str]] = ..., error: _Optional[_Union[_tasks_pb2.Error, _Mapping]] = ...) -> None: ...

class ExtendOutcome(_message.Message):
    __slots__ = ("task_id", "lease_deadline_unix_ms", "error")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    lease_deadline_unix_ms: int
    error: _tasks_pb2.Error
    def __init__(self, task_id: _Optional[str] = ..., lease_deadline_unix_ms: _Optional[int] = ..., error: _Optional[_Union[_tasks_pb2.Error, _Mapping]] = ...) -> None: ...
