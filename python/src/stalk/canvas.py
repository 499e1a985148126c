"""Canvas from Python, mapped onto the broker's workflows (``message Canvas`` in
``proto/stalk/v1/tasks.proto``): ``add.s(1)``, ``add.si(1)``, ``chain``, ``group``, ``chord``
and ``|``. The broker runs the workflow: a step's result goes first among the next step's
positional arguments, a chord's body gets the list of its header's results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from .client import Client, TaskOptions, task_spec
from .errors import StalkError
from .payload import explicit_args
from .v1 import tasks_pb2

if TYPE_CHECKING:
    from .app import Stalk

#: What a chord's body does when a member fails for good.
POLICIES = {
    "fail_fast": tasks_pb2.CHORD_POLICY_FAIL_FAST,
    "wait_all": tasks_pb2.CHORD_POLICY_WAIT_ALL,
    "partial": tasks_pb2.CHORD_POLICY_PARTIAL,
}


class Canvas:
    """A part of a workflow; ``a | b`` chains two parts."""

    app: Optional["Stalk"] = None

    def to_proto(self) -> tasks_pb2.Canvas:
        raise NotImplementedError

    def __or__(self, other: "Canvas") -> "Chain":
        return Chain([*_steps(self), *_steps(other)])

    def apply_async(self, client: Optional[Client] = None) -> "WorkflowResult":
        """Submits the workflow in one call; the broker creates every task of it or none.
        Raises ``StalkError`` naming the part it refused."""
        client = client or _client_of(self)
        return submit(client, self)

    def delay(self) -> "WorkflowResult":
        """``apply_async`` with the app's client."""
        return self.apply_async()


@dataclass
class Signature(Canvas):
    """One task with its arguments and options (Celery's ``add.s(1)``); ``immutable`` ignores
    the results before it (``add.si(1)``)."""

    name: str
    args: Sequence[Any] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    options: TaskOptions = field(default_factory=TaskOptions)
    immutable: bool = False
    app: Optional["Stalk"] = None

    def to_proto(self) -> tasks_pb2.Canvas:
        spec = task_spec(self.name, options=self.options, payload=explicit_args(self.args, self.kwargs))
        return tasks_pb2.Canvas(task=tasks_pb2.Signature(task=spec, immutable=self.immutable))


@dataclass
class Chain(Canvas):
    """Steps one after another, each result passed to the next; stops at the first failure."""

    steps: List[Canvas]

    def to_proto(self) -> tasks_pb2.Canvas:
        return tasks_pb2.Canvas(chain=tasks_pb2.Chain(steps=[s.to_proto() for s in self.steps]))


@dataclass
class Group(Canvas):
    """Members at once; their results, in order."""

    members: List[Canvas]

    def to_proto(self) -> tasks_pb2.Canvas:
        return tasks_pb2.Canvas(group=tasks_pb2.Group(members=[m.to_proto() for m in self.members]))


@dataclass
class Chord(Canvas):
    """A header of members at once, then a body with the list of their results."""

    header: List[Canvas]
    body: Canvas
    policy: str = "fail_fast"

    def to_proto(self) -> tasks_pb2.Canvas:
        if self.policy not in POLICIES:
            raise ValueError(f"policy {self.policy!r}: use one of {sorted(POLICIES)}")
        chord = tasks_pb2.Chord(
            header=[m.to_proto() for m in self.header],
            body=self.body.to_proto(),
            policy=POLICIES[self.policy],
        )
        return tasks_pb2.Canvas(chord=chord)


def chain(*steps: Canvas) -> Chain:
    """``chain(a, b, c)``: each result passed to the next step."""
    return Chain([s for step in steps for s in _steps(step)])


def group(*members: Union[Canvas, Sequence[Canvas]]) -> Group:
    """``group(a, b)`` or ``group([a, b])``: members at once."""
    flat: List[Canvas] = []
    for member in members:
        if isinstance(member, Canvas):
            flat.append(member)
        else:
            flat.extend(member)
    return Group(flat)


def chord(header: Union[Group, Sequence[Canvas]], body: Canvas, policy: str = "fail_fast") -> Chord:
    """``chord(group, body)``: the body runs with the list of the header's results.
    ``policy``: ``fail_fast`` (default), ``wait_all`` or ``partial``."""
    members = header.members if isinstance(header, Group) else list(header)
    return Chord(members, body, policy)


@dataclass(frozen=True)
class WorkflowResult:
    """A submitted workflow: its id and its tasks' ids, in canvas order."""

    id: str
    task_ids: List[str]
    client: Client
    shape: Canvas

    def get(self, timeout: float = 60.0) -> Any:
        """Waits up to ``timeout`` seconds for the workflow's result: a chain's last step's, a
        group's list of its members' (as Celery's ``GroupResult.get``), a chord's body's.
        Raises ``TaskFailed`` when a task it returns failed, ``TaskTimeout`` when not done."""
        deadline = time.monotonic() + timeout

        def value(output: Any) -> Any:
            if isinstance(output, list):
                return [value(o) for o in output]
            left = max(0.0, deadline - time.monotonic())
            return self.client.wait(self.task_ids[output], left).value()

        return value(_output(self.shape, iter(range(len(self.task_ids)))))

    def revoke(self) -> Dict[str, str]:
        """Revokes every unfinished task of the workflow."""
        return self.client.revoke(self.id)


def submit(client: Client, canvas: Canvas) -> WorkflowResult:
    """Submits ``canvas`` as one workflow."""
    request = tasks_pb2.EnqueueRequest(workflows=[canvas.to_proto()])
    response = client._call(client._tasks.Enqueue, request)
    outcome = response.workflows[0]
    if outcome.HasField("error"):
        raise StalkError(f"{outcome.error.kind}: {outcome.error.message}", "INVALID_ARGUMENT")
    return WorkflowResult(outcome.workflow_id, list(outcome.task_ids), client, canvas)


def _steps(canvas: Canvas) -> List[Canvas]:
    return list(canvas.steps) if isinstance(canvas, Chain) else [canvas]


def _client_of(canvas: Canvas) -> Client:
    for part in _walk(canvas):
        if isinstance(part, Signature) and part.app is not None:
            return part.app.client
    raise StalkError("this canvas has no app to send it with: pass a client to apply_async")


def _walk(canvas: Canvas) -> List[Canvas]:
    if isinstance(canvas, Chain):
        return [c for s in canvas.steps for c in _walk(s)]
    if isinstance(canvas, Group):
        return [c for m in canvas.members for c in _walk(m)]
    if isinstance(canvas, Chord):
        return [*(c for m in canvas.header for c in _walk(m)), *_walk(canvas.body)]
    return [canvas]


def _output(canvas: Canvas, indexes: Iterator[int]) -> Any:
    """Which tasks' results make ``canvas``'s result: a task's index (in canvas order, as the
    broker answers ids), or a list of such for a group. Consumes ``indexes`` for every task."""
    if isinstance(canvas, Signature):
        return next(indexes)
    if isinstance(canvas, Chain):
        last: Any = None
        for step in canvas.steps:
            last = _output(step, indexes)
        return last
    if isinstance(canvas, Group):
        return [_output(m, indexes) for m in canvas.members]
    if isinstance(canvas, Chord):
        for member in canvas.header:
            _output(member, indexes)
        return _output(canvas.body, indexes)
    raise TypeError(f"not a canvas: {canvas!r}")


__all__ = [
    "Canvas",
    "Chain",
    "Chord",
    "Group",
    "Signature",
    "WorkflowResult",
    "chain",
    "chord",
    "group",
]
