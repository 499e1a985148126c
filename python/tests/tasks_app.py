"""The tasks the Python worker runs in the tests (the app finds the broker by STALK_ADDR)."""

import time

from stalk import BoundTask, Retry, Stalk, current_request

app = Stalk()


@app.task(name="math.add")
def add(*numbers: int) -> int:
    return sum(numbers)


@app.task(name="greet")
def greet(name: str, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


@app.task(name="boom", max_retries=0)
def boom() -> None:
    raise KeyError("no such thing")


@app.task(name="flaky", max_retries=3, retry_backoff=0.01)
def flaky() -> int:
    request = current_request()
    assert request is not None
    if request.attempt < 3:
        raise Retry(f"attempt {request.attempt} fails", countdown=0.01)
    return request.attempt


@app.task(name="nap")
def nap(seconds: float) -> str:
    time.sleep(seconds)
    return "rested"


@app.task(name="total")
def total(numbers: list[int]) -> int:
    return sum(numbers)


@app.task(name="bound", bind=True, max_retries=3, retry_backoff=0.01)
def bound(self: BoundTask, wanted: int) -> dict[str, object]:
    if self.request.attempt < wanted:
        raise self.retry(countdown=0.01, exc=RuntimeError("not yet"))
    return {"id": self.request.id, "attempt": self.request.attempt}


@app.task(name="picky", autoretry_for=(ConnectionError,), max_retries=3, retry_backoff=0.01)
def picky(kind: str) -> None:
    if kind == "connection":
        raise ConnectionError("flaky network")
    raise ValueError("bad input")
