from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    TASK_STATE_UNKNOWN: _ClassVar[TaskState]
    TASK_STATE_SCHEDULED: _ClassVar[TaskState]
    TASK_STATE_READY: _ClassVar[TaskState]
    TASK_STATE_LEASED: _ClassVar[TaskState]
    TASK_STATE_RETRYING: _ClassVar[TaskState]
    TASK_STATE_SUCCEEDED: _ClassVar[TaskState]
    TASK_STATE_FAILED: _ClassVar[TaskState]
    TASK_STATE_REVOKED: _ClassVar[TaskState]
    TASK_STATE_EXPIRED: _ClassVar[TaskState]
    TASK_STATE_RUNNING: _ClassVar[TaskState]
    TASK_STATE_WAITING: _ClassVar[TaskState]

class ChordPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHORD_POLICY_UNSPECIFIED: _ClassVar[ChordPolicy]
    CHORD_POLICY_FAIL_FAST: _ClassVar[ChordPolicy]
    CHORD_POLICY_WAIT_ALL: _ClassVar[ChordPolicy]
    CHORD_POLICY_PARTIAL: _ClassVar[ChordPolicy]

class RevokedWhile(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVOKED_WHILE_UNSPECIFIED: _ClassVar[RevokedWhile]
    REVOKED_WHILE_WAITING: _ClassVar[RevokedWhile]
    REVOKED_WHILE_PREFETCHED: _ClassVar[RevokedWhile]
    REVOKED_WHILE_RUNNING: _ClassVar[RevokedWhile]
    REVOKED_WHILE_FINISHED: _ClassVar[RevokedWhile]
    REVOKED_WHILE_UNKNOWN: _ClassVar[RevokedWhile]
TASK_STATE_UNSPECIFIED: TaskState
TASK_STATE_UNKNOWN: TaskState
TASK_STATE_SCHEDULED: TaskState
TASK_STATE_READY: TaskState
TASK_STATE_LEASED: TaskState
TASK_STATE_RETRYING: TaskState
TASK_STATE_SUCCEEDED: TaskState
TASK_STATE_FAILED: TaskState
TASK_STATE_REVOKED: TaskState
TASK_STATE_EXPIRED: TaskState
TASK_STATE_RUNNING: TaskState
TASK_STATE_WAITING: TaskState
CHORD_POLICY_UNSPECIFIED: ChordPolicy
CHORD_POLICY_FAIL_FAST: ChordPolicy
CHORD_POLICY_WAIT_ALL: ChordPolicy
CHORD_POLICY_PARTIAL: ChordPolicy
REVOKED_WHILE_UNSPECIFIED: RevokedWhile
REVOKED_WHILE_WAITING: RevokedWhile
REVOKED_WHILE_PREFETCHED: RevokedWhile
REVOKED_WHILE_RUNNING: RevokedWhile
REVOKED_WHILE_FINISHED: RevokedWhile
REVOKED_WHILE_UNKNOWN: RevokedWhile

class TaskSpec(_message.Message):
    __slots__ = ("name", "queue", "payload", "content_type", "headers", "priority", "task_id", "unique_key", "max_retries", "no_retries", "retry_backoff_ms", "retry_backoff_max_ms", "lease_duration_ms", "expires_at_unix_ms", "expires_in_ms", "eta_unix_ms", "countdown_ms", "soft_time_limit_ms", "time_limit_ms", "max_lost_attempts")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    NO_RETRIES_FIELD_NUMBER: _ClassVar[int]
    RETRY_BACKOFF_MS_FIELD_NUMBER: _ClassVar[int]
    RETRY_BACKOFF_MAX_MS_FIELD_NUMBER: _ClassVar[int]
    LEASE_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_MS_FIELD_NUMBER: _ClassVar[int]
    ETA_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    COUNTDOWN_MS_FIELD_NUMBER: _ClassVar[int]
    SOFT_TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_LOST_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    queue: str
    payload: bytes
    content_type: str
    headers: _containers.ScalarMap[str, str]
    priority: int
    task_id: str
    unique_key: str
    max_retries: int
    no_retries: bool
    retry_backoff_ms: int
    retry_backoff_max_ms: int
    lease_duration_ms: int
    expires_at_unix_ms: int
    expires_in_ms: int
    eta_unix_ms: int
    countdown_ms: int
    soft_time_limit_ms: int
    time_limit_ms: int
    max_lost_attempts: int
    def __init__(self, name: _Optional[str] = ..., queue: _Optional[str] = ..., payload: _Optional[bytes] = ..., content_type: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., priority: _Optional[int] = ..., task_id: _Optional[str] = ..., unique_key: _Optional[str] = ..., max_retries: _Optional[int] = ..., no_retries: _Optional[bool] = ..., retry_backoff_ms: _Optional[int] = ..., retry_backoff_max_ms: _Optional[int] = ..., lease_duration_ms: _Optional[int] = ..., expires_at_unix_ms: _Optional[int] = ..., expires_in_ms: _Optional[int] = ..., eta_unix_ms: _Optional[int] = ..., countdown_ms: _Optional[int] = ..., soft_time_limit_ms: _Optional[int] = ..., time_limit_ms: _Optional[int] = ..., max_lost_attempts: _Optional[int] = ...) -> None: ...

class EnqueueRequest(_message.Message):
    __slots__ = ("tasks", "workflows")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskSpec]
    workflows: _containers.RepeatedCompositeFieldContainer[Canvas]
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskSpec, _Mapping]]] = ..., workflows: _Optional[_Iterable[_Union[Canvas, _Mapping]]] = ...) -> None: ...

