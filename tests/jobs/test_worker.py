"""The background training worker: one job at a time, steerable, observable, leaving no threads behind."""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from helpers import WAIT, wait_for

from resnet_mnist import (
    ConfigError,
    RunState,
    RunStore,
    TrainConfig,
    TrainingWorker,
    evaluate,
    load_checkpoint,
    load_split,
)
from resnet_mnist.core.engine import build_model
from resnet_mnist.jobs.cores import CoreClaim
from resnet_mnist.jobs.sweep_runner import SWEEP_HOLDS_THE_CORES, SweepBusyError, SweepRunner
from resnet_mnist.jobs.worker import WorkerBusyError, WorkerIdleError
from resnet_mnist.sweeps.spec import Axis, SweepSpec

# A small slice of the real MNIST keeps each job to a second or two on a shared CPU.
SHORT = TrainConfig(epochs=2, train_limit=1500, test_limit=500, log_interval=5, device="cpu")
# Long enough that it is surely still running when the test acts on it.
LONG = TrainConfig(epochs=20, train_limit=6000, test_limit=500, log_interval=1, device="cpu")


def test_short_job_runs_logs_batches_then_epochs_and_lands_on_disk(worker: TrainingWorker) -> None:
    worker.start(SHORT)
    assert worker.snapshot().state is RunState.RUNNING
    first = wait_for(worker, lambda s: len(s.batches) > 0)
    assert first.epochs == () or first.epochs[0].epoch == 1
    assert first.batches[0].batch == 1 and first.batches_per_epoch == 24  # ceil(1500 / 64)
    wait_for(worker, lambda s: len(s.epochs) >= 1)
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.state is RunState.FINISHED
    assert [e.epoch for e in snap.epochs] == [1, 2]
    assert snap.run_progress == 1.0 and snap.elapsed_seconds and snap.elapsed_seconds > 0
    assert 0.5 < snap.epochs[-1].test_accuracy <= 1.0  # it learned something from 3,000 images seen
    info = worker.store.get(snap.run_id)
    assert info.state is RunState.FINISHED and info.epochs_done == 2
    assert info.final_accuracy == snap.epochs[-1].test_accuracy
    metrics = worker.store.metrics(snap.run_id)
    assert len(metrics["batches"]) == len(snap.batches) and len(metrics["epochs"]) == 2
    checkpoint = load_checkpoint(info.checkpoint_path)
    assert checkpoint.epoch == 2


def test_stop_mid_job_ends_within_a_second_and_keeps_a_usable_checkpoint(
    worker: TrainingWorker, data_root: Path
) -> None:
    worker.start(LONG)
    wait_for(worker, lambda s: len(s.batches) >= 3)
    asked = time.monotonic()
    assert worker.stop(timeout=5.0)
    took = time.monotonic() - asked
    assert took < 1.0, f"stop took {took:.2f} s"
    snap = worker.snapshot()
    assert snap.state is RunState.STOPPED and snap.reason
    info = worker.store.get(snap.run_id)
    assert info.state is RunState.STOPPED
    model = load_checkpoint(info.checkpoint_path).build_model()
    untrained = build_model(LONG.seed)
    assert any(
        not torch.equal(a, b) for a, b in zip(model.state_dict().values(), untrained.state_dict().values(), strict=True)
    )
    test = load_split(data_root, train=False, limit=500)
    learned, initial = evaluate(model, test), evaluate(untrained, test)
    assert learned is not None and initial is not None
    assert learned.accuracy > initial.accuracy  # what the batches before the stop learned, kept


def test_second_start_while_running_is_refused(worker: TrainingWorker) -> None:
    worker.start(LONG)
    running_id = wait_for(worker, lambda s: s.run_id is not None).run_id
    with pytest.raises(WorkerBusyError, match="already running"):
        worker.start(SHORT)
    assert worker.snapshot().run_id == running_id
    assert worker.snapshot().state in (RunState.RUNNING, RunState.PAUSED)
    assert len(worker.store.runs()) == 1


