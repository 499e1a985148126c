"""The admin calls: listing, explain, pause, purge, limits, workers and ping, dead letters."""

from __future__ import annotations

import pytest

from stalk import Client, TaskOptions

from conftest import PyWorker


def test_queues_can_be_listed_explained_paused_and_purged(client: Client) -> None:
    ids = [client.enqueue("t", [i], options=TaskOptions(queue="q")) for i in range(3)]
    assert [t.id for t in client.tasks("q")] == ids
    state, reasons = client.explain(ids[0])
    assert state == "READY" and reasons, reasons
    assert client.pause("q") is True
    assert client.pause("q") is False, "already paused"
    assert client.pause("q", paused=False) is True
    assert client.purge("q") == 3
    assert client.tasks("q") == []
    with pytest.raises(ValueError):
        client.tasks("q", "DONE")


def test_limits_are_set_listed_and_removed(client: Client) -> None:
    (limit,) = client.set_limit("task:email.send", rate="10/s", burst=5)
    assert (limit.scope, limit.rate, limit.burst) == ("task:email.send", "10/s", 5)
    assert client.limits() == [limit]
    assert client.set_limit("task:email.send") == []


def test_workers_are_listed_pinged_and_dead_letters_replayed(client: Client, pyworker: PyWorker) -> None:
    (worker,) = client.workers()
    assert worker.sdk_version.startswith("stalk-python/") and "math.add" in worker.task_names
    assert client.ping_workers() == {worker.worker_id: "pong"}
    dead = client.wait(client.enqueue("boom"), 30)
    assert dead.state == "FAILED"
    assert [t.id for t in client.tasks("default", "FAILED")] == [dead.id]
    assert client.replay("default") == [dead.id]
    again = client.wait(dead.id, 30)
    assert again.state == "FAILED" and again.attempts > dead.attempts, "it ran again and failed"
