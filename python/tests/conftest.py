"""A real stalkd (and, where a test asks, the Rust demo worker) from the cargo build, each on
127.0.0.1 with a temporary data dir. ``STALK_BIN_DIR`` names the build's directory; the
default is the repository's target/debug."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Iterator

import pytest

from stalk import Client, Stalk

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("STALK_BIN_DIR", REPO / "target" / "debug"))


def binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `cargo build` (or set STALK_BIN_DIR)")
    return str(path)


class Broker:
    """A running stalkd: its address, and a way to stop it."""

    def __init__(self, data_dir: pathlib.Path, listen: str = "127.0.0.1:0") -> None:
        self.data_dir = data_dir
        self.log_path = data_dir / "stalkd.log"
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [binary("stalkd"), "--listen", listen, "--data-dir", str(data_dir / "data")],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            pytest.fail(f"stalkd did not start: {self.log_path.read_text()}")
        self.addr: str = json.loads(line)["addr"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()

    def restart(self) -> None:
        """Stops the broker and starts it again on the same address and data dir."""
        self.stop()
        self.__init__(self.data_dir, self.addr)  # type: ignore[misc]


@pytest.fixture
def broker(tmp_path: pathlib.Path) -> Iterator[Broker]:
    b = Broker(tmp_path)
    yield b
    b.stop()


@pytest.fixture
def client(broker: Broker) -> Iterator[Client]:
    with Client(broker.addr) as c:
        yield c


@pytest.fixture
def app(broker: Broker) -> Stalk:
    return Stalk(broker.addr)


@pytest.fixture
def rust_worker(broker: Broker, tmp_path: pathlib.Path) -> Iterator[subprocess.Popen[bytes]]:
    """The Rust demo worker (tasks echo, sleep, …) on the default queue."""
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen(
        [binary("stalk-demo-worker"), "--addr", broker.addr, "--queues", "default"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while b"worker ready" not in (tmp_path / "worker.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the demo worker did not start: {(tmp_path / 'worker.log').read_text()}")
        time.sleep(0.05)
    yield proc
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


TESTS = pathlib.Path(__file__).resolve().parent


class PyWorker:
    def __init__(self, broker: Broker, tmp: pathlib.Path, *args: str) -> None:
        self.log_path = tmp / "pyworker.log"
        env = {**os.environ, "STALK_ADDR": broker.addr, "PYTHONPATH": str(TESTS)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stalk.cli", "-A", "tasks_app:app", "-c", "4", *args],
            stdout=open(self.log_path, "wb"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while b"worker ready" not in self.log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Python worker did not start: {self.log_path.read_text()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def pyworker(broker: Broker, tmp_path: pathlib.Path) -> Iterator[PyWorker]:
    w = PyWorker(broker, tmp_path)
    yield w
    w.stop()
