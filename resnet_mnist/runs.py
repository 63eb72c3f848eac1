"""Runs on disk: one folder per run with its config, metrics history and checkpoint."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .checkpoint import atomic_write_bytes, save_checkpoint
from .config import TrainConfig
from .events import (
    BatchLogged,
    EpochCompleted,
    EvaluationStarted,
    Event,
    HyperparamsChanged,
    RunState,
    StateChanged,
)

__all__ = [
    "CHECKPOINT_FILE",
    "METRICS_FILE",
    "RUNS_ENV_VAR",
    "RUN_FILE",
    "RunInfo",
    "RunNotFoundError",
    "RunRecorder",
    "RunStore",
    "UnreadableRun",
    "resolve_runs_dir",
]

RUNS_ENV_VAR = "RESNET_MNIST_RUNS"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
CHECKPOINT_FILE = "checkpoint.pt"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class RunNotFoundError(KeyError):
    """No run of that id in the runs directory."""

    def __str__(self) -> str:  # KeyError quotes its argument; we want the sentence
        return str(self.args[0]) if self.args else "run not found"


def resolve_runs_dir(runs_dir: str | os.PathLike[str] | None = None) -> Path:
    """The runs folder: the argument, else $RESNET_MNIST_RUNS, else ./runs."""
    if runs_dir is not None and str(runs_dir) != "":
        return Path(runs_dir).expanduser()
    env = os.environ.get(RUNS_ENV_VAR)
    return Path(env).expanduser() if env else Path("runs")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=1).encode())


@dataclass(frozen=True)
class RunInfo:
    """What run.json says about a run, plus where it lives."""

    id: str
    path: Path
    state: RunState
    config: TrainConfig
    name: str = ""
    tags: tuple[str, ...] = ()
    reason: str | None = None
    device: str = ""
    created: str = ""
    updated: str = ""
    duration_seconds: float = 0.0
    epochs_done: int = 0
    best_accuracy: float | None = None
    final_accuracy: float | None = None
    sweep: str | None = None
    node: str = ""  # the Ray node that trained a sweep trial ("<ip> <node id>"); "" for local runs

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    @property
    def label(self) -> str:
        """A short human name: the given name, else the id."""
        return self.name or self.id


@dataclass(frozen=True)
class UnreadableRun:
    """A folder in the runs directory that is not (or not yet, or no longer) a readable run."""

    id: str
    path: Path
    problem: str


class RunRecorder:
    """Listens to a run's events and keeps its folder up to date.

    Batch events only go to memory; files are written (atomically) at epoch ends and state
    changes, so the training loop never waits on the disk per batch.
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
    ) -> None:
        self.path = path
        self.config = config
        self._info: dict[str, Any] = {
            "id": path.name,
            "name": name,
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
        }
        self.metrics: dict[str, list[dict[str, Any]]] = {"batches": [], "epochs": [], "hparam_changes": []}
        self._started = time.monotonic()
        self._write_info()

    @property
    def run_id(self) -> str:
        return self.path.name

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

    def _record_epoch(self, event: EpochCompleted) -> None:
        record = {k: v for k, v in asdict(event).items() if k != "model_state"}
        self.metrics["epochs"].append(record)
        accuracies = [e["test_accuracy"] for e in self.metrics["epochs"]]
        self._info.update(epochs_done=event.epoch, best_accuracy=max(accuracies), final_accuracy=accuracies[-1])
        if event.model_state is not None:
            self._save_checkpoint(event.model_state, event.epoch)
        self._write_metrics()
        self._write_info()

    def _record_state(self, event: StateChanged) -> None:
        self._info.update(state=event.state.value, reason=event.reason)
        if event.state is RunState.STOPPED and event.model_state is not None:
            # Keep what was learned, also the part of an epoch done before the stop.
            self._save_checkpoint(event.model_state, event.epoch)
        if event.state.is_final:
            self._write_metrics()
        self._write_info()

    def _save_checkpoint(self, state: dict, epoch: int) -> None:
        save_checkpoint(
            self.path / CHECKPOINT_FILE,
            self.config,
            state,
            epoch=epoch,
            metrics={"epochs": list(self.metrics["epochs"])},
        )

    def _write_info(self) -> None:
        self._info.update(updated=_now(), duration_seconds=round(time.monotonic() - self._started, 3))
        _write_json(self.path / RUN_FILE, self._info)

    def _write_metrics(self) -> None:
        _write_json(self.path / METRICS_FILE, self.metrics)


