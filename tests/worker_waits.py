"""Waiting on the training worker from a test: poll its snapshot until a condition holds."""

from __future__ import annotations

import time
from collections.abc import Callable

from resnet_mnist import TrainingWorker, WorkerSnapshot

WAIT = 120.0  # generous: the CPU may be shared with other work


def wait_for(
    worker: TrainingWorker, condition: Callable[[WorkerSnapshot], bool], timeout: float = WAIT
) -> WorkerSnapshot:
    """The first snapshot for which `condition` holds; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = worker.snapshot()
        if condition(snap):
            return snap
        time.sleep(0.01)
    last = worker.snapshot()
    raise AssertionError(f"timed out; last snapshot: {last.state} {last.reason}")