class Canvas(_message.Message):
    __slots__ = ("task", "chain", "group", "chord", "map", "chunks", "link", "link_error")
    TASK_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CHORD_FIELD_NUMBER: _ClassVar[int]
    MAP_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    LINK_FIELD_NUMBER: _ClassVar[int]
    LINK_ERROR_FIELD_NUMBER: _ClassVar[int]
    task: Signature
    chain: Chain
    group: Group
    chord: Chord
    map: Map
    chunks: Chunks
    link: _containers.RepeatedCompositeFieldContainer[Canvas]
    link_error: _containers.RepeatedCompositeFieldContainer[Signature]
    def __init__(self, task: _Optional[_Union[Signature, _Mapping]] = ..., chain: _Optional[_Union[Chain, _Mapping]] = ..., group: _Optional[_Union[Group, _Mapping]] = ..., chord: _Optional[_Union[Chord, _Mapping]] = ..., map: _Optional[_Union[Map, _Mapping]] = ..., chunks: _Optional[_Union[Chunks, _Mapping]] = ..., link: _Optional[_Iterable[_Union[Canvas, _Mapping]]] = ..., link_error: _Optional[_Iterable[_Union[Signature, _Mapping]]] = ...) -> None: ...

class Signature(_message.Message):
    __slots__ = ("task", "immutable")
    TASK_FIELD_NUMBER: _ClassVar[int]
    IMMUTABLE_FIELD_NUMBER: _ClassVar[int]
    task: TaskSpec
    immutable: bool
    def __init__(self, task: _Optional[_Union[TaskSpec, _Mapping]] = ..., immutable: _Optional[bool] = ...) -> None: ...

class Map(_message.Message):
    __slots__ = ("task", "star")
    TASK_FIELD_NUMBER: _ClassVar[int]
    STAR_FIELD_NUMBER: _ClassVar[int]
    task: Signature
    star: bool
    def __init__(self, task: _Optional[_Union[Signature, _Mapping]] = ..., star: _Optional[bool] = ...) -> None: ...

class Chunks(_message.Message):
    __slots__ = ("task", "size")
    TASK_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    task: Signature
    size: int
    def __init__(self, task: _Optional[_Union[Signature, _Mapping]] = ..., size: _Optional[int] = ...) -> None: ...

class Chain(_message.Message):
    __slots__ = ("steps",)
    STEPS_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[Canvas]
    def __init__(self, steps: _Optional[_Iterable[_Union[Canvas, _Mapping]]] = ...) -> None: ...

