"""Which trained model the Draw page asks: a saved run's checkpoint, or an uploaded file."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from resnet_mnist.core.events import RunState
from resnet_mnist.runs.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from resnet_mnist.runs.ranking import best_run
from resnet_mnist.runs.store import RunInfo, RunStore
from resnet_mnist.ui.formatting import MISSING, hyperparams_label

__all__ = [
    "MAX_UPLOAD_BYTES",
    "ModelChoice",
    "checkpoint_identity",
    "default_run_id",
    "describe_checkpoint",
    "describe_run",
    "load_uploaded_checkpoint",
    "usable_runs",
]

MAX_UPLOAD_BYTES = 20_000_000  # the seed's Net saves to about 0.2 MB; anything near 20 MB is not one


@dataclass(frozen=True)
class ModelChoice:
    """A model to draw against: where it came from (for the caption) and its checkpoint."""

    label: str
    checkpoint: Checkpoint
    run_id: str | None = None  # None for an uploaded file


def usable_runs(store: RunStore) -> list[RunInfo]:
    """Runs with a checkpoint to load, newest first (a run still training offers its last epoch)."""
    return [run for run in store.runs() if run.has_checkpoint]


def default_run_id(store: RunStore, wanted: str | None = None) -> str | None:
    """`wanted` if that run has a checkpoint, else the best finished or stopped run's (see ranking), else None."""
    runs = usable_runs(store)
    if wanted is not None and any(run.id == wanted for run in runs):
        return wanted
    best = best_run(runs, needs_checkpoint=True)
    if best is not None:
        return best.id
    return runs[0].id if runs else None


def _percent(value: float | None) -> str:
    return f"accuracy {MISSING}" if value is None else f"{100 * value:.2f}%"


def describe_run(run: RunInfo) -> str:
    """'my run (20260101-…) · 98.52% · 1 epoch · lr 0.05 · momentum 0.9 · batch 64 · seed 1', for the picker."""
    epochs = f"{run.epochs_done} epoch{'s' if run.epochs_done != 1 else ''}"
    state = "" if run.state in (RunState.FINISHED,) else f" · {run.state.value}"
    # The id keeps two runs with the same name and results apart (the picker needs distinct labels).
    label = f"{run.name} ({run.id})" if run.name else run.id
    return f"{label} · {_percent(run.final_accuracy)} · {epochs}{state} · {hyperparams_label(run.config)}"


def describe_checkpoint(checkpoint: Checkpoint, name: str) -> str:
    """One line about an uploaded checkpoint: its file name, accuracy, epoch and hyperparameters."""
    accuracy = _percent(checkpoint.test_accuracy)
    return f"{name} · {accuracy} · epoch {checkpoint.epoch} · {hyperparams_label(checkpoint.config)}"


def checkpoint_identity(path: str | Path) -> tuple[str, int, int]:
    """(path, size, mtime) of a checkpoint file: a cache key that changes when the file is rewritten."""
    stat = Path(path).stat()
    return str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns


def load_uploaded_checkpoint(data: bytes, name: str, *, limit: int = MAX_UPLOAD_BYTES) -> Checkpoint:
    """An uploaded file's bytes → Checkpoint (weights_only); CheckpointError says what is wrong."""
    if len(data) == 0:
        raise CheckpointError(f"{name} is empty")
    if len(data) > limit:
        raise CheckpointError(
            f"{name} is {len(data) / 1e6:.1f} MB; checkpoints of this network are about 0.2 MB, "
            f"so files over {limit / 1e6:.0f} MB are refused"
        )
    return load_checkpoint(io.BytesIO(data), name=name)
