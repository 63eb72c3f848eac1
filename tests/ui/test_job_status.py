"""The Train page's status texts from a real worker's snapshots: no stale pace while paused, and a
failed job that says where it failed and what it logged."""

from __future__ import annotations

from helpers import WAIT, wait_for

from resnet_mnist import RunState, TrainConfig, TrainingWorker
from resnet_mnist.jobs.worker import WorkerSnapshot
from resnet_mnist.ui.formatting import MISSING
from resnet_mnist.ui.job_status import (
    chart_subtitle,
    epoch_progress_text,
    failure_summary,
    pace_text,
    run_progress_text,
    status_message,
    time_left_text,
)

# lr 1000 blows the loss up within a few steps; log every 10th batch, as the page does by default.
DIVERGING = TrainConfig(epochs=1, lr=1000.0, momentum=0.9, train_limit=3000, test_limit=200, device="cpu")
LONG = TrainConfig(epochs=20, train_limit=6000, test_limit=500, log_interval=1, device="cpu")


def test_a_diverged_job_names_the_step_it_failed_at_not_the_last_logged_batch(worker: TrainingWorker) -> None:
    worker.start(DIVERGING)
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.state is RunState.FAILED and "diverged" in snap.reason
    failed_step = int(snap.reason.split("at step ")[1].split()[0])
    assert snap.step == failed_step and snap.batches_per_epoch == 47  # ceil(3000 / 64)
    assert snap.batches and snap.batches[-1].step < failed_step  # the last logged batch came before it
    assert epoch_progress_text(snap) == f"Epoch 1 of 1: failed at batch {failed_step} of 47"
    summary = failure_summary(snap)
    assert summary.startswith(f"Failed at step {failed_step} (epoch 1, batch {failed_step} of 47): diverged")
    count = len(snap.batches)
    logged = "training loss was" if count == 1 else "training losses were"
    assert f"{count} {logged} logged before, the last {snap.batches[-1].loss:.4g} at step" in summary
    assert status_message(snap).startswith(f"Failed at step {failed_step} ")
    assert pace_text(snap) == MISSING and time_left_text(snap) == MISSING


def test_while_paused_there_is_no_pace_and_no_time_left(worker: TrainingWorker) -> None:
    worker.start(LONG)
    running = wait_for(worker, lambda s: len(s.batches) >= 5 and s.eta_seconds is not None)
    assert pace_text(running) != MISSING and time_left_text(running) != MISSING and "left" in run_progress_text(running)
    assert status_message(running) == "Training epoch 1 of 20."
    assert (
        chart_subtitle(running)
        == f"run {running.run_id} · lr 0.01 · momentum 0.5 · batch 64 · seed 1 · 6,000 train images"
    )
    worker.pause()
    assert status_message(worker.snapshot(), pause_requested=worker.pause_requested) in (
        "Pausing at the next batch…",
        f"Paused in epoch 1 after batch {worker.snapshot().batch:,}. **Resume** to go on from there.",
    )
    paused = wait_for(worker, lambda s: s.state is RunState.PAUSED)
    assert paused.images_per_second is not None  # the snapshot keeps the last pace …
    assert pace_text(paused) == MISSING and time_left_text(paused) == MISSING  # … but the page does not show it
    assert "left" not in run_progress_text(paused) and run_progress_text(paused).startswith("Run: ")
    assert status_message(paused).startswith("Paused in epoch 1 after batch ")
    assert chart_subtitle(paused).startswith(f"run {running.run_id} (paused) · lr 0.01")
    worker.resume()
    wait_for(worker, lambda s: s.state is RunState.RUNNING and s.eta_seconds is not None)
    worker.stop(timeout=10)
    stopped = worker.snapshot()
    assert stopped.state is RunState.STOPPED and pace_text(stopped) == MISSING


def test_idle_and_loading_lines() -> None:
    assert status_message(WorkerSnapshot()) == "No job yet: set the hyperparameters and press **Start**."
    assert chart_subtitle(WorkerSnapshot()) == "no run yet: the charts fill in once one starts"
    assert epoch_progress_text(WorkerSnapshot()) == f"Epoch {MISSING}"
    loading = WorkerSnapshot(state=RunState.RUNNING, config=TrainConfig())
    assert status_message(loading).startswith("Loading MNIST")
    assert chart_subtitle(loading).startswith("the new run (loading data) · lr 0.01")
    assert pace_text(loading) == MISSING


def test_an_exception_message_is_shown_as_typed_not_as_markup() -> None:
    snap = WorkerSnapshot(state=RunState.FAILED, reason="[click](http://x) **bold** <b>")
    assert failure_summary(snap) == (
        r"Failed: \[click\](http\://x) \*\*bold\*\* \<b\>. No training loss was logged before."
    )
