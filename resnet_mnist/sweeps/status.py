"""A sweep's folder on disk: what was asked (request.json) and how it stands (status.json).

A sweep runs in its own process (process.py), which owns Ray's driver and is the one writer of its
status.json; the dashboard and anyone else only read it, validated here, so a sweep outlives the
server that started it and a server restarted meanwhile follows it again. Ray-free.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from resnet_mnist.core.files import FileRefused, atomic_write_bytes, read_bounded
from resnet_mnist.runs.schema import SchemaError, dumps_json, parse_json
from resnet_mnist.sweeps.outcome import SweepState, TrialView
from resnet_mnist.sweeps.spec import SweepSpec, is_sweep_id

__all__ = [
    "LOG_FILE",
    "REQUEST_FILE",
    "STATUS_FILE",
    "SWEEPS_DIR",
    "StatusWriter",
    "SweepRequest",
    "SweepStatus",
    "last_request",
    "move_to_its_id",
    "read_request",
    "read_status",
    "sweep_folder",
    "sweep_folders",
    "write_request",
]

SWEEPS_DIR = ".sweeps"  # inside the runs folder; RunStore lists only run ids, so it never shows as a run
REQUEST_FILE = "request.json"
STATUS_FILE = "status.json"
LOG_FILE = "sweep.log"
_MAX_REQUEST_BYTES = 1_000_000
_MAX_STATUS_BYTES = 16_000_000  # 1,000 trials at most (spec.MAX_TRIALS), each well under 16 KB


@dataclass(frozen=True)
class SweepRequest:
    """What the dashboard (or a person) asked the sweep's process to do."""

    sweep_id: str
    spec: dict[str, Any]  # SweepSpec.to_dict(); read back through SweepSpec.from_dict
    runs_dir: str
    data_root: str | None = None
    address: str = ""  # "" for a local Ray of the process's own
    num_cpus: int | None = None

    def sweep_spec(self) -> SweepSpec:
        return SweepSpec.from_dict(self.spec)


@dataclass(frozen=True)
class SweepStatus:
    """The sweep as its process last wrote it; `pid` is that process, times are wall-clock seconds."""

    sweep_id: str
    pid: int
    state: SweepState = SweepState.RUNNING
    started_at: float = 0.0
    ended_at: float | None = None
    ray: str = ""
    error: str | None = None
    trials: tuple[TrialView, ...] = field(default=())


def sweep_folder(runs_dir: str | Path, sweep_id: str) -> Path:
    return Path(runs_dir) / SWEEPS_DIR / sweep_id


def sweep_folders(runs_dir: str | Path) -> list[Path]:
    """Every sweep's folder, newest first (sweep ids sort by time); links are never followed."""
    root = Path(runs_dir) / SWEEPS_DIR
    if not root.is_dir() or root.is_symlink():
        return []
    return sorted((p for p in root.iterdir() if p.is_dir() and not p.is_symlink()), reverse=True)


def write_request(folder: Path, request: SweepRequest) -> None:
    atomic_write_bytes(folder / REQUEST_FILE, dumps_json(request).encode())


def read_request(folder: Path) -> SweepRequest:
    """request.json, validated (FileRefused/SchemaError name the problem); its spec is checked too."""
    request = parse_json(SweepRequest, read_bounded(folder / REQUEST_FILE, _MAX_REQUEST_BYTES), REQUEST_FILE)
    if not is_sweep_id(request.sweep_id):  # it names a folder: nothing but what new_sweep_id makes
        raise SchemaError(REQUEST_FILE, "sweep_id", f"is not a sweep id (got {request.sweep_id[:80]!r})")
    request.sweep_spec()
    return request


def last_request(runs_dir: str | Path, look_at: int = 20) -> SweepRequest | None:
    """The newest sweep's request that reads, among the newest `look_at` folders (a damaged one is passed
    over, a standby's folder has none); None when there is none."""
    for folder in sweep_folders(runs_dir)[:look_at]:
        if (folder / REQUEST_FILE).is_file():
            try:
                return read_request(folder)
            except FileRefused:
                continue
    return None


def move_to_its_id(folder: Path, request: SweepRequest) -> Path:
    """The folder renamed after its request's sweep id (a standby's folder was named before the sweep had a
    name); the folder itself when they agree already. Only the sweep's own process calls this."""
    target = folder.parent / request.sweep_id
    if target == folder:
        return folder
    folder.rename(target)  # same parent, an id unique by its time and token: an atomic rename
    return target


def read_status(folder: Path) -> SweepStatus | None:
    """status.json as its process wrote it, or None when there is none yet; FileRefused when it is damaged."""
    path = folder / STATUS_FILE
    if not path.exists() and not path.is_symlink():
        return None
    return parse_json(SweepStatus, read_bounded(path, _MAX_STATUS_BYTES), STATUS_FILE)


class StatusWriter:
    """The one writer of a sweep's status.json: the sweep's own process."""

    def __init__(self, folder: Path, sweep_id: str) -> None:
        self.folder = folder
        self.status = SweepStatus(sweep_id=sweep_id, pid=os.getpid(), started_at=time.time())
        self._write()

    def update(self, **changes: Any) -> None:
        self.status = replace(self.status, **changes)
        self._write()

    def finish(self, state: SweepState, *, error: str | None = None, trials: tuple[TrialView, ...] = ()) -> None:
        self.update(state=state, error=error, trials=trials or self.status.trials, ended_at=time.time())

    def _write(self) -> None:
        atomic_write_bytes(self.folder / STATUS_FILE, dumps_json(self.status).encode())
