"""Celery-shaped tasks: ``app = Stalk(addr)``, ``@app.task``, ``add.delay(2, 3)``,
``add.apply_async(...)`` and ``AsyncResult``."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import os
from typing import (
    Any,
    Callable,
    Dict,
    Generic,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    TypeVar,
    Union,
)

from .canvas import Signature
from .client import Client, TaskOptions, TaskStatus

R = TypeVar("R")


class AsyncResult:
    """A task's result, as Celery's ``AsyncResult``: ``get``, ``state``, ``ready``,
    ``successful``, ``revoke``."""

    def __init__(self, task_id: str, client: Client) -> None:
        self.id = task_id
        self._client = client

    def __repr__(self) -> str:
        return f"<AsyncResult {self.id}>"

    @property
    def state(self) -> str:
        """The task's state now: READY, LEASED, SUCCEEDED, FAILED, …"""
        return self._client.status(self.id).state

    def status(self) -> TaskStatus:
        """Everything the broker says of the task now."""
        return self._client.status(self.id)

    def ready(self) -> bool:
        """Whether the task has ended."""
        return self._client.status(self.id).ready

    def successful(self) -> bool:
        """Whether the task SUCCEEDED."""
        return self._client.status(self.id).state == "SUCCEEDED"

    def get(self, timeout: float = 60.0) -> Any:
        """Waits up to ``timeout`` seconds for the result and returns it. Raises ``TaskFailed``
        when the task ended without success, ``TaskTimeout`` when it has not ended."""
        return self._client.wait(self.id, timeout).value()

    def revoke(self) -> str:
        """Revokes the task; says what it was doing (``waiting``, ``running``, …)."""
        return self._client.revoke(self.id).get(self.id, "unknown")


_Result = AsyncResult


class Task(Generic[R]):
    """A task type: call it to run the function here, ``delay`` or ``apply_async`` to send it
    to a worker."""

    def __init__(
        self,
        app: "Stalk",
        fn: Callable[..., R],
        name: str,
        defaults: TaskOptions,
        *,
        bind: bool = False,
        autoretry_for: Tuple[Type[BaseException], ...] = (),
    ):
        self.app = app
        self.fn = fn
        self.name = name
        self.defaults = defaults
        #: The function takes the running task (``self.request``, ``self.retry``) first.
        self.bind = bind
        #: When set, only these exceptions are retried; any other fails the task for good.
        self.autoretry_for = autoretry_for
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        return self.fn(*args, **kwargs)

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature for a workflow (Celery's ``add.s(1)``): the results of the steps before
        it go first among its arguments."""
        return Signature(self.name, args, kwargs, self._options(), app=self.app)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature (Celery's ``add.si(1)``): it ignores the results before it."""
        return Signature(self.name, args, kwargs, self._options(), immutable=True, app=self.app)

    def _options(self) -> TaskOptions:
        """A copy of the task's default options, for one sending."""
        return dataclasses.replace(self.defaults, headers=dict(self.defaults.headers))

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult:
        """Sends the task with these arguments and its default options."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Sequence[Any] = (),
        kwargs: Optional[Mapping[str, Any]] = None,
        *,
        queue: Optional[str] = None,
        priority: Optional[int] = None,
        countdown: Optional[float] = None,
        eta: Optional[_dt.datetime] = None,
        expires: Optional[Union[float, _dt.datetime]] = None,
        task_id: Optional[str] = None,
        headers: Optional[Dict[str, str]] = None,
        unique_key: Optional[str] = None,
    ) -> AsyncResult:
        """Sends the task, overriding its default options as given."""
        o = self.defaults
        options = dataclasses.replace(
            o,
            queue=queue or o.queue,
            priority=o.priority if priority is None else priority,
            countdown=countdown,
            eta=eta,
            expires=expires,
            headers={**o.headers, **(headers or {})},
            task_id=task_id,
            unique_key=unique_key,
        )
        task_id = self.app.client.enqueue(self.name, args, kwargs, options)
        return AsyncResult(task_id, self.app.client)


class Stalk:
    """An application: the broker it talks to and the tasks it defines."""

    def __init__(self, addr: Optional[str] = None, *, token: Optional[str] = None) -> None:
        """``addr`` defaults to ``STALK_ADDR``, then ``127.0.0.1:7070``; ``token`` to
        ``STALK_TOKEN``."""
        self.addr = addr or os.environ.get("STALK_ADDR") or "127.0.0.1:7070"
        self.client = Client(self.addr, token=token or os.environ.get("STALK_TOKEN"))
        self.tasks: Dict[str, Task[Any]] = {}

    def task(
        self,
        fn: Optional[Callable[..., Any]] = None,
        *,
        name: Optional[str] = None,
        queue: str = "default",
        priority: int = 0,
        max_retries: Optional[int] = None,
        retry_backoff: Optional[float] = None,
        retry_backoff_max: Optional[float] = None,
        time_limit: Optional[float] = None,
        soft_time_limit: Optional[float] = None,
        bind: bool = False,
        autoretry_for: Tuple[Type[BaseException], ...] = (),
    ) -> Any:
        """Declares a task: ``@app.task`` or ``@app.task(name=..., queue=..., ...)``. The name
        defaults to the function's module and name (``tasks.add``). With ``bind=True`` the
        function takes the running task first (``self.request``, ``self.retry(countdown=,
        exc=)``). Any exception is retried while retries are left, unless ``autoretry_for``
        names the ones to retry: then any other fails the task at once."""

        def declare(f: Callable[..., Any]) -> Task[Any]:
            task_name = name or f"{f.__module__}.{f.__qualname__}"
            defaults = TaskOptions(
                queue=queue,
                priority=priority,
                max_retries=max_retries,
                retry_backoff=retry_backoff,
                retry_backoff_max=retry_backoff_max,
                time_limit=time_limit,
                soft_time_limit=soft_time_limit,
            )
            task: Task[Any] = Task(
                self, f, task_name, defaults, bind=bind, autoretry_for=tuple(autoretry_for)
            )
            self.tasks[task_name] = task
            return task

        if fn is not None:
            return declare(fn)
        return declare

    def AsyncResult(self, task_id: str) -> _Result:  # noqa: N802 (Celery's name)
        """The result of a task by its id."""
        return _Result(task_id, self.client)

    def send_task(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Optional[Mapping[str, Any]] = None,
        **options: Any,
    ) -> _Result:
        """Sends a task by name (one this program need not define, e.g. a Rust worker's);
        ``options`` are ``TaskOptions`` fields."""
        task_id = self.client.enqueue(name, args, kwargs, TaskOptions(**options))
        return _Result(task_id, self.client)


__all__ = ["AsyncResult", "Stalk", "Task"]
