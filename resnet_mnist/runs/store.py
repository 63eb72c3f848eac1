"""Runs on disk: one folder per run with its config, metrics history and checkpoint.

RunStore creates, lists, reads, edits and deletes them; what writes a run's files is in recorder.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.events import RunState
from resnet_mnist.core.files import FileRefused, read_bounded
from resnet_mnist.runs.lock import RunBusyError, exclusive, is_live, writer_of
from resnet_mnist.runs.recorder import (
    CHECKPOINT_FILE,
    EPOCHS_DIR,
    METRICS_FILE,
    RUN_FILE,
    RunRecorder,
    edit_changes,
    epoch_checkpoint_name,
    merge_into_ended_run,
    recorder_for,
)
from resnet_mnist.runs.schema import (
    MAX_METRICS_BYTES,
    MAX_RUN_FILE_BYTES,
    RunMetrics,
    RunRecord,
    parse_metrics,
    parse_run_record,
    record_dict,
)

__all__ = [
    "CHECKPOINT_FILE",
    "MAX_CHECKPOINT_BYTES",
    "METRICS_FILE",
    "RUNS_ENV_VAR",
    "RUN_FILE",
    "RunBusyError",
    "RunInfo",
    "RunNotFoundError",
    "RunRecorder",
    "RunStore",
    "UnreadableRun",
    "resolve_runs_dir",
]

RUNS_ENV_VAR = "RESNET_MNIST_RUNS"
MAX_CHECKPOINT_BYTES = 20_000_000  # this network's checkpoints are about 0.2 MB
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SAME_SECOND_TOKEN = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}$")
_TOKEN_GAP = 16**3  # the first run of a second starts below this; each next one at most this far after the last
_EPOCH_FILE = re.compile(r"^epoch-(\d{3,4})\.pt$")


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


@dataclass(frozen=True, kw_only=True)
class RunInfo(RunRecord):
    """What run.json says about a run (validated), plus where it lives and whether a process is writing it."""

    id: str
    path: Path
    live: bool = False  # some process (this one or another) holds the run's writer lock

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def has_checkpoint(self) -> bool:
        """A real checkpoint file in the run folder (a symbolic link is never used or served)."""
        return self.checkpoint_path.is_file() and not self.checkpoint_path.is_symlink()

    @property
    def label(self) -> str:
        """A short human name: the given name, else the id."""
        return self.name or self.id

    def epoch_checkpoint_path(self, epoch: int) -> Path:
        """Where epoch `epoch`'s checkpoint is kept (epochs/epoch-003.pt), whether or not it is there."""
        return self.path / epoch_checkpoint_name(epoch)

    @property
    def saved_epochs(self) -> list[int]:
        """The epochs whose checkpoints the run folder holds as real files (never through a link), in order."""
        folder = self.path / EPOCHS_DIR
        if folder.is_symlink() or not folder.is_dir():
            return []
        found = (_EPOCH_FILE.match(p.name) for p in folder.iterdir())
        epochs = sorted(int(m.group(1)) for m in found if m)
        return [
            e
            for e in epochs
            if self.epoch_checkpoint_path(e).is_file() and not self.epoch_checkpoint_path(e).is_symlink()
        ]


@dataclass(frozen=True)
class UnreadableRun:
    """A folder in the runs directory that is not (or not yet, or no longer) a readable run."""

    id: str
    path: Path
    problem: str


_StatKey = tuple[int, int, int]


def _stat_key(path: Path) -> _StatKey | None:
    try:
        stat = path.lstat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


