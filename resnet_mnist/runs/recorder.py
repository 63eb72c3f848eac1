"""Writing a run's folder: the recorder, the run's one writer while it records, and the merge that
edits a run.json once no process records it any more (a rename, a retag, a fine-tune's results).

RunStore (store.py) reads and manages the runs folder; every write to a run's files goes through here.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.events import (
    BatchLogged,
    EpochCompleted,
    EvaluationStarted,
    Event,
    HyperparamsChanged,
    RunState,
    StateChanged,
)
from resnet_mnist.core.files import atomic_write_bytes, read_bounded
from resnet_mnist.runs.checkpoint import save_checkpoint
from resnet_mnist.runs.lock import RunBusyError, WriterLock, exclusive, writer_of
from resnet_mnist.runs.schema import (
    MAX_NAME_LENGTH,
    MAX_RUN_FILE_BYTES,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    dumps_json,
    parse_run_record,
)

__all__ = [
    "CHECKPOINT_FILE",
    "EPOCHS_DIR",
    "METRICS_FILE",
    "RUN_FILE",
    "RunRecorder",
    "edit_changes",
    "epoch_checkpoint_name",
    "merge_into_ended_run",
    "recorder_for",
]

RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
CHECKPOINT_FILE = "checkpoint.pt"
EPOCHS_DIR = "epochs"  # one checkpoint per epoch, with its momentum: any epoch can be drawn with or branched from


def epoch_checkpoint_name(epoch: int) -> str:
    """The run-folder path of epoch `epoch`'s checkpoint: 'epochs/epoch-003.pt'."""
    return f"{EPOCHS_DIR}/epoch-{epoch:03d}.pt"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, dumps_json(data, indent=1).encode())


_recorders: weakref.WeakValueDictionary[str, RunRecorder] = weakref.WeakValueDictionary()
_recorders_lock = threading.Lock()


def recorder_for(path: Path) -> RunRecorder | None:
    """The recorder in this process that is writing the run at `path`, if any."""
    with _recorders_lock:
        return _recorders.get(str(path.resolve()))


