"""Divergence: a run whose loss stops being finite fails at once with the reason and keeps its last good checkpoint."""

from __future__ import annotations

import re

import numpy as np
import torch
from helpers import (
    SHORT,
    WAIT,
    assert_run_folder_complete,
    badge,
    open_app,
    rerun_until,
    set_quick_run,
    wait_for,
)

from resnet_mnist import RunState, TrainConfig, TrainingWorker, load_checkpoint


def test_divergence_mid_run_fails_within_a_logged_interval_and_keeps_the_last_good_checkpoint(
    worker: TrainingWorker,
) -> None:
    config = TrainConfig(epochs=6, train_limit=1500, test_limit=300, log_interval=3, device="cpu")
    worker.start(config)
    wait_for(worker, lambda s: len(s.epochs) >= 1)
    worker.set_hyperparams(lr=10.0, momentum=0.99)
    snap = wait_for(worker, lambda s: s.state.is_final)
    assert snap.state is RunState.FAILED, f"{snap.state}: lr 10 / momentum 0.99 did not diverge"
    assert "diverged" in snap.reason and "learning rate" in snap.reason
    (change,) = snap.hparam_changes
    failed_at = int(re.search(r"at step (\d+)", snap.reason).group(1))
    # Noticed at the first logged batch with a non-finite loss: no later than one interval after the last good one.
    assert failed_at - snap.batches[-1].step <= config.log_interval
    assert failed_at >= change.step
    assert all(np.isfinite(b.loss) for b in snap.batches)

    # The run is on disk as failed, with the checkpoint of its last completed epoch, which loads.
    info = worker.store.get(snap.run_id)
    assert info.state is RunState.FAILED and info.reason == snap.reason
    assert info.epochs_done == len(snap.epochs) >= 1
    checkpoint = load_checkpoint(info.checkpoint_path)
    assert checkpoint.epoch == snap.epochs[-1].epoch
    assert all(torch.isfinite(t).all() for t in checkpoint.state_dict.values())
    assert_run_folder_complete(info.path)

    # The next run starts and finishes normally.
    worker.start(SHORT)
    assert worker.join(WAIT)
    assert worker.snapshot().state is RunState.FINISHED
    assert worker.snapshot().reason is None


def test_a_diverging_run_started_from_the_page_fails_with_the_reason_and_the_page_stays_usable(
    app_sessions: None,
) -> None:
    at = open_app("pages/train.py")
    set_quick_run(at, epochs=3, test_limit=300)
    at.number_input(key="train_lr").set_value(10.0)
    at.number_input(key="train_momentum").set_value(0.99).run()
    at.button(key="train_start").click().run()
    assert not at.error, [e.value for e in at.error]
    snap = rerun_until(at, lambda s: s.state.is_final)
    assert snap.state is RunState.FAILED
    errors = " ".join(e.value for e in at.error)
    assert errors.startswith(f"Failed at step {snap.step} ") and "diverged" in errors and "learning rate" in errors
    assert f"**Doctor: diverged.** Diverged in epoch {len(snap.epochs) + 1}" in errors  # the NaN, named by the doctor
    assert "failed" in badge(at)

    at.button(key="train_reset").click().run()
    set_quick_run(at, epochs=1, test_limit=300)
    at.button(key="train_start").click().run()
    assert not at.error and not at.warning
    snap = rerun_until(at, lambda s: s.state.is_final)
    assert snap.state is RunState.FINISHED, snap.reason
    assert "finished" in badge(at) and at.success