@dataclass
class RunStore:
    """The runs directory: create, list, read, rename, tag and delete runs.

    Every run.json and metrics.json is validated (schema.py) before anything else sees it; a
    file that fails makes its run an UnreadableRun. Results are kept per file version (inode,
    size, mtime), so listing the folder again costs a stat per file.
    """

    root: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _records: dict[Path, tuple[_StatKey, RunRecord | FileRefused]] = field(default_factory=dict, repr=False)
    _metrics_ok: dict[Path, tuple[_StatKey, FileRefused | None]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def create(
        self,
        config: TrainConfig,
        *,
        device: str,
        name: str = "",
        sweep: str | None = None,
        node: str = "",
        extra: dict[str, Any] | None = None,
    ) -> RunRecorder:
        """A new run folder with a unique, time-ordered id, and its recorder (the run's one writer;
        `extra`: more run.json fields, such as a fine-tune's `parent` and `teach`)."""
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            while True:
                run_id = self._new_run_id()
                path = self.root / run_id
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    continue
        return RunRecorder(path, config, device=device, name=name, sweep=sweep, node=node, extra=extra)

    def _new_run_id(self) -> str:
        """`<second>-<6 hex>`: the hex part follows every run made in the same second, so newest-first (by
        name) holds within a second too (a seed group or a test makes several runs a second); random gaps
        keep two processes that make one at the same moment apart."""
        second = f"{datetime.now():%Y%m%d-%H%M%S}"
        taken = [int(p.name[16:22], 16) for p in self.root.glob(f"{second}-*") if _SAME_SECOND_TOKEN.match(p.name)]
        start = max(taken) + 1 if taken else 0
        token = start + secrets.randbelow(_TOKEN_GAP)
        if token >= 16**6:  # thousands of runs in one second: order within it is no longer kept
            token = secrets.randbelow(16**6)
        return f"{second}-{token:06x}"

    def _path(self, run_id: str) -> Path:
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise RunNotFoundError(f"{run_id!r} is not a run id")
        path = self.root / run_id
        if path.is_symlink():
            raise RunNotFoundError(f"{run_id!r} is a symbolic link; runs are real folders inside {self.root}")
        if not path.is_dir():
            raise RunNotFoundError(f"no run {run_id!r} in {self.root}")
        return path

    def get(self, run_id: str) -> RunInfo:
        """One run's info; RunNotFoundError if absent, ValueError if unreadable."""
        path = self._path(run_id)
        result = self._read(path)
        if isinstance(result, UnreadableRun):
            raise ValueError(f"run {run_id} is {result.problem}")
        return result

    def _validated(self, path: Path, cache: dict, parse: Any) -> Any:
        """`parse(path)` once per version of the file; a refusal is kept too."""
        key = _stat_key(path)
        cached = cache.get(path)
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        try:
            result = parse(path)
        except FileRefused as exc:
            result = exc
        if key is not None:
            cache[path] = (key, result)
        return result

    def _read(self, path: Path) -> RunInfo | UnreadableRun:
        if path.is_symlink():
            return UnreadableRun(path.name, path, "unreadable: the folder is a symbolic link; runs are real folders")
        info_file = path / RUN_FILE
        if not info_file.exists() and not info_file.is_symlink():
            return UnreadableRun(path.name, path, f"no {RUN_FILE}: not a run, or one whose start was cut short")
        record = self._validated(info_file, self._records, _read_record)
        if isinstance(record, FileRefused):
            return UnreadableRun(path.name, path, f"unreadable: {record}")
        metrics_file = path / METRICS_FILE
        if metrics_file.exists() or metrics_file.is_symlink():
            problem = self._validated(metrics_file, self._metrics_ok, _check_metrics)
            if problem is not None:
                return UnreadableRun(path.name, path, f"unreadable: {problem}")
        live = not record.state.is_final and is_live(path)
        return RunInfo(**record_dict(record), id=path.name, path=path, live=live)

    def list_runs(self) -> list[RunInfo | UnreadableRun]:
        """Every folder in the runs directory, newest first; broken ones as UnreadableRun (not one still starting)."""
        if not self.root.is_dir():
            return []
        entries = [p for p in self.root.iterdir() if _RUN_ID.match(p.name) and (p.is_dir() or p.is_symlink())]
        listed = [self._read(p) for p in sorted(entries, key=lambda p: p.name, reverse=True)]
        return [r for r in listed if not (isinstance(r, UnreadableRun) and _starting(r.path))]  # checked for few

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
        """The run's validated metrics ({'batches', 'epochs', 'hparam_changes'}) as dicts; empty if none."""
        return self.run_metrics(run_id).as_dicts()

    def run_metrics(self, run_id: str) -> RunMetrics:
        """The run's validated metrics as records; empty if there are none yet or the file is unreadable."""
        path = self._path(run_id) / METRICS_FILE
        if not path.exists() and not path.is_symlink():
            return RunMetrics()
        try:
            return parse_metrics(read_bounded(path, MAX_METRICS_BYTES))
        except FileRefused:
            return RunMetrics()  # the listing names the problem; this run shows no curves

    def checkpoint_bytes(self, run_id: str) -> bytes:
        """The run's checkpoint file, for download; never through a symbolic link, never over the size limit."""
        try:
            return read_bounded(self._path(run_id) / CHECKPOINT_FILE, MAX_CHECKPOINT_BYTES)
        except FileRefused as exc:
            raise RunNotFoundError(f"run {run_id}'s {exc}") from None

    def update(self, run_id: str, *, name: str | None = None, tags: list[str] | None = None) -> RunInfo:
        """Rename and/or retag a run, through its writer while it is being recorded.

        A run recorded in this process takes the edit into everything it writes from now on; a
        run another process is writing is refused with RunBusyError; an ended run is edited
        under its lock, so it never races with a writer.
        """
        path = self._path(run_id)
        recorder = recorder_for(path)
        if recorder is not None and recorder.edit(name=name, tags=tags):
            return self.get(run_id)
        merge_into_ended_run(path, edit_changes(name, tags), "; rename or tag it once it has ended")
        return self.get(run_id)

    def rename(self, run_id: str, name: str) -> RunInfo:
        return self.update(run_id, name=name)

    def set_tags(self, run_id: str, tags: list[str]) -> RunInfo:
        return self.update(run_id, tags=tags)

    def delete(self, run_id: str) -> None:
        """Remove one run's folder and nothing else; refused (RunBusyError) while a process records it."""
        path = self._path(run_id)
        if path.resolve().parent != self.root.resolve():
            raise RunNotFoundError(f"{run_id!r} is not inside {self.root}")
        with exclusive(path) as owned:
            if not owned:
                raise RunBusyError(f"run {run_id} is being recorded by {writer_of(path)}; stop it before deleting it")
            # Renamed away first, then emptied: a cache write still finishing (an evaluation begun before
            # the delete) finds no folder, rather than adding a file while rmtree empties it.
            doomed = path.with_name(f"{_DELETING}{path.name}-{secrets.token_hex(4)}")
            os.rename(path, doomed)
            try:
                shutil.rmtree(doomed)
            except OSError:  # put back what is left, listed and deletable again, rather than hidden for good
                with contextlib.suppress(OSError):
                    os.rename(doomed, path)
                raise


def _read_record(path: Path) -> RunRecord:
    return parse_run_record(read_bounded(path, MAX_RUN_FILE_BYTES))


def _check_metrics(path: Path) -> None:
    parse_metrics(read_bounded(path, MAX_METRICS_BYTES))


_DELETING = ".deleting-"  # a run folder being deleted: renamed out of the listing first
_STARTING_S = 5.0  # create() makes the folder, then its recorder writes run.json: a millisecond, seconds at worst


def _starting(path: Path) -> bool:
    """A folder made a moment ago whose run.json is not written yet: a run starting, left out of the listing
    rather than shown as broken (the Runs page lists on every rerun, beside a worker or a sweep's trials
    making runs). One older than that without run.json is a start cut short and is listed as unreadable."""
    try:
        if path.is_symlink() or (path / RUN_FILE).exists() or (path / RUN_FILE).is_symlink():
            return False
        return time.time() - path.stat().st_mtime < _STARTING_S
    except OSError:
        return False