class RunRecorder:
    """Listens to a run's events and keeps its folder up to date: the run's one writer.

    Batch events only go to memory; files are written (atomically) at epoch ends and state
    changes, so the training loop never waits on the disk per batch. From creation until the
    final state is written it holds the run's writer lock (lock.py): other processes see the
    run as live and cannot change it, and edits from this process (name, tags) come through
    `edit`, merged into what it writes.
    """

    def __init__(
        self,
        path: Path,
        config: TrainConfig,
        *,
        device: str,
        name: str = "",
        sweep: str | None = None,
        node: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.config = config
        self._lock = threading.RLock()
        self._writer = WriterLock(path)
        self._info: dict[str, Any] = {
            "id": path.name,
            "name": name.strip()[:MAX_NAME_LENGTH],
            "tags": [],
            "state": RunState.IDLE.value,
            "reason": None,
            "config": config.to_dict(),
            "device": device,
            "created": _now(),
            "updated": _now(),
            "duration_seconds": 0.0,
            "epochs_done": 0,
            "best_accuracy": None,
            "final_accuracy": None,
            "sweep": sweep,
            "node": node,
            **(extra or {}),
        }
        self.metrics: dict[str, list[dict[str, Any]]] = {"batches": [], "epochs": [], "hparam_changes": []}
        self._started = time.monotonic()
        with _recorders_lock:
            _recorders[str(path.resolve())] = self
        self._write_info()

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def is_open(self) -> bool:
        """Still the run's writer: its final state is not written yet."""
        return self._writer.held

    def annotate(self, key: str, value: Any) -> None:
        """Record one more field in run.json (a fine-tune's before/after results) through the run's one writer.

        While the run records, the field joins everything the recorder writes; once its final state is
        written (a fine-tune measures after training), it is merged under the run's lock like an edit.
        """
        with self._lock:
            self._info[key] = value
            if self.is_open:
                self._write_info()
                return
        merge_into_ended_run(self.path, {key: value}, "")

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchLogged):
            self.metrics["batches"].append(asdict(event))
        elif isinstance(event, HyperparamsChanged):
            self.metrics["hparam_changes"].append(asdict(event))
        elif isinstance(event, EpochCompleted):
            self._record_epoch(event)
        elif isinstance(event, StateChanged):
            self._record_state(event)
        elif isinstance(event, EvaluationStarted):
            pass

    def edit(self, *, name: str | None = None, tags: list[str] | None = None) -> bool:
        """Merge a user's edit into run.json now and in every later write; False once the run has ended."""
        with self._lock:
            if not self.is_open:
                return False
            self._info.update(edit_changes(name, tags))
            self._write_info()
            return True

    def close(self) -> None:
        """Let go of the run (after its final state, or when the process gives up on it)."""
        with self._lock:
            self._writer.release()
        with _recorders_lock:
            if _recorders.get(str(self.path.resolve())) is self:
                del _recorders[str(self.path.resolve())]

    def _record_epoch(self, event: EpochCompleted) -> None:
        # Not asdict: it would deep-copy the weights and momentum, which are not metrics.
        record = {
            f.name: getattr(event, f.name) for f in fields(event) if f.name not in ("model_state", "momentum_state")
        }
        with self._lock:
            self.metrics["epochs"].append(record)
            accuracies = [e["test_accuracy"] for e in self.metrics["epochs"]]
            self._info.update(epochs_done=event.epoch, best_accuracy=max(accuracies), final_accuracy=accuracies[-1])
            if event.model_state is not None:
                self._save_checkpoint(event.model_state, event.epoch)
                self._save_epoch_checkpoint(event)
            self._write_metrics()
            self._write_info()

    def _record_state(self, event: StateChanged) -> None:
        with self._lock:
            self._info.update(state=event.state.value, reason=event.reason)
            if event.kept_epoch is not None and event.model_state is not None:
                # The job keeps an earlier epoch's weights as the run's model (its epochs/ files stay as trained).
                self._save_checkpoint(event.model_state, event.kept_epoch)
                kept = [e["test_accuracy"] for e in self.metrics["epochs"] if e["epoch"] == event.kept_epoch]
                self._info.update(final_accuracy=kept[-1] if kept else self._info.get("final_accuracy"))
            elif event.state is RunState.STOPPED and event.model_state is not None:
                # Keep what was learned, also the part of an epoch done before the stop.
                self._save_checkpoint(event.model_state, event.epoch)
            if event.state.is_final:
                self._write_metrics()
            self._write_info()
            if event.state.is_final:
                self.close()  # under the lock: an edit either lands before the final write or after the release

    def _save_checkpoint(self, state: dict, epoch: int) -> None:
        save_checkpoint(
            self.path / CHECKPOINT_FILE,
            self.config,
            state,
            epoch=epoch,
            metrics={"epochs": list(self.metrics["epochs"])},
        )

    def _save_epoch_checkpoint(self, event: EpochCompleted) -> None:
        """epochs/epoch-NNN.pt: the epoch's weights, momentum and step, what a branch from it needs."""
        assert event.model_state is not None
        save_checkpoint(
            self.path / epoch_checkpoint_name(event.epoch),
            self.config,
            event.model_state,
            epoch=event.epoch,
            metrics={"epochs": list(self.metrics["epochs"])},
            momentum=event.momentum_state or {},
            step=event.step,
        )

    def _write_info(self) -> None:
        self._info.update(updated=_now(), duration_seconds=round(time.monotonic() - self._started, 3))
        _write_json(self.path / RUN_FILE, self._info)

    def _write_metrics(self) -> None:
        _write_json(self.path / METRICS_FILE, self.metrics)


def edit_changes(name: str | None, tags: list[str] | None) -> dict[str, Any]:
    """A user's rename and retag as run.json fields, trimmed and bounded; a None is left as it is."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name.strip()[:MAX_NAME_LENGTH]
    if tags is not None:
        changes["tags"] = sorted({t.strip()[:MAX_TAG_LENGTH] for t in tags if t.strip()})[:MAX_TAGS]
    return changes


def merge_into_ended_run(path: Path, changes: dict[str, Any], busy_hint: str) -> None:
    """Merge `changes` into a run.json no process records any more, under the run's lock.

    The one way run.json changes after a run has ended (a rename, a fine-tune's results): the file
    must still read as a run, and a writer that holds the run makes this a RunBusyError instead.
    """
    with exclusive(path) as owned:
        if not owned:
            raise RunBusyError(f"run {path.name} is being recorded by {writer_of(path)}{busy_hint}")
        raw = read_bounded(path / RUN_FILE, MAX_RUN_FILE_BYTES)
        parse_run_record(raw)  # never edit a file that is not a readable run
        data = json.loads(raw)
        data.update(changes)
        _write_json(path / RUN_FILE, data)
