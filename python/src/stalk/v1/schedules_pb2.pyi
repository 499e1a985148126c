from stalk.v1 import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Misfire(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MISFIRE_SKIP: _ClassVar[Misfire]
    MISFIRE_RUN_ONCE: _ClassVar[Misfire]
    MISFIRE_RUN_ALL: _ClassVar[Misfire]

class Overlap(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OVERLAP_ALLOW: _ClassVar[Overlap]
    OVERLAP_SKIP: _ClassVar[Overlap]
    OVERLAP_BUFFER_ONE: _ClassVar[Overlap]
MISFIRE_SKIP: Misfire
MISFIRE_RUN_ONCE: Misfire
MISFIRE_RUN_ALL: Misfire
OVERLAP_ALLOW: Overlap
OVERLAP_SKIP: Overlap
OVERLAP_BUFFER_ONE: Overlap

class ScheduleSpec(_message.Message):
    __slots__ = ("name", "every", "cron", "once", "task", "misfire", "misfire_grace_ms", "overlap", "paused")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EVERY_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    ONCE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    MISFIRE_FIELD_NUMBER: _ClassVar[int]
    MISFIRE_GRACE_MS_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    name: str
    every: Every
    cron: Cron
    once: Once
    task: _tasks_pb2.TaskSpec
    misfire: Misfire
    misfire_grace_ms: int
    overlap: Overlap
    paused: bool
    def __init__(self, name: _Optional[str] = ..., every: _Optional[_Union[Every, _Mapping]] = ..., cron: _Optional[_Union[Cron, _Mapping]] = ..., once: _Optional[_Union[Once, _Mapping]] = ..., task: _Optional[_Union[_tasks_pb2.TaskSpec, _Mapping]] = ..., misfire: _Optional[_Union[Misfire, str]] = ..., misfire_grace_ms: _Optional[int] = ..., overlap: _Optional[_Union[Overlap, str]] = ..., paused: _Optional[bool] = ...) -> None: ...

class Every(_message.Message):
    __slots__ = ("every_ms",)
    EVERY_MS_FIELD_NUMBER: _ClassVar[int]
    every_ms: int
    def __init__(self, every_ms: _Optional[int] = ...) -> None: ...

class Cron(_message.Message):
    __slots__ = ("expression", "time_zone")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    expression: str
    time_zone: str
    def __init__(self, expression: _Optional[str] = ..., time_zone: _Optional[str] = ...) -> None: ...

class Once(_message.Message):
    __slots__ = ("at_unix_ms",)
    AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    at_unix_ms: int
    def __init__(self, at_unix_ms: _Optional[int] = ...) -> None: ...

class PutScheduleRequest(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: ScheduleSpec
    def __init__(self, schedule: _Optional[_Union[ScheduleSpec, _Mapping]] = ...) -> None: ...

class ScheduleName(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class PauseScheduleRequest(_message.Message):
    __slots__ = ("name", "paused")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    name: str
    paused: bool
    def __init__(self, name: _Optional[str] = ..., paused: _Optional[bool] = ...) -> None: ...

class ScheduleInfo(_message.Message):
    __slots__ = ("schedule", "next_fire_unix_ms", "last_fire_unix_ms", "last_task_id")
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIRE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_FIRE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_TASK_ID_FIELD_NUMBER: _ClassVar[int]
    schedule: ScheduleSpec
    next_fire_unix_ms: int
    last_fire_unix_ms: int
    last_task_id: str
    def __init__(self, schedule: _Optional[_Union[ScheduleSpec, _Mapping]] = ..., next_fire_unix_ms: _Optional[int] = ..., last_fire_unix_ms: _Optional[int] = ..., last_task_id: _Optional[str] = ...) -> None: ...

class ListSchedulesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSchedulesResponse(_message.Message):
    __slots__ = ("schedules",)
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[ScheduleInfo]
    def __init__(self, schedules: _Optional[_Iterable[_Union[ScheduleInfo, _Mapping]]] = ...) -> None: ...

class DeleteScheduleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PreviewScheduleRequest(_message.Message):
    __slots__ = ("name", "count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    count: int
    def __init__(self, name: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class PreviewScheduleResponse(_message.Message):
    __slots__ = ("fire_unix_ms", "local_times", "time_zone")
    FIRE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    LOCAL_TIMES_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    fire_unix_ms: _containers.RepeatedScalarFieldContainer[int]
    local_times: _containers.RepeatedScalarFieldContainer[str]
    time_zone: str
    def __init__(self, fire_unix_ms: _Optional[_Iterable[int]] = ..., local_times: _Optional[_Iterable[str]] = ..., time_zone: _Optional[str] = ...) -> None: ...
