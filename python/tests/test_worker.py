"""The Python worker (threads pool) against a real broker: tasks sent from Python and from
Rust (the `stalk` CLI) run, arguments arrive by the payload convention, failures and retries
are recorded, `stalk control ping` is answered, and SIGTERM shuts it down warm."""

from __future__ import annotations

import json
import pathlib
import subprocess
import time

import pytest

from stalk import Client, TaskFailed

from conftest import Broker, PyWorker, binary

def test_tasks_from_python_run_with_their_arguments(
    broker: Broker, pyworker: PyWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks_app

    # Imported here, the module's app found no STALK_ADDR: point it at this test's broker.
    monkeypatch.setattr(tasks_app.app, "client", Client(broker.addr))
    assert tasks_app.add.delay(2, 3, 4).get(timeout=30) == 9
    assert tasks_app.greet.delay(name="ada").get(timeout=30) == "hello ada!"
    assert tasks_app.greet.delay("bob", punctuation="?").get(timeout=30) == "hello bob?"


def test_a_task_sent_from_rust_runs_on_the_python_worker(broker: Broker, pyworker: PyWorker) -> None:
    sent = subprocess.run(
        [binary("stalk"), "--addr", broker.addr, "--json", "enqueue", "math.add", "--payload", "[20, 22]"],
        check=True,
        capture_output=True,
        text=True,
    )
    task_id = json.loads(sent.stdout)["id"]
    with Client(broker.addr) as client:
        assert client.wait(task_id, 30).value() == 42


def test_failures_and_retries_are_recorded(client: Client, pyworker: PyWorker) -> None:
    failed = client.wait(client.enqueue("boom"), 30)
    assert failed.state == "FAILED"
    assert failed.error_kind == "KeyError" and "no such thing" in failed.error
    with pytest.raises(TaskFailed):
        failed.value()
    flaky = client.wait(client.enqueue("flaky"), 30)
    assert flaky.value() == 3 and flaky.attempts == 3
    unknown = client.wait(client.enqueue("not.here"), 30)
    assert (unknown.state, unknown.error_kind) == ("FAILED", "UnknownTask")


def test_the_worker_answers_ping_and_shuts_down_warm(broker: Broker, client: Client, pyworker: PyWorker) -> None:
    ping = subprocess.run(
        [binary("stalk"), "--addr", broker.addr, "control", "ping"],
        capture_output=True,
        text=True,
    )
    assert ping.returncode == 0 and "pong" in ping.stdout, ping
    napping = client.enqueue("nap", [1.0])
    deadline = time.monotonic() + 30
    while client.status(napping).state != "RUNNING":
        assert time.monotonic() < deadline, client.status(napping)
        time.sleep(0.02)
    assert pyworker.stop() == 0, pyworker.log()
    assert client.status(napping).state == "SUCCEEDED", "the running task finished and was acked"


def test_the_worker_connects_again_after_the_broker_restarts(broker: Broker, pyworker: PyWorker) -> None:
    with Client(broker.addr) as client:
        assert client.wait(client.enqueue("math.add", [1, 1]), 30).value() == 2
    broker.restart()
    with Client(broker.addr) as client:
        assert client.wait(client.enqueue("math.add", [2, 2]), 30).value() == 4
    assert "connecting again" in pyworker.log()


def test_a_task_longer_than_its_lease_runs_once(broker: Broker, tmp_path: pathlib.Path) -> None:
    worker = PyWorker(broker, tmp_path, "--lease", "0.5")
    try:
        with Client(broker.addr) as client:
            done = client.wait(client.enqueue("nap", [2.0]), 30)
        assert (done.state, done.attempts) == ("SUCCEEDED", 1), done
    finally:
        worker.stop()


def test_bound_tasks_see_themselves_and_autoretry_for_picks_what_is_retried(
    client: Client, pyworker: PyWorker
) -> None:
    bound = client.wait(client.enqueue("bound", [2]), 30)
    assert bound.value() == {"id": bound.id, "attempt": 2}
    retried = client.wait(client.enqueue("picky", ["connection"]), 30)
    assert (retried.state, retried.attempts, retried.error_kind) == ("FAILED", 4, "ConnectionError")
    not_retried = client.wait(client.enqueue("picky", ["value"]), 30)
    assert (not_retried.state, not_retried.attempts, not_retried.error_kind) == ("FAILED", 1, "ValueError")