class Group(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[Canvas]
    def __init__(self, members: _Optional[_Iterable[_Union[Canvas, _Mapping]]] = ...) -> None: ...

class Chord(_message.Message):
    __slots__ = ("header", "body", "policy")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    header: _containers.RepeatedCompositeFieldContainer[Canvas]
    body: Canvas
    policy: ChordPolicy
    def __init__(self, header: _Optional[_Iterable[_Union[Canvas, _Mapping]]] = ..., body: _Optional[_Union[Canvas, _Mapping]] = ..., policy: _Optional[_Union[ChordPolicy, str]] = ...) -> None: ...

class GetWorkflowRequest(_message.Message):
    __slots__ = ("workflow_id",)
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    def __init__(self, workflow_id: _Optional[str] = ...) -> None: ...

class GetWorkflowResponse(_message.Message):
    __slots__ = ("workflow_id", "tasks", "tree", "finished", "succeeded", "grafts")
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    TREE_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    SUCCEEDED_FIELD_NUMBER: _ClassVar[int]
    GRAFTS_FIELD_NUMBER: _ClassVar[int]
    workflow_id: str
    tasks: _containers.RepeatedCompositeFieldContainer[GetResultResponse]
    tree: WorkflowTree
    finished: bool
    succeeded: bool
    grafts: _containers.RepeatedCompositeFieldContainer[WorkflowGraft]
    def __init__(self, workflow_id: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[GetResultResponse, _Mapping]]] = ..., tree: _Optional[_Union[WorkflowTree, _Mapping]] = ..., finished: _Optional[bool] = ..., succeeded: _Optional[bool] = ..., grafts: _Optional[_Iterable[_Union[WorkflowGraft, _Mapping]]] = ...) -> None: ...

class WorkflowGraft(_message.Message):
    __slots__ = ("task", "replaced_by", "added")
    TASK_FIELD_NUMBER: _ClassVar[int]
    REPLACED_BY_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    task: int
    replaced_by: WorkflowTree
    added: _containers.RepeatedCompositeFieldContainer[WorkflowTree]
    def __init__(self, task: _Optional[int] = ..., replaced_by: _Optional[_Union[WorkflowTree, _Mapping]] = ..., added: _Optional[_Iterable[_Union[WorkflowTree, _Mapping]]] = ...) -> None: ...

class WorkflowTree(_message.Message):
    __slots__ = ("task", "chain", "group", "chord")
    TASK_FIELD_NUMBER: _ClassVar[int]
    CHAIN_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CHORD_FIELD_NUMBER: _ClassVar[int]
    task: int
    chain: WorkflowTrees
    group: WorkflowTrees
    chord: WorkflowChord
    def __init__(self, task: _Optional[int] = ..., chain: _Optional[_Union[WorkflowTrees, _Mapping]] = ..., group: _Optional[_Union[WorkflowTrees, _Mapping]] = ..., chord: _Optional[_Union[WorkflowChord, _Mapping]] = ...) -> None: ...

class WorkflowTrees(_message.Message):
    __slots__ = ("parts",)
    PARTS_FIELD_NUMBER: _ClassVar[int]
    parts: _containers.RepeatedCompositeFieldContainer[WorkflowTree]
    def __init__(self, parts: _Optional[_Iterable[_Union[WorkflowTree, _Mapping]]] = ...) -> None: ...

class WorkflowChord(_message.Message):
    __slots__ = ("header", "body")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    header: _containers.RepeatedCompositeFieldContainer[WorkflowTree]
    body: WorkflowTree
    def __init__(self, header: _Optional[_Iterable[_Union[WorkflowTree, _Mapping]]] = ..., body: _Optional[_Union[WorkflowTree, _Mapping]] = ...) -> None: ...

