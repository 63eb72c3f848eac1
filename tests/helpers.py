"""What the tests share: opening a page under AppTest, the page's worker, rerunning until a state, quick runs,
and run folders with chosen results (`record_run`: written by the real recorder from the events such a run sends)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from resnet_mnist import Net, RunState, RunStore, TrainConfig, TrainingWorker
from resnet_mnist.events import EpochCompleted, StateChanged
from resnet_mnist.runs import RunInfo
from resnet_mnist.worker import WorkerSnapshot

REPO = Path(__file__).resolve().parents[1]
WAIT = 120.0  # generous: the CPU may be shared with other work


def open_app_page(page: str, **state: object) -> AppTest:
    """Run app.py, switch to `page` (e.g. "pages/draw.py") with `state` in the session, and check it ran.

    A fresh visitor after a restart: the cached worker and run store are built anew.
    """
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(page)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def the_page_worker() -> TrainingWorker:
    """The app's cached worker (st.cache_resource is shared by the whole process)."""
    from pages._common import get_worker

    return get_worker()


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


def rerun_until(at: AppTest, condition: Callable[[WorkerSnapshot], bool], timeout: float = WAIT) -> WorkerSnapshot:
    """Rerun the page (as its live fragment does each second) until the worker's snapshot passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        snap = the_page_worker().snapshot()
        if condition(snap):
            at.run()  # render what was just seen
            assert not at.exception, at.exception
            return snap
        time.sleep(0.2)
    raise AssertionError(f"timed out; last state {the_page_worker().snapshot().state}")


def set_quick_run(at: AppTest, *, epochs: int = 1, train_limit: int = 1500, test_limit: int = 500) -> None:
    """Settings on the Train page for a run of seconds: a slice of MNIST, few epochs."""
    at.number_input(key="train_epochs").set_value(epochs)
    at.number_input(key="train_train_limit").set_value(train_limit)
    at.number_input(key="train_test_limit").set_value(test_limit)


def badge(at: AppTest) -> str:
    """The job's state badge(s) as the page wrote them."""
    return " ".join(m.value for m in at.markdown if "-badge[" in m.value)


def record_run(
    store: RunStore, accuracies: list[float], state: RunState, *, checkpoint: bool = True, name: str = ""
) -> RunInfo:
    """A run folder written by the real recorder from the events a run with these test accuracies sends."""
    recorder = store.create(TrainConfig(epochs=max(len(accuracies), 1)), device="cpu", name=name)
    recorder(StateChanged(RunState.RUNNING))
    weights = Net().state_dict() if checkpoint else None
    for epoch, accuracy in enumerate(accuracies, start=1):
        recorder(
            EpochCompleted(
                epoch=epoch,
                train_loss=0.3,
                test_loss=0.2,
                test_accuracy=accuracy,
                correct=round(accuracy * 1000),
                total=1000,
                train_seconds=1.0,
                test_seconds=0.1,
                images_per_second=1000.0,
                model_state=weights,
            )
        )
    if state is not RunState.RUNNING:
        recorder(StateChanged(state, None if state is RunState.FINISHED else f"{state.value} for the test"))
    return store.get(recorder.run_id)