def _parse_info(path: Path, data: dict[str, Any]) -> RunInfo:
    return RunInfo(
        id=path.name,
        path=path,
        state=RunState(data["state"]),
        config=TrainConfig.from_dict(data["config"]),
        name=str(data.get("name") or ""),
        tags=tuple(str(t) for t in data.get("tags") or ()),
        reason=data.get("reason"),
        device=str(data.get("device") or ""),
        created=str(data.get("created") or ""),
        updated=str(data.get("updated") or ""),
        duration_seconds=float(data.get("duration_seconds") or 0.0),
        epochs_done=int(data.get("epochs_done") or 0),
        best_accuracy=data.get("best_accuracy"),
        final_accuracy=data.get("final_accuracy"),
        sweep=data.get("sweep"),
        node=str(data.get("node") or ""),
    )


@dataclass
class RunStore:
    """The runs directory: create, list, read, rename, tag and delete runs."""

    root: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def create(
        self, config: TrainConfig, *, device: str, name: str = "", sweep: str | None = None, node: str = ""
    ) -> RunRecorder:
        """A new run folder with a unique, time-ordered id, and its recorder."""
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            while True:
                run_id = f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
                path = self.root / run_id
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    continue
        return RunRecorder(path, config, device=device, name=name, sweep=sweep, node=node)

    def _path(self, run_id: str) -> Path:
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise RunNotFoundError(f"{run_id!r} is not a run id")
        path = self.root / run_id
        if not path.is_dir():
            raise RunNotFoundError(f"no run {run_id!r} in {self.root}")
        return path

    def get(self, run_id: str) -> RunInfo:
        """One run's info; RunNotFoundError if absent, ValueError if unreadable."""
        path = self._path(run_id)
        result = self._read(path)
        if isinstance(result, UnreadableRun):
            raise ValueError(f"run {run_id} is unreadable: {result.problem}")
        return result

    def _read(self, path: Path) -> RunInfo | UnreadableRun:
        info_file = path / RUN_FILE
        if not info_file.is_file():
            return UnreadableRun(path.name, path, f"no {RUN_FILE}: not a run, or one whose start was cut short")
        try:
            return _parse_info(path, json.loads(info_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return UnreadableRun(path.name, path, f"{RUN_FILE} is damaged ({type(exc).__name__}: {exc})")

    def list_runs(self) -> list[RunInfo | UnreadableRun]:
        """Every folder in the runs directory, newest first; broken ones as UnreadableRun."""
        if not self.root.is_dir():
            return []
        entries = [p for p in self.root.iterdir() if p.is_dir() and _RUN_ID.match(p.name)]
        return [self._read(p) for p in sorted(entries, key=lambda p: p.name, reverse=True)]

    def runs(self) -> list[RunInfo]:
        """Only the readable runs, newest first."""
        return [r for r in self.list_runs() if isinstance(r, RunInfo)]

    def latest_usable(self) -> RunInfo | None:
        """The newest finished or stopped run that has a checkpoint: the default model to use."""
        for run in self.runs():
            if run.state in (RunState.FINISHED, RunState.STOPPED) and run.has_checkpoint:
                return run
        return None

    def metrics(self, run_id: str) -> dict[str, list[dict[str, Any]]]:
        """The run's metrics history ({'batches', 'epochs', 'hparam_changes'}); empty lists if none yet."""
        path = self._path(run_id) / METRICS_FILE
        empty: dict[str, list[dict[str, Any]]] = {"batches": [], "epochs": [], "hparam_changes": []}
        if not path.is_file():
            return empty
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return empty
        return {key: list(data.get(key) or []) for key in empty}

    def _update_info(self, run_id: str, **changes: Any) -> RunInfo:
        path = self._path(run_id)
        with self._lock:
            data = json.loads((path / RUN_FILE).read_text())
            data.update(changes)
            _write_json(path / RUN_FILE, data)
        return self.get(run_id)

    def rename(self, run_id: str, name: str) -> RunInfo:
        return self._update_info(run_id, name=name.strip()[:100])

    def set_tags(self, run_id: str, tags: list[str]) -> RunInfo:
        clean = sorted({t.strip()[:40] for t in tags if t.strip()})
        return self._update_info(run_id, tags=clean)

    def delete(self, run_id: str) -> None:
        """Remove one run's folder and nothing else."""
        path = self._path(run_id)
        if path.resolve().parent != self.root.resolve():
            raise RunNotFoundError(f"{run_id!r} is not inside {self.root}")
        shutil.rmtree(path)
