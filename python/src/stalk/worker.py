"""A worker that runs an app's tasks in a pool of threads, over the broker's streaming session
(``Workers.Session`` in ``proto/stalk/v1/worker.proto``): it grants one credit per free slot, so
the broker pushes no more than it can start; it reports each start, acks each outcome, sends
heartbeats, answers ``ping`` and ``shutdown``, and shuts down warm (running tasks finish and are
acked, then ``goodbye`` gives back what it holds).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, Optional, Set, Tuple

import grpc

from .app import Stalk
from .errors import StalkError
from .payload import JSON, decode_args, encode_result
from .v1 import tasks_pb2, worker_pb2, worker_pb2_grpc

log = logging.getLogger("stalk.worker")

# Session errors worth connecting again after (the broker restarting, a cut connection).
_TRANSIENT = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)

SDK_VERSION = "stalk-python/0.1.0"


class Retry(Exception):
    """Raised by a task to fail this attempt and be retried (after ``countdown`` seconds, or
    the task's backoff) while retries are left."""

    def __init__(self, message: str = "retry", countdown: Optional[float] = None) -> None:
        super().__init__(message)
        self.countdown = countdown


class Reject(Exception):
    """Raised by a task to fail for good at once, whatever retries are left."""


@dataclass
class TaskRequest:
    """What a running task may read of itself (Celery's ``self.request``)."""

    id: str
    name: str
    queue: str
    attempt: int
    retries_left: int
    headers: Dict[str, str] = field(default_factory=dict)


class BoundTask:
    """What a task declared with ``bind=True`` gets first: itself, running (Celery's
    ``self``)."""

    def __init__(self, name: str, request: TaskRequest) -> None:
        self.name = name
        self.request = request

    def retry(self, countdown: Optional[float] = None, exc: Optional[BaseException] = None) -> "Retry":
        """Fails this attempt to be retried (after ``countdown`` seconds, or the backoff):
        ``raise self.retry(...)``, or call it, which raises."""
        raise Retry(str(exc) if exc is not None else "retry requested", countdown)


_current = threading.local()


def current_request() -> Optional[TaskRequest]:
    """The task running on this thread, if any."""
    return getattr(_current, "request", None)


class Worker:
    """Runs ``app``'s tasks from ``queues`` with ``concurrency`` threads."""

    def __init__(
        self,
        app: Stalk,
        queues: Tuple[str, ...] = ("default",),
        concurrency: int = 4,
        *,
        worker_id: Optional[str] = None,
        heartbeat: float = 5.0,
        lease: float = 30.0,
        token: Optional[str] = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.app = app
        self.queues = tuple(queues)
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.heartbeat = heartbeat
        if not 0.1 <= lease <= 12 * 3600:
            raise ValueError("lease must be 0.1 s to 12 h")
        # A started task runs under this lease; the worker extends it a third of the way in,
        # so a task may run as long as it needs while its worker lives.
        self.lease = lease
        self._metadata: Tuple[Tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._outbox: "queue.Queue[Optional[worker_pb2.WorkerMessage]]" = queue.Queue()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: Set[Tuple[str, int]] = set()
        self._started: Set[Tuple[str, int]] = set()
        self._stopped: Set[Tuple[str, int]] = set()
        self._idle = threading.Condition(self._lock)

    def stop(self) -> None:
        """Starts a warm shutdown: no new task; running ones finish and are acked."""
        self._stopping.set()

    def run(self) -> None:
        """Runs until ``stop`` (or a ``shutdown`` command), then shuts down warm. A lost
        connection is opened again (backing off up to 5 s), taking back the tasks this worker
        holds. Raises ``StalkError`` when the broker refuses the session (a bad token, a bad
        queue name)."""
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="stalk-task")
        threading.Thread(target=self._beat, name="stalk-heartbeat", daemon=True).start()
        threading.Thread(target=self._watch_stop, name="stalk-stop", daemon=True).start()
        backoff = 0.1
        try:
            while True:
                ended = self._session(pool)
                if ended is None and self._stopping.is_set():
                    return
                if ended is not None and ended.code() not in _TRANSIENT:
                    raise StalkError(f"{ended.code().name}: {ended.details()}", ended.code().name)
                with self._lock:
                    idle = not self._running
                if self._stopping.is_set() and idle:
                    return
                why = ended.code().name if ended is not None else "the broker ended it"
                log.warning("the session ended (%s); connecting again in %.1f s", why, backoff)
                if self._stopping.wait(backoff) and idle:
                    return
                backoff = min(backoff * 2, 5.0)
        finally:
            self._stopping.set()
            pool.shutdown(wait=True)

    def _session(self, pool: ThreadPoolExecutor) -> Optional[grpc.RpcError]:
        """One session, until it ends: ``None`` when the broker ended it, else the error."""
        outbox: "queue.Queue[Optional[worker_pb2.WorkerMessage]]" = queue.Queue()
        with self._lock:
            self._outbox = outbox
        channel = grpc.insecure_channel(self.app.addr)
        stub: Any = worker_pb2_grpc.WorkersStub(channel)  # type: ignore[no-untyped-call]
        try:
            for message in stub.Session(self._requests(outbox), metadata=self._metadata):
                self._handle(message, pool)
            return None
        except grpc.RpcError as err:
            return err
        finally:
            outbox.put(None)
            channel.close()

    def _send(self, message: worker_pb2.WorkerMessage) -> None:
        with self._lock:
            outbox = self._outbox
        outbox.put(message)

    def _requests(
        self, outbox: "queue.Queue[Optional[worker_pb2.WorkerMessage]]"
    ) -> Iterator[worker_pb2.WorkerMessage]:
        yield worker_pb2.WorkerMessage(
            hello=worker_pb2.Hello(
                worker_id=self.worker_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                queues=list(self.queues),
                task_names=sorted(self.app.tasks),
                sdk_version=SDK_VERSION,
                lease_duration_ms=round(self.lease * 1000),
            )
        )
        with self._lock:
            free = self.concurrency - len(self._running)
        if free > 0 and not self._stopping.is_set():
            yield worker_pb2.WorkerMessage(credit=worker_pb2.Credit(tasks=free))
        while True:
            message = outbox.get()
            if message is None:
                return
            yield message

    def _beat(self) -> None:
        """Heartbeats, and the extension of every running task's lease a third of the way in."""
        tick = min(self.heartbeat, self.lease / 3)
        since_beat = since_extend = 0.0
        while not self._stopping.wait(tick):
            since_beat += tick
            since_extend += tick
            if since_extend >= self.lease / 3:
                since_extend = 0.0
                with self._lock:
                    leases = sorted(self._started)
                for task_id, lease_id in leases:
                    extend = tasks_pb2.ExtendLeaseRequest(
                        task_id=task_id,
                        lease_id=lease_id,
                        lease_duration_ms=round(self.lease * 1000),
                    )
                    self._send(worker_pb2.WorkerMessage(extend=extend))
            if since_beat >= self.heartbeat:
                since_beat = 0.0
                self._send(worker_pb2.WorkerMessage(heartbeat=worker_pb2.Heartbeat()))

    def _watch_stop(self) -> None:
        """Once stopping: waits for the running tasks, then says goodbye."""
        self._stopping.wait()
        with self._idle:
            while self._running:
                self._idle.wait()
        self._send(worker_pb2.WorkerMessage(goodbye=worker_pb2.Goodbye()))

    def _handle(self, message: worker_pb2.BrokerMessage, pool: ThreadPoolExecutor) -> None:
        kind = message.WhichOneof("kind")
        if kind == "tasks":
            for task in message.tasks.tasks:
                if self._stopping.is_set():
                    # Not started: the broker gives it back with the goodbye.
                    continue
                with self._lock:
                    self._running.add((task.task_id, task.lease_id))
                pool.submit(self._run, task)
        elif kind == "acked":
            for result in message.acked.results:
                if result.HasField("error"):
                    log.warning("ack of %s refused: %s", result.task_id, result.error.message)
        elif kind == "extended" and message.extended.HasField("error"):
            # The lease is gone (another attempt holds the task): this one must not be acked.
            with self._lock:
                for lease in self._started:
                    if lease[0] == message.extended.task_id:
                        self._stopped.add(lease)
            log.warning("lease of %s lost: %s", message.extended.task_id, message.extended.error.message)
        elif kind == "stop":
            with self._lock:
                for stop in message.stop.tasks:
                    self._stopped.add((stop.task_id, stop.lease_id))
        elif kind == "control":
            self._control(message.control)

    def _control(self, request: worker_pb2.ControlRequest) -> None:
        command = request.command.WhichOneof("kind")
        ok, text = True, ""
        if command == "ping":
            text = "pong"
        elif command == "shutdown":
            text = "shutting down warm"
            self._stopping.set()
        else:
            ok, text = False, f"the Python worker does not do {command!r} yet"
        reply = worker_pb2.ControlReply(
            request_id=request.request_id,
            ok=ok,
            message=text,
            details={"pid": str(os.getpid()), "pool": "threads", "sdk": SDK_VERSION},
        )
        self._send(worker_pb2.WorkerMessage(control_reply=reply))

    def _run(self, leased: tasks_pb2.LeasedTask) -> None:
        lease = (leased.task_id, leased.lease_id)
        try:
            with self._lock:
                stopped = lease in self._stopped
            if stopped:
                return
            started = worker_pb2.Started(
                tasks=[worker_pb2.StartedTask(task_id=leased.task_id, lease_id=leased.lease_id)]
            )
            self._send(worker_pb2.WorkerMessage(started=started))
            with self._lock:
                self._started.add(lease)
            ack = self._attempt(leased)
            with self._lock:
                stopped = lease in self._stopped
            if not stopped:
                acks = tasks_pb2.AckManyRequest(acks=[ack])
                self._send(worker_pb2.WorkerMessage(acks=acks))
        finally:
            with self._idle:
                self._running.discard(lease)
                self._started.discard(lease)
                self._stopped.discard(lease)
                self._idle.notify_all()
            if not self._stopping.is_set():
                self._send(worker_pb2.WorkerMessage(credit=worker_pb2.Credit(tasks=1)))

    def _attempt(self, leased: tasks_pb2.LeasedTask) -> tasks_pb2.AckRequest:
        ack = tasks_pb2.AckRequest(task_id=leased.task_id, lease_id=leased.lease_id)
        task = self.app.tasks.get(leased.name)
        if task is None:
            ack.failure.CopyFrom(_failure("UnknownTask", f"no task {leased.name!r} here", True))
            return ack
        try:
            args, kwargs = decode_args(leased.payload)
        except ValueError as err:
            ack.failure.CopyFrom(_failure("PayloadError", f"the arguments are not JSON: {err}", True))
            return ack
        request = TaskRequest(
            id=leased.task_id,
            name=leased.name,
            queue=leased.queue,
            attempt=leased.attempt,
            retries_left=leased.retries_left,
            headers=dict(leased.headers),
        )
        _current.request = request
        if task.bind:
            args = [BoundTask(leased.name, request), *args]
        try:
            value = task.fn(*args, **kwargs)
            ack.success.CopyFrom(tasks_pb2.TaskResult(value=encode_result(value), content_type=JSON))
        except Retry as retry:
            failure = _failure("Retry", str(retry), False)
            if retry.countdown is not None:
                failure.retry_in_ms = max(1, round(retry.countdown * 1000))
            ack.failure.CopyFrom(failure)
        except Reject as reject:
            ack.failure.CopyFrom(_failure("Reject", str(reject) or "rejected", True))
        except Exception as err:  # noqa: BLE001 (any failure of user code is the task's)
            fatal = bool(task.autoretry_for) and not isinstance(err, task.autoretry_for)
            ack.failure.CopyFrom(_failure(type(err).__name__, _describe(err), fatal))
        finally:
            _current.request = None
        return ack


def _failure(kind: str, message: str, fatal: bool) -> tasks_pb2.Failure:
    return tasks_pb2.Failure(
        error=tasks_pb2.Error(kind=kind, message=message or kind), fatal=fatal
    )


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    tail = traceback.format_exception(type(err), err, err.__traceback__)[-3:]
    return f"{text}\n{''.join(tail)}".strip()
