"""Stop, pause and resume at any moment: the thread ends within a second and the run folder stays whole."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from helpers import (
    LONG,
    SHORT,
    WAIT,
    assert_run_folder_complete,
    wait_for,
)

from resnet_mnist import RunState, RunStore, TrainConfig, TrainingWorker, load_checkpoint, run_training
from resnet_mnist.core.data import MNIST_TEST_SIZE
from resnet_mnist.core.engine import TrainingControl
from resnet_mnist.core.events import EpochCompleted, Event, fan_out


def test_a_paused_job_stops_within_a_second_and_keeps_its_weights(worker: TrainingWorker) -> None:
    worker.start(LONG)
    wait_for(worker, lambda s: len(s.batches) >= 2)
    worker.pause()
    wait_for(worker, lambda s: s.state is RunState.PAUSED)
    asked = time.monotonic()
    assert worker.stop(timeout=5.0)
    took = time.monotonic() - asked
    assert took < 1.0, f"stopping a paused job took {took:.2f} s"
    snap = worker.snapshot()
    assert snap.state is RunState.STOPPED
    info = assert_run_folder_complete(snap.run_dir)
    assert info["state"] == "stopped"
    assert load_checkpoint(snap.run_dir / "checkpoint.pt").state_dict


def test_pause_during_the_test_pass_holds_before_the_next_batch_and_resume_completes(worker: TrainingWorker) -> None:
    # A long test pass (5,000 images) after a short epoch, so the pause lands while testing.
    config = TrainConfig(epochs=2, train_limit=640, test_limit=5000, log_interval=1, device="cpu")
    worker.start(config)
    wait_for(worker, lambda s: s.evaluating)
    worker.pause()
    paused = wait_for(worker, lambda s: s.state is RunState.PAUSED)
    # The test pass in progress finished and was recorded; training holds at the next epoch's first batch.
    assert [e.epoch for e in paused.epochs] == [1] and not paused.evaluating
    time.sleep(0.3)
    assert worker.snapshot().batches == paused.batches
    worker.resume()
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.state is RunState.FINISHED
    assert [e.epoch for e in snap.epochs] == [1, 2]
    assert_run_folder_complete(snap.run_dir)


def test_stop_during_the_test_pass_ends_the_thread_within_a_second(worker: TrainingWorker) -> None:
    config = TrainConfig(epochs=2, train_limit=640, test_limit=MNIST_TEST_SIZE, log_interval=1, device="cpu")
    worker.start(config)
    wait_for(worker, lambda s: s.evaluating)
    asked = time.monotonic()
    assert worker.stop(timeout=5.0)
    took = time.monotonic() - asked
    assert took < 1.0, f"stopping during the test pass took {took:.2f} s"
    snap = worker.snapshot()
    assert snap.state is RunState.STOPPED and snap.epochs == ()
    assert assert_run_folder_complete(snap.run_dir)["state"] == "stopped"


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4, 0.9, 1.6])
def test_stop_at_any_moment_leaves_a_complete_readable_run_folder(worker: TrainingWorker, delay: float) -> None:
    # 5 batches an epoch and a small test pass: epoch ends (checkpoint writes) come several times a second.
    config = TrainConfig(epochs=50, train_limit=320, test_limit=200, log_interval=1, device="cpu")
    worker.start(config)
    wait_for(worker, lambda s: s.run_dir is not None)
    time.sleep(delay)
    asked = time.monotonic()
    assert worker.stop(timeout=5.0)
    assert time.monotonic() - asked < 1.0
    snap = worker.snapshot()
    assert snap.state is RunState.STOPPED
    info = assert_run_folder_complete(snap.run_dir)
    assert info["state"] == "stopped" and info["epochs_done"] == len(snap.epochs)
    assert load_checkpoint(snap.run_dir / "checkpoint.pt").epoch == len(snap.epochs)
    assert worker.store.get(snap.run_id).state is RunState.STOPPED


def test_stop_asked_while_the_checkpoint_is_being_written_leaves_it_whole(data_root: Path, runs_dir: Path) -> None:
    """The stop arrives between an epoch's end and its checkpoint write: both the file and the stop hold."""
    config = TrainConfig(epochs=5, train_limit=640, test_limit=200, device="cpu")
    control = TrainingControl()
    recorder = RunStore(runs_dir).create(config, device="cpu")

    def stop_at_epoch_end(event: Event) -> None:
        if isinstance(event, EpochCompleted) and event.epoch == 2:
            control.stop()  # the recorder, next in line, is about to write this epoch's checkpoint

    outcome = run_training(config, fan_out(stop_at_epoch_end, recorder), control=control, data_root=str(data_root))
    assert outcome.state is RunState.STOPPED and outcome.epochs_completed == 2
    info = assert_run_folder_complete(recorder.path)
    assert info["state"] == "stopped" and info["epochs_done"] == 2
    assert load_checkpoint(recorder.path / "checkpoint.pt").epoch == 2


def test_a_run_folder_that_cannot_be_written_fails_the_job_instead_of_leaving_it_running(
    worker: TrainingWorker,
) -> None:
    """The disk goes away under a run (its folder replaced by a file): the job ends as failed, saying where."""
    worker.start(SHORT.with_changes(log_interval=1))
    snap = wait_for(worker, lambda s: len(s.batches) >= 1)
    shutil.rmtree(snap.run_dir)
    snap.run_dir.write_text("not a folder any more")
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.state is RunState.FAILED, f"the thread ended but the job still shows as {snap.state}"
    assert str(snap.run_dir) in snap.reason and "could not save" in snap.reason
    assert not snap.busy
    worker.start(SHORT.with_changes(epochs=1))  # and the next run works
    assert worker.join(WAIT)
    assert worker.snapshot().state is RunState.FINISHED
