"""The dashboard's range test in its background thread: snapshots that grow, the cores shared with runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from resnet_mnist import RunStore, TrainConfig, TrainingWorker, load_split
from resnet_mnist.core.lr_find import LrFindSettings
from resnet_mnist.jobs.cores import CoreClaim
from resnet_mnist.jobs.lr_find_runner import LR_FIND_HOLDS_THE_CORES, LrFindBusyError, LrFindRunner
from resnet_mnist.jobs.worker import WorkerBusyError

LONG = LrFindSettings(start_lr=1e-6, end_lr=1e-4, steps=200, repeats=5)  # never blows up: 1,000 steps


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def cores() -> CoreClaim:
    return CoreClaim()


@pytest.fixture
def finder(cores: CoreClaim, data_root: Path):
    load_split(data_root, train=True)
    runner = LrFindRunner(data_root=data_root, cores=cores)
    yield runner
    assert runner.stop(timeout=30)


def test_the_snapshot_grows_step_by_step_and_ends_with_the_result(finder: LrFindRunner) -> None:
    finder.start(LrFindSettings(), 1000)
    wait_until(lambda: finder.snapshot().ramps)
    seen = len(finder.snapshot().ramps[0][0])
    assert finder.join(120)
    snap = finder.snapshot()
    assert snap.state == "finished" and snap.result is not None and snap.progress == 1.0
    assert sum(len(lrs) for lrs, _ in snap.ramps) == snap.result.steps >= seen
    assert [len(losses) for _, losses in snap.ramps] == [len(c) for c in snap.result.curves]


def test_a_run_is_refused_while_it_runs_and_it_is_refused_while_a_run_runs(
    finder: LrFindRunner, cores: CoreClaim, runs_dir: Path, data_root: Path
) -> None:
    worker = TrainingWorker(RunStore(runs_dir), data_root=data_root, cores=cores)
    finder.start(LONG, 1000)
    with pytest.raises(WorkerBusyError, match=LR_FIND_HOLDS_THE_CORES):
        worker.start(TrainConfig(epochs=1, train_limit=500, test_limit=100, device="cpu"))
    with pytest.raises(LrFindBusyError, match="already running"):
        finder.start(LONG, 1000)
    wait_until(lambda: finder.snapshot().ramps and len(finder.snapshot().ramps[0][0]) >= 3)
    assert finder.stop(timeout=30)  # within a batch: what was measured is kept
    assert finder.snapshot().state == "stopped" and finder.snapshot().result is not None
    worker.start(TrainConfig(epochs=50, train_limit=500, test_limit=100, device="cpu"))  # the cores are free again
    try:
        with pytest.raises(LrFindBusyError, match="Train page"):
            finder.start(LrFindSettings(), 1000)
    finally:
        assert worker.stop(timeout=30)


def test_a_start_made_the_moment_a_test_shows_its_end_is_taken(finder: LrFindRunner) -> None:
    """The page offers Start once the test reads finished, while its thread still gives back the cores.

    The thread switch interval is cut so the watcher sees each end while that thread is mid-way through
    its last lines, as a loaded machine's scheduler would have it.
    """
    short = LrFindSettings(start_lr=1e-6, end_lr=1e-4, steps=10, repeats=1)
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(20):
            finder.start(short, 640)
            while finder.snapshot().busy:  # no sleep: act the instant the end shows
                pass
            assert finder.snapshot().state == "finished", finder.snapshot().error
        assert finder.join(120)
    finally:
        sys.setswitchinterval(before)
