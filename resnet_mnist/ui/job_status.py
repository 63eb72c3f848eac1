"""The Train page's status line and progress texts, from one worker snapshot.

One short line for every state, so the page can give the status a fixed height and nothing below
it moves; no pace or time left while a job is paused (they would be stale); a failed job says
where it failed and what it logged before, not the last batch that happened to be logged.
"""

from __future__ import annotations

from resnet_mnist.core.events import RunState
from resnet_mnist.jobs.worker import WorkerSnapshot
from resnet_mnist.ui.formatting import MISSING, format_count, format_duration, hyperparams_label
from resnet_mnist.ui.plain_text import escape_markdown

__all__ = [
    "chart_subtitle",
    "epoch_progress_text",
    "failure_summary",
    "pace_text",
    "run_progress_text",
    "status_message",
    "time_left_text",
]


def _failed_where(snap: WorkerSnapshot) -> tuple[int, int] | None:
    """(epoch, batch) of the step a failed job stopped at, when the step and epoch length are known."""
    if not snap.step or not snap.batches_per_epoch:
        return None
    epoch = (snap.step - 1) // snap.batches_per_epoch + 1
    return epoch, snap.step - (epoch - 1) * snap.batches_per_epoch


def _failed_at(snap: WorkerSnapshot) -> str:
    where = _failed_where(snap)
    if where is None:
        return ""
    return f" at step {snap.step:,} (epoch {where[0]}, batch {where[1]:,} of {snap.batches_per_epoch:,})"


def failure_summary(snap: WorkerSnapshot) -> str:
    """'Failed at step 11 (epoch 1, batch 11 of 47): <reason>. 2 losses were logged before, the last 1.93 at step 1.'"""
    text = f"Failed{_failed_at(snap)}: {escape_markdown(snap.reason or 'no reason was given')}"
    text += "" if text.endswith(".") else "."
    if snap.batches:
        last = snap.batches[-1]
        count = len(snap.batches)
        text += (
            f" {count:,} training loss{'es were' if count != 1 else ' was'} logged before, "
            f"the last {last.loss:.4g} at step {last.step:,}."
        )
    else:
        text += " No training loss was logged before."
    return text


def status_message(snap: WorkerSnapshot, *, pause_requested: bool = False) -> str:
    """One line (Markdown) on what the job is doing now."""
    state = RunState(snap.state.value)  # by value: survives a module reload
    if snap.loading:
        return "Loading MNIST into memory… the first run after a server start reads the files (a few seconds)."
    if state is RunState.RUNNING:
        if pause_requested:
            return "Pausing at the next batch…"
        if snap.evaluating:
            return f"Testing after epoch {snap.epoch}…"
        planned = snap.config.epochs if snap.config else "?"
        return f"Training epoch {snap.epoch} of {planned}."
    if state is RunState.PAUSED:
        return f"Paused in epoch {snap.epoch} after batch {snap.batch:,}. **Resume** to go on from there."
    if state is RunState.FAILED:
        return f"Failed{_failed_at(snap)}; what went wrong and what was logged is below."
    if state is RunState.STOPPED:
        return f"Stopped after {len(snap.epochs)} full epoch{'s' if len(snap.epochs) != 1 else ''}."
    if state is RunState.FINISHED:
        return f"Finished {len(snap.epochs)} epoch{'s' if len(snap.epochs) != 1 else ''}."
    return "No job yet: set the hyperparameters and press **Start**."


def epoch_progress_text(snap: WorkerSnapshot) -> str:
    """'Epoch 2 of 5: batch 300 of 938'; a failed job's bar names the batch it failed at."""
    planned = snap.config.epochs if snap.config else "?"
    if RunState(snap.state.value) is RunState.FAILED:
        where = _failed_where(snap)
        if where:
            return f"Epoch {where[0]} of {planned}: failed at batch {where[1]:,} of {snap.batches_per_epoch:,}"
    if not snap.epoch:
        return f"Epoch {MISSING}"
    return f"Epoch {snap.epoch} of {planned}: batch {snap.batch:,} of {snap.batches_per_epoch:,}"


def run_progress_text(snap: WorkerSnapshot) -> str:
    """'Run: 40% · about 11 s left' (the time left only while training, never while paused)."""
    eta = snap.eta_seconds
    return f"Run: {100 * snap.run_progress:.0f}%" + (f" · about {format_duration(eta)} left" if eta else "")


def pace_text(snap: WorkerSnapshot) -> str:
    """Training images per second while training; '–' otherwise (paused, ended or not started)."""
    running = RunState(snap.state.value) is RunState.RUNNING and not snap.loading
    return format_count(snap.images_per_second) if running else MISSING


def chart_subtitle(snap: WorkerSnapshot) -> str:
    """Which run the Train page's charts show, and its settings: never another run's, never the form's."""
    if snap.config is None:
        return "no run yet: the charts fill in once one starts"
    run = f"run {snap.run_id}" if snap.run_id else "the new run (loading data)"
    state = RunState(snap.state.value)
    when = "" if state is RunState.RUNNING else f" ({state.value})"
    return f"{run}{when} · {hyperparams_label(snap.config, lr=snap.lr, momentum=snap.momentum)}"


def time_left_text(snap: WorkerSnapshot) -> str:
    """The ETA tile: compact time left while training; '–' otherwise."""
    return format_duration(snap.eta_seconds, compact=True) if snap.eta_seconds else MISSING