class WorkflowOutcome(_message.Message):
    __slots__ = ("task_ids", "error", "workflow_id")
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_ID_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    error: Error
    workflow_id: str
    def __init__(self, task_ids: _Optional[_Iterable[str]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., workflow_id: _Optional[str] = ...) -> None: ...

class EnqueueOutcome(_message.Message):
    __slots__ = ("task_id", "created", "state", "error")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    created: bool
    state: TaskState
    error: Error
    def __init__(self, task_id: _Optional[str] = ..., created: _Optional[bool] = ..., state: _Optional[_Union[TaskState, str]] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class EnqueueResponse(_message.Message):
    __slots__ = ("outcomes", "workflows")
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    WORKFLOWS_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[EnqueueOutcome]
    workflows: _containers.RepeatedCompositeFieldContainer[WorkflowOutcome]
    def __init__(self, outcomes: _Optional[_Iterable[_Union[EnqueueOutcome, _Mapping]]] = ..., workflows: _Optional[_Iterable[_Union[WorkflowOutcome, _Mapping]]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("kind", "message")
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    message: str
    def __init__(self, kind: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class LeaseRequest(_message.Message):
    __slots__ = ("queues", "max_tasks", "wait_ms", "lease_duration_ms", "worker_id")
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    MAX_TASKS_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    LEASE_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedScalarFieldContainer[str]
    max_tasks: int
    wait_ms: int
    lease_duration_ms: int
    worker_id: str
    def __init__(self, queues: _Optional[_Iterable[str]] = ..., max_tasks: _Optional[int] = ..., wait_ms: _Optional[int] = ..., lease_duration_ms: _Optional[int] = ..., worker_id: _Optional[str] = ...) -> None: ...

class LeasedTask(_message.Message):
    __slots__ = ("task_id", "name", "queue", "payload", "content_type", "headers", "priority", "lease_id", "attempt", "lease_deadline_unix_ms", "retries_left", "enqueued_at_unix_ms", "soft_time_limit_ms", "time_limit_ms", "ready_since_unix_ms", "expires_at_unix_ms")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    LEASE_DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    RETRIES_LEFT_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    SOFT_TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    READY_SINCE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    name: str
    queue: str
    payload: bytes
    content_type: str
    headers: _containers.ScalarMap[str, str]
    priority: int
    lease_id: int
    attempt: int
    lease_deadline_unix_ms: int
    retries_left: int
    enqueued_at_unix_ms: int
    soft_time_limit_ms: int
    time_limit_ms: int
    ready_since_unix_ms: int
    expires_at_unix_ms: int
    def __init__(self, task_id: _Optional[str] = ..., name: _Optional[str] = ..., queue: _Optional[str] = ..., payload: _Optional[bytes] = ..., content_type: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., priority: _Optional[int] = ..., lease_id: _Optional[int] = ..., attempt: _Optional[int] = ..., lease_deadline_unix_ms: _Optional[int] = ..., retries_left: _Optional[int] = ..., enqueued_at_unix_ms: _Optional[int] = ..., soft_time_limit_ms: _Optional[int] = ..., time_limit_ms: _Optional[int] = ..., ready_since_unix_ms: _Optional[int] = ..., expires_at_unix_ms: _Optional[int] = ...) -> None: ...

class LeaseResponse(_message.Message):
    __slots__ = ("tasks",)
    TASKS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[LeasedTask]
    def __init__(self, tasks: _Optional[_Iterable[_Union[LeasedTask, _Mapping]]] = ...) -> None: ...

class AckRequest(_message.Message):
    __slots__ = ("task_id", "lease_id", "success", "failure", "replace", "add")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    ADD_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    lease_id: int
    success: TaskResult
    failure: Failure
    replace: Canvas
    add: _containers.RepeatedCompositeFieldContainer[Canvas]
    def __init__(self, task_id: _Optional[str] = ..., lease_id: _Optional[int] = ..., success: _Optional[_Union[TaskResult, _Mapping]] = ..., failure: _Optional[_Union[Failure, _Mapping]] = ..., replace: _Optional[_Union[Canvas, _Mapping]] = ..., add: _Optional[_Iterable[_Union[Canvas, _Mapping]]] = ...) -> None: ...

class TaskResult(_message.Message):
    __slots__ = ("value", "content_type")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    value: bytes
    content_type: str
    def __init__(self, value: _Optional[bytes] = ..., content_type: _Optional[str] = ...) -> None: ...

class Failure(_message.Message):
    __slots__ = ("error", "fatal", "retry_in_ms", "lost", "retry_at_unix_ms")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FATAL_FIELD_NUMBER: _ClassVar[int]
    RETRY_IN_MS_FIELD_NUMBER: _ClassVar[int]
    LOST_FIELD_NUMBER: _ClassVar[int]
    RETRY_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    error: Error
    fatal: bool
    retry_in_ms: int
    lost: bool
    retry_at_unix_ms: int
    def __init__(self, error: _Optional[_Union[Error, _Mapping]] = ..., fatal: _Optional[bool] = ..., retry_in_ms: _Optional[int] = ..., lost: _Optional[bool] = ..., retry_at_unix_ms: _Optional[int] = ...) -> None: ...

class AckResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: TaskState
    def __init__(self, state: _Optional[_Union[TaskState, str]] = ...) -> None: ...

class AckManyRequest(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[AckRequest]
    def __init__(self, acks: _Optional[_Iterable[_Union[AckRequest, _Mapping]]] = ...) -> None: ...

class AckManyResult(_message.Message):
    __slots__ = ("state", "error", "task_id", "lease_id")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    state: TaskState
    error: Error
    task_id: str
    lease_id: int
    def __init__(self, state: _Optional[_Union[TaskState, str]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., task_id: _Optional[str] = ..., lease_id: _Optional[int] = ...) -> None: ...

class AckManyResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AckManyResult]
    def __init__(self, results: _Optional[_Iterable[_Union[AckManyResult, _Mapping]]] = ...) -> None: ...

class NackRequest(_message.Message):
    __slots__ = ("task_id", "lease_id", "requeue", "reject")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEUE_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    lease_id: int
    requeue: Requeue
    reject: Reject
    def __init__(self, task_id: _Optional[str] = ..., lease_id: _Optional[int] = ..., requeue: _Optional[_Union[Requeue, _Mapping]] = ..., reject: _Optional[_Union[Reject, _Mapping]] = ...) -> None: ...

class Requeue(_message.Message):
    __slots__ = ("delay_ms", "at_unix_ms")
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    delay_ms: int
    at_unix_ms: int
    def __init__(self, delay_ms: _Optional[int] = ..., at_unix_ms: _Optional[int] = ...) -> None: ...

class Reject(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class NackResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: TaskState
    def __init__(self, state: _Optional[_Union[TaskState, str]] = ...) -> None: ...

class ExtendLeaseRequest(_message.Message):
    __slots__ = ("task_id", "lease_id", "lease_duration_ms")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    lease_id: int
    lease_duration_ms: int
    def __init__(self, task_id: _Optional[str] = ..., lease_id: _Optional[int] = ..., lease_duration_ms: _Optional[int] = ...) -> None: ...

class ExtendLeaseResponse(_message.Message):
    __slots__ = ("lease_deadline_unix_ms",)
    LEASE_DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    lease_deadline_unix_ms: int
    def __init__(self, lease_deadline_unix_ms: _Optional[int] = ...) -> None: ...

class GetResultRequest(_message.Message):
    __slots__ = ("task_id", "wait_ms")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    wait_ms: int
    def __init__(self, task_id: _Optional[str] = ..., wait_ms: _Optional[int] = ...) -> None: ...

class GetResultResponse(_message.Message):
    __slots__ = ("task_id", "state", "name", "queue", "result", "error", "attempts", "enqueued_at_unix_ms", "started_at_unix_ms", "finished_at_unix_ms", "due_at_unix_ms", "result_expires_at_unix_ms")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    RESULT_EXPIRES_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    state: TaskState
    name: str
    queue: str
    result: TaskResult
    error: Error
    attempts: int
    enqueued_at_unix_ms: int
    started_at_unix_ms: int
    finished_at_unix_ms: int
    due_at_unix_ms: int
    result_expires_at_unix_ms: int
    def __init__(self, task_id: _Optional[str] = ..., state: _Optional[_Union[TaskState, str]] = ..., name: _Optional[str] = ..., queue: _Optional[str] = ..., result: _Optional[_Union[TaskResult, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., attempts: _Optional[int] = ..., enqueued_at_unix_ms: _Optional[int] = ..., started_at_unix_ms: _Optional[int] = ..., finished_at_unix_ms: _Optional[int] = ..., due_at_unix_ms: _Optional[int] = ..., result_expires_at_unix_ms: _Optional[int] = ...) -> None: ...

class RevokeRequest(_message.Message):
    __slots__ = ("task_ids", "headers", "remember_ms")
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    REMEMBER_MS_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    headers: _containers.RepeatedCompositeFieldContainer[HeaderValue]
    remember_ms: int
    def __init__(self, task_ids: _Optional[_Iterable[str]] = ..., headers: _Optional[_Iterable[_Union[HeaderValue, _Mapping]]] = ..., remember_ms: _Optional[int] = ...) -> None: ...

class HeaderValue(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class RevokeOutcome(_message.Message):
    __slots__ = ("task_id", "state", "was")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    WAS_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    state: TaskState
    was: RevokedWhile
    def __init__(self, task_id: _Optional[str] = ..., state: _Optional[_Union[TaskState, str]] = ..., was: _Optional[_Union[RevokedWhile, str]] = ...) -> None: ...

class RevokeResponse(_message.Message):
    __slots__ = ("outcomes", "matched", "matched_count")
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    MATCHED_COUNT_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedCompositeFieldContainer[RevokeOutcome]
    matched: _containers.RepeatedCompositeFieldContainer[RevokeOutcome]
    matched_count: int
    def __init__(self, outcomes: _Optional[_Iterable[_Union[RevokeOutcome, _Mapping]]] = ..., matched: _Optional[_Iterable[_Union[RevokeOutcome, _Mapping]]] = ..., matched_count: _Optional[int] = ...) -> None: ...
