"""Canvas from Python: chains, groups, chords, immutable signatures and keyword arguments,
run by the broker's workflows on the Python worker."""

from __future__ import annotations

from typing import Any

import pytest

from stalk import Chain, Client, StalkError, TaskFailed, chain, chord, group

from conftest import Broker, PyWorker


@pytest.fixture
def tasks(broker: Broker, monkeypatch: pytest.MonkeyPatch) -> Any:
    import tasks_app

    monkeypatch.setattr(tasks_app.app, "client", Client(broker.addr))
    return tasks_app


def test_results_pass_down_chains_into_chords_and_out_of_groups(tasks: Any, pyworker: PyWorker) -> None:
    add, total, greet = tasks.add, tasks.total, tasks.greet
    assert (add.s(1, 2) | add.s(3)).apply_async().get(timeout=30) == 6, "add(3, 3)"
    assert group(add.s(1), add.s(2), add.s(3)).apply_async().get(timeout=30) == [1, 2, 3]
    assert chord([add.s(1), add.s(2)], total.s()).apply_async().get(timeout=30) == 3
    assert chain(add.s(1), add.si(5)).apply_async().get(timeout=30) == 5, "immutable"
    kept = chain(greet.s("x"), greet.s(punctuation="?")).apply_async().get(timeout=30)
    assert kept == "hello hello x!?", "keyword arguments stay keyword arguments in a step"
    nested = group(chain(add.s(1), add.s(1)), group(add.s(7), add.s(8))).apply_async()
    assert nested.get(timeout=30) == [2, [7, 8]]


def test_a_failed_step_stops_the_chain_and_a_bad_canvas_is_refused(tasks: Any, pyworker: PyWorker) -> None:
    flow = chain(tasks.boom.s(), tasks.add.s(1)).apply_async()
    with pytest.raises(TaskFailed) as failed:
        flow.get(timeout=30)
    assert failed.value.state == "REVOKED" and failed.value.kind == "ParentFailed"
    with pytest.raises(StalkError) as refused:
        Chain([]).apply_async(tasks.app.client)
    assert "chain.steps: a chain needs at least one step" in str(refused.value)
