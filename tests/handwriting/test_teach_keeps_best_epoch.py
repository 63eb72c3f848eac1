"""Teach keeps the epoch that reads held-out MNIST best (issue 24): a later epoch that forgot is not the model.

A recipe built to forget (nearly all handwriting, nothing keeping the parent, a large step) loses more of
MNIST each epoch. The test scores every epoch's saved weights on the watch slice itself and checks that the
kept epoch is the best of them, that the run's checkpoint holds that epoch's weights, and that the report's
MNIST figure is that model's.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from helpers import WAIT, teachable_parent, wait_for
from torchvision.datasets import MNIST

from resnet_mnist import RunState, RunStore, TrainingWorker, load_checkpoint
from resnet_mnist.core.control import TrainingControl
from resnet_mnist.core.data import MnistSplit, load_split
from resnet_mnist.core.events import Measuring, fan_out
from resnet_mnist.core.measure import evaluate
from resnet_mnist.core.precision import resolve_precision
from resnet_mnist.handwriting.best_epoch import WATCH_IMAGES
from resnet_mnist.handwriting.digits import read_set
from resnet_mnist.handwriting.teach import TeachSettings, prepare_teach
from resnet_mnist.runs.recorder import epoch_checkpoint_name
from resnet_mnist.runs.store import RunInfo
from testdata.styled_handwriting import make_styled_folder

FORGETFUL = TeachSettings(
    epochs=3,
    holdout=0.0,  # nothing held out: no k-fold fine-tunes, the run alone
    lr=0.05,
    momentum=0.9,
    mnist_images=200,
    handwriting_share=0.95,
    distill=0.0,
    replay=0,
    early_lr=1.0,
    test_limit=1000,
    device="cpu",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    test = MNIST(str(data_root), train=False)
    digits, labels = test.data[-200:].numpy(), test.targets[-200:].numpy()
    return make_styled_folder(tmp_path_factory.mktemp("hw") / "hw", digits, labels)


@pytest.fixture(scope="module")
def trained_parent(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> RunInfo:
    return teachable_parent(tmp_path_factory.mktemp("parent"), data_root, train_limit=3000)


def teach(parent: RunInfo, folder: Path, tmp_path: Path, data_root: Path, settings: TeachSettings) -> RunInfo:
    """Teach through the dashboard's worker, so the run is recorded as the page records it."""
    store = RunStore(tmp_path / "runs")
    shutil.copytree(parent.path, store.root / parent.id)
    job = prepare_teach(parent.id, read_set(folder), store=store, settings=settings, data_root=data_root)
    worker = TrainingWorker(store, data_root=data_root)
    worker.start(job)
    snap = wait_for(worker, lambda s: s.state.is_final and s.outcome is not None, timeout=WAIT)
    assert worker.join(WAIT) and snap.state is RunState.FINISHED, snap.reason
    return store.get(snap.run_id)


def accuracy(state: dict[str, torch.Tensor], precision: str, split: MnistSplit) -> float:
    from resnet_mnist.core.model import Net

    model = Net()
    model.load_state_dict(state)
    return evaluate(model.eval(), split, 1000, precision=resolve_precision(precision, "cpu")).accuracy


def test_the_epoch_that_reads_held_out_mnist_best_is_the_model(
    trained_parent: RunInfo, folder: Path, tmp_path: Path, data_root: Path
) -> None:
    run = teach(trained_parent, folder, tmp_path, data_root, FORGETFUL)
    report = run.teach["report"]
    train = load_split(data_root, train=True)
    watch = MnistSplit(train.images[-WATCH_IMAGES:], train.labels[-WATCH_IMAGES:])
    precision = run.config.precision
    epochs = [load_checkpoint(run.path / epoch_checkpoint_name(e)).state_dict for e in (1, 2, 3)]
    scores = [accuracy(state, precision, watch) for state in epochs]
    best = scores.index(max(scores)) + 1  # the earliest of equals
    assert best < 3, f"the recipe did not forget: {scores}"  # else this test shows nothing
    assert report["kept_epoch"] == best, (report["kept_epoch"], scores)
    kept = load_checkpoint(run.checkpoint_path)
    assert kept.epoch == best
    assert all(torch.equal(kept.state_dict[k], epochs[best - 1][k]) for k in kept.state_dict)
    test = load_split(data_root, train=False, limit=FORGETFUL.test_limit)
    assert report["mnist_after"] == pytest.approx(accuracy(kept.state_dict, precision, test))
    assert report["mnist_after"] > accuracy(epochs[-1], precision, test)  # the last epoch forgot more
    # The run reads as its model: the kept epoch's accuracy, in run.json and in the checkpoint.
    kept_test = RunStore(run.path.parent).metrics(run.id)["epochs"][best - 1]["test_accuracy"]
    assert run.final_accuracy == kept_test == kept.test_accuracy
    assert report["kept_note"].startswith(f"Kept epoch {best} of 3")


def test_stopped_while_measuring_it_still_keeps_the_epoch_it_measured(
    trained_parent: RunInfo, folder: Path, tmp_path: Path, data_root: Path
) -> None:
    """A Stop in the measuring after training: the run ends stopped, and its checkpoint is the kept epoch,
    the model the report's MNIST figure was (or was about to be) measured on."""
    store = RunStore(tmp_path / "runs")
    shutil.copytree(trained_parent.path, store.root / trained_parent.id)
    job = prepare_teach(trained_parent.id, read_set(folder), store=store, settings=FORGETFUL, data_root=data_root)
    recorder = store.create(job.config, device="cpu", name="stopped", extra=job.run_fields())
    control = TrainingControl()

    def stop_when_measuring(event) -> None:
        if isinstance(event, Measuring):
            control.stop()  # in the job's own thread, before its first measuring step runs

    report = job.execute(fan_out(recorder, stop_when_measuring), control=control, annotate=recorder.annotate)
    run = store.get(recorder.run_id)
    assert run.state == "stopped" and report.kept_epoch is not None and report.kept_epoch < 3
    kept = load_checkpoint(run.checkpoint_path)
    epoch_file = load_checkpoint(run.path / epoch_checkpoint_name(report.kept_epoch))
    assert kept.epoch == report.kept_epoch
    assert all(torch.equal(kept.state_dict[k], epoch_file.state_dict[k]) for k in kept.state_dict)


def test_keep_best_off_keeps_the_last_epoch(
    trained_parent: RunInfo, folder: Path, tmp_path: Path, data_root: Path
) -> None:
    run = teach(trained_parent, folder, tmp_path, data_root, replace(FORGETFUL, keep_best=False))
    assert run.teach["report"]["kept_epoch"] is None
    kept = load_checkpoint(run.checkpoint_path)
    last = load_checkpoint(run.path / epoch_checkpoint_name(3))
    assert kept.epoch == 3 and all(torch.equal(kept.state_dict[k], last.state_dict[k]) for k in kept.state_dict)
