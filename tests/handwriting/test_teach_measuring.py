"""A fine-tune's measurement is part of its job (issue 27.9): k-fold fine-tunes run while the run still reads
running, announce each step, can be stopped, and a process killed in that phase leaves no finished run."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import REPO, teachable_parent, wait_for
from torchvision.datasets import MNIST

from resnet_mnist import RunState, RunStore, TrainingWorker
from resnet_mnist.core.config import ConfigError
from resnet_mnist.core.control import TrainingControl
from resnet_mnist.core.events import Measuring, StateChanged
from resnet_mnist.handwriting.digits import read_set
from resnet_mnist.handwriting.teach import KFOLD_BELOW, STOPPED_MEASURING, TeachSettings, prepare_teach
from resnet_mnist.runs.comparison import INTERRUPTED, display_state
from resnet_mnist.runs.store import RunInfo
from testdata.styled_handwriting import make_styled_folder

DIGITS = 30  # under KFOLD_BELOW: measured by 4-fold cross-validation (holdout 0.25)
# Each fold's fine-tune trains for a second or two (one epoch of 1,200 images), so a step is easy to catch.
SETTINGS = TeachSettings(epochs=1, holdout=0.25, mnist_images=300, test_limit=500, device="cpu")


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    assert DIGITS < KFOLD_BELOW
    test = MNIST(str(data_root), train=False)
    digits, labels = test.data[-DIGITS:].numpy(), test.targets[-DIGITS:].numpy()
    return make_styled_folder(tmp_path_factory.mktemp("small") / "hw", digits, labels)


@pytest.fixture(scope="module")
def small_parent(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> RunInfo:
    return teachable_parent(tmp_path_factory.mktemp("parent"), data_root, name="small parent")


@pytest.fixture
def parent(small_parent: RunInfo, tmp_path: Path) -> tuple[RunStore, str]:
    root = tmp_path / "runs"
    shutil.copytree(small_parent.path, root / small_parent.id)
    return RunStore(root), small_parent.id


def test_each_measuring_step_comes_before_the_run_ends(small_folder: Path, parent, data_root: Path) -> None:
    store, parent_id = parent
    job = prepare_teach(parent_id, read_set(small_folder), store=store, settings=SETTINGS, data_root=data_root)
    events = []
    report = job.execute(events.append, device=None)
    steps = [e for e in events if isinstance(e, Measuring)]
    finals = [i for i, e in enumerate(events) if isinstance(e, StateChanged) and e.state.is_final]
    assert [(s.done, s.total) for s in steps] == [(i, 5) for i in range(5)]  # MNIST, then 4 folds
    assert finals == [len(events) - 1] and events[-1].state is RunState.FINISHED  # one end, after every step
    assert report.handwriting_after is not None and report.state == "finished"


def test_stop_while_measuring_ends_the_job_as_stopped_with_the_model_kept(
    small_folder: Path, parent, data_root: Path
) -> None:
    store, parent_id = parent
    job = prepare_teach(parent_id, read_set(small_folder), store=store, settings=SETTINGS, data_root=data_root)
    worker = TrainingWorker(store, data_root=data_root)
    worker.start(job)
    try:
        snap = wait_for(worker, lambda s: (s.measuring is not None and s.measuring.done >= 1) or s.state.is_final)
        assert snap.measuring is not None, f"the job ended ({snap.state}) before its folds were measured"
        assert snap.state is RunState.RUNNING and snap.busy  # Stop and Pause stay on; Start says it runs
        assert store.get(snap.run_id).state == "running"
    finally:
        assert worker.stop(timeout=120)
    snap = worker.snapshot()
    assert (snap.state, snap.reason, snap.measuring) == (RunState.STOPPED, STOPPED_MEASURING, None)
    run = store.get(snap.run_id)
    assert run.state == "stopped" and run.reason == STOPPED_MEASURING and run.has_checkpoint
    report = run.teach["report"]
    assert report["state"] == "stopped" and report["handwriting_after"] is None and report["mnist_after"] is not None


def test_a_teach_killed_while_measuring_reads_interrupted_not_finished(small_folder: Path, parent, data_root) -> None:
    store, parent_id = parent
    command = [sys.executable, "-m", "resnet_mnist", "teach", "--from", parent_id, "--handwriting", str(small_folder)]
    command += ["--epochs", "1", "--holdout", "0.25", "--mnist-images", "300", "--test-limit", "500", "--quiet"]
    command += ["--device", "cpu", "--runs-dir", str(store.root), "--data-root", str(data_root)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    seen = []
    try:
        deadline = time.monotonic() + 300
        for line in process.stdout:  # ends when the process does: then the loop's else fails, saying what it printed
            seen.append(line.rstrip())
            if line.startswith("Measuring (2/5)") or time.monotonic() > deadline:
                break
        else:
            pytest.fail(f"teach exited with {process.wait()} before measuring a fold:\n" + "\n".join(seen[-20:]))
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert seen[-1].startswith("Measuring (2/5)"), seen[-20:]
    (run,) = [r for r in store.list_runs() if r.id != parent_id]
    info = json.loads((run.path / "run.json").read_text())
    assert info["state"] == "running" and not run.live  # never finished: it died measuring
    assert display_state(run, None) == INTERRUPTED


def test_pause_waits_between_measuring_steps_and_stop_ends_it_there(small_folder: Path, parent, data_root) -> None:
    """Pause and Stop reach the measuring itself, not only its k-fold fine-tunes: paused as MNIST's step is
    announced, nothing more is measured or ended until the Stop, which leaves the run stopped while measuring."""
    store, parent_id = parent
    job = prepare_teach(parent_id, read_set(small_folder), store=store, settings=SETTINGS, data_root=data_root)
    control, events, reports = TrainingControl(), [], []

    def emit(event) -> None:
        events.append(event)
        if isinstance(event, Measuring) and event.done == 0:
            control.pause()  # in the job's own thread: the pause is asked for before the step runs

    thread = threading.Thread(target=lambda: reports.append(job.execute(emit, control=control, device=None)))
    thread.start()
    try:
        deadline = time.monotonic() + 240
        while not any(isinstance(e, StateChanged) and e.state is RunState.PAUSED for e in events):
            assert thread.is_alive() and time.monotonic() < deadline, f"never paused: {events[-3:]}"
            time.sleep(0.05)
        paused_at = len(events)
        time.sleep(0.5)
        assert len(events) == paused_at, f"measured on while paused: {events[paused_at:]}"
        assert isinstance(events[paused_at - 2], Measuring) and events[paused_at - 2].done == 0
    finally:
        control.stop()
        thread.join(timeout=120)
    [report] = reports
    assert report.state == "stopped" and report.mnist_after is None and report.handwriting_after is None
    assert isinstance(events[-1], StateChanged) and events[-1].state is RunState.STOPPED
    assert events[-1].reason == STOPPED_MEASURING


def test_teach_steps_at_half_the_parents_lr_unless_told(small_folder: Path, parent, data_root: Path) -> None:
    """The default step is half the parent's own lr (at its own momentum); an lr given is used as it is, and the
    distillation's temperature reaches the loss term. Bad values are refused before anything is loaded."""
    store, parent_id = parent
    hset = read_set(small_folder)
    job = prepare_teach(parent_id, hset, store=store, settings=SETTINGS, data_root=data_root)
    assert job.config.lr == pytest.approx(0.05 * SETTINGS.lr_share) and SETTINGS.lr_share == 0.5
    assert job.config.momentum == 0.9
    told = replace(SETTINGS, lr=0.02, lr_share=0.25, temperature=1.0)
    job = prepare_teach(parent_id, hset, store=store, settings=told, data_root=data_root)
    assert job.config.lr == 0.02 and job.loss_term().temperature == 1.0
    for bad in ({"lr_share": 0.0}, {"lr_share": 1.5}, {"temperature": 0.1}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            prepare_teach(parent_id, hset, store=store, settings=replace(SETTINGS, **bad), data_root=data_root)
