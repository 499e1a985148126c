"""The client and the Celery-shaped producer API against a real broker, with tasks run by the
Rust demo worker (Python -> Rust): results, options, revoke, refusals and timeouts."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from stalk import Client, Stalk, StalkError, TaskFailed, TaskOptions, TaskTimeout, task_spec


def test_a_task_sent_from_python_runs_on_the_rust_worker(app: Stalk, rust_worker: object) -> None:
    assert app.send_task("echo", [1, "two", {"three": 3}]).get(timeout=30) == [1, "two", {"three": 3}]

    @app.task(name="echo")
    def echo(*args: object, **kwargs: object) -> object:
        raise AssertionError("runs on the worker, not here")

    # Keyword arguments only: the payload is their object, as a Rust struct handler reads it.
    assert echo.delay(to="ada@example.com").get(timeout=30) == {"to": "ada@example.com"}
    # Both: the explicit form.
    assert echo.delay(1, to="ada").get(timeout=30) == {"args": [1], "kwargs": {"to": "ada"}}
    result = echo.apply_async([5], priority=9, headers={"tenant": "acme"})
    assert result.get(timeout=30) == [5]
    assert result.ready() and result.successful() and result.state == "SUCCEEDED"


def test_options_reach_the_broker(client: Client) -> None:
    later = client.enqueue("t", [1], options=TaskOptions(countdown=60))
    assert client.status(later).state == "SCHEDULED"
    at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    assert client.status(client.enqueue("t", options=TaskOptions(eta=at))).state == "SCHEDULED"
    first = client.enqueue("t", options=TaskOptions(task_id="my-id"))
    assert first == "my-id"
    assert client.enqueue("t", options=TaskOptions(task_id="my-id")) == "my-id"
    one = client.enqueue("t", options=TaskOptions(unique_key="report-2026"))
    assert client.enqueue("t", options=TaskOptions(unique_key="report-2026")) == one
    ids = client.enqueue_many([task_spec("t", [i]) for i in range(10)])
    assert len(set(ids)) == 10
    (default,) = client.queues("default")
    assert (default.ready, default.scheduled) == (12, 2)


def test_a_revoked_task_never_runs_and_its_result_says_so(app: Stalk) -> None:
    result = app.send_task("never", [1])
    assert result.revoke() == "waiting"
    assert result.state == "REVOKED"
    with pytest.raises(TaskFailed) as failed:
        result.get(timeout=5)
    assert failed.value.state == "REVOKED"


def test_a_wait_that_runs_out_says_where_the_task_is(app: Stalk) -> None:
    result = app.send_task("nobody.runs.this")
    started = time.monotonic()
    with pytest.raises(TaskTimeout) as timeout:
        result.get(timeout=0.5)
    assert timeout.value.state == "READY"
    assert isinstance(timeout.value, TimeoutError)
    assert time.monotonic() - started < 10


def test_bad_input_is_refused_naming_what_was_wrong(client: Client) -> None:
    with pytest.raises(StalkError) as bad_name:
        client.enqueue("bad name!")
    assert "name" in str(bad_name.value) and bad_name.value.code == "INVALID_ARGUMENT"
    with pytest.raises(StalkError) as bad_priority:
        client.enqueue("t", options=TaskOptions(priority=10))
    assert "priority" in str(bad_priority.value)
    with pytest.raises(ValueError):
        client.enqueue("t", options=TaskOptions(eta=dt.datetime(2030, 1, 1)))
    assert client.queues() == [], "nothing was stored"


def test_an_unreachable_broker_is_unavailable() -> None:
    with Client("127.0.0.1:1", timeout=2) as nowhere:
        with pytest.raises(StalkError) as down:
            nowhere.status("x")
    assert down.value.code == "UNAVAILABLE"


def test_unknown_ids_answer_unknown(client: Client) -> None:
    assert client.status("no-such-task").state == "UNKNOWN"