def test_a_start_made_the_moment_a_run_shows_its_end_is_taken(worker: TrainingWorker) -> None:
    """A page offers Start as soon as the run reads finished, while the job's thread still closes the run.

    The thread switch interval is cut so the watcher sees each end while that thread is mid-way through
    its last lines, as a loaded machine's scheduler would have it (a CI run failed on exactly this).
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        tiny = TrainConfig(epochs=1, train_limit=64, test_limit=100, log_interval=1, device="cpu")
        for attempt in range(5):
            worker.start(tiny.with_changes(seed=attempt + 1))
            while not worker.snapshot().state.is_final:  # no sleep: act the instant the end shows
                pass
            assert worker.snapshot().state is RunState.FINISHED
        assert worker.join(WAIT)
    finally:
        sys.setswitchinterval(before)
    assert [info.state for info in worker.store.runs()] == [RunState.FINISHED] * 5


def test_invalid_config_is_refused_before_anything_starts(worker: TrainingWorker) -> None:
    with pytest.raises(ConfigError, match="lr: must be greater than 0"):
        worker.start(SHORT.with_changes(lr=0.0))
    assert worker.snapshot().state is RunState.IDLE and not worker.is_alive()
    assert worker.store.runs() == []


def test_live_hyperparameter_change_is_applied_and_recorded(worker: TrainingWorker) -> None:
    worker.start(LONG.with_changes(epochs=1))
    wait_for(worker, lambda s: len(s.batches) >= 2)
    with pytest.raises(ConfigError, match="lr: must be greater than 0"):
        worker.set_hyperparams(lr=0.0)
    worker.set_hyperparams(lr=0.05, momentum=0.9)
    snap = wait_for(worker, lambda s: len(s.hparam_changes) == 1 and s.batches[-1].step > s.hparam_changes[0].step)
    change = snap.hparam_changes[0]
    assert (change.lr, change.momentum) == (0.05, 0.9)
    assert (snap.lr, snap.momentum) == (0.05, 0.9)
    before = [b for b in snap.batches if b.step < change.step]
    after = [b for b in snap.batches if b.step >= change.step]
    assert before and all(b.lr == 0.01 and b.momentum == 0.5 for b in before)
    assert after and all(b.lr == 0.05 and b.momentum == 0.9 for b in after)
    assert worker.stop(timeout=10)
    metrics = json.loads((worker.store.get(snap.run_id).path / "metrics.json").read_text())
    assert metrics["hparam_changes"] == [{"epoch": 1, "step": change.step, "lr": 0.05, "momentum": 0.9}]


def test_pause_holds_the_loop_and_resume_goes_on(worker: TrainingWorker) -> None:
    worker.start(LONG.with_changes(epochs=1))
    wait_for(worker, lambda s: len(s.batches) >= 2)
    worker.pause()
    assert worker.pause_requested
    paused = wait_for(worker, lambda s: s.state is RunState.PAUSED)
    time.sleep(0.5)
    assert worker.snapshot().batches == paused.batches  # nothing trained while paused
    assert paused.eta_seconds is None  # no stale estimate while nothing moves
    worker.resume()
    wait_for(worker, lambda s: s.state is RunState.RUNNING and len(s.batches) > len(paused.batches))
    assert not worker.pause_requested
    assert worker.stop(timeout=10)


def test_twenty_start_stop_cycles_leave_no_threads_behind(worker: TrainingWorker) -> None:
    tiny = TrainConfig(epochs=1, train_limit=640, test_limit=100, log_interval=1, device="cpu")
    before = threading.active_count()
    states = []
    for _ in range(20):
        worker.start(tiny)
        wait_for(worker, lambda s: len(s.batches) > 0 or s.state.is_final)
        assert worker.stop(timeout=30)
        states.append(worker.snapshot().state)
    assert threading.active_count() == before
    assert set(states) <= {RunState.STOPPED, RunState.FINISHED}
    assert len(worker.store.runs()) == 20


def test_a_pause_or_lr_change_asked_in_one_job_never_reaches_the_next(worker: TrainingWorker) -> None:
    # Job 1's only test pass is long (3,000 images, 10 at a time): the requests land during it, after
    # its last batch, so job 1 never acts on them. Shared with the next job they would pause it at
    # its first batch and change its lr.
    first = TrainConfig(epochs=1, train_limit=300, test_limit=3000, test_batch_size=10, log_interval=1, device="cpu")
    second = first.with_changes(test_limit=100, test_batch_size=100)
    worker.start(first)
    wait_for(worker, lambda s: s.evaluating)
    worker.pause()
    worker.set_hyperparams(lr=0.05)
    assert worker.join(timeout=120)
    worker.start(second)
    snap = wait_for(worker, lambda s: s.state.is_final or s.state is RunState.PAUSED)
    assert snap.state is RunState.FINISHED
    assert snap.hparam_changes == () and snap.batches and all(b.lr == first.lr for b in snap.batches)
    assert not worker.pause_requested


def test_commands_for_a_running_job_on_an_idle_worker_raise_their_own_error(tmp_path: Path) -> None:
    worker = TrainingWorker(RunStore(tmp_path))
    for command in (worker.pause, worker.resume, lambda: worker.set_hyperparams(lr=0.05)):
        with pytest.raises(WorkerIdleError, match="no training job is running"):
            command()
    assert worker.stop(timeout=1.0)  # stopping what is not running is no error: it is stopped
    assert worker.snapshot().state is RunState.IDLE


def test_every_change_bumps_the_version_and_an_unchanged_snapshot_is_not_copied_again(worker: TrainingWorker) -> None:
    idle = worker.snapshot()
    assert worker.snapshot() is idle  # nothing changed: the same object, no copying
    worker.start(SHORT)
    seen = [worker.snapshot()]
    while worker.is_alive():
        snap = worker.snapshot()
        if snap is not seen[-1]:
            seen.append(snap)
        time.sleep(0.005)
    seen.append(worker.snapshot())
    versions = [s.version for s in seen]
    assert versions == sorted(versions) and versions[0] > idle.version
    for before, after in itertools.pairwise(seen):
        assert after is before or after.version > before.version  # a new snapshot always has a new version
    final = seen[-1]
    assert final.state is RunState.FINISHED and final.run_id
    assert final.version >= len(final.batches) + len(final.epochs)


def test_a_run_and_a_sweep_claim_the_cores_one_at_a_time(runs_dir: Path, data_root: Path) -> None:
    cores = CoreClaim()
    store = RunStore(runs_dir)
    worker = TrainingWorker(store, data_root=data_root, cores=cores)
    runner = SweepRunner(store, data_root=data_root, cores=cores)
    cores.claim("sweep 1", SWEEP_HOLDS_THE_CORES)  # a sweep still connecting to Ray: its thread not yet running
    with pytest.raises(WorkerBusyError, match="A sweep is running on this machine's cores"):
        worker.start(SHORT)
    assert not worker.is_alive() and not any(runs_dir.iterdir())
    cores.release("sweep 1")
    try:
        worker.start(LONG)
        assert cores.holder is not None
        sweep = SweepSpec(base=SHORT, space={"lr": Axis(values=(0.01,))})
        with pytest.raises(SweepBusyError, match="A training run from the Train page"):  # before any Ray starts
            runner.start(sweep)
        assert not runner.is_alive()
    finally:
        assert worker.stop(timeout=60)
    assert cores.holder is None  # the job's thread gave them back as it ended
    cores.claim("sweep 2", SWEEP_HOLDS_THE_CORES)
    cores.release("training job 1")  # a late release by someone who no longer holds them changes nothing
    assert cores.holder == "sweep 2"
