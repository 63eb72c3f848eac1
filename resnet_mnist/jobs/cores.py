"""Who trains on this machine's cores now: the Train page's run, a sweep, or a CLI command, one at a time.

Two kinds of work started from different sessions could each see the other idle and start: a
sweep spends seconds connecting to Ray before its thread runs, and a Start pressed meanwhile saw
no sweep. So each claims the cores first, under one lock, and gives them back when its thread
ends (or when it fails to start); a claim held is the refusal the other gets.

Across processes (a `python -m resnet_mnist train` beside a dashboard's job cut both to a third of
their speed) the claim is also a lock file, one per user and machine ($RESNET_MNIST_CORES_LOCK to
move it): `fcntl.flock`, which the kernel lifts when the holder's process dies however it dies, so a
crash never leaves the cores claimed. The holder writes its refusal into the file for others to read.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import IO

__all__ = ["CoreClaim", "CoresBusyError", "default_lock_path"]

_MAX_NOTE_BYTES = 4096  # what a holder writes: its refusal; more is someone else's file
LOCK_ENV = "RESNET_MNIST_CORES_LOCK"


class CoresBusyError(RuntimeError):
    """Other work holds the cores; the message says which and what to do."""


def default_lock_path() -> Path:
    """$RESNET_MNIST_CORES_LOCK, or one lock file per user in the temp folder: the cores are the machine's."""
    configured = os.environ.get(LOCK_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"resnet_mnist-cores-{os.getuid()}.lock"


class CoreClaim:
    """One holder at a time, each with the sentence that tells others why they must wait.

    With `lock_path`, other processes' claims on that file count too (see the module's docstring).
    """

    def __init__(self, lock_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._holder: str | None = None
        self._refusal = ""
        self._lock_path = lock_path
        self._file: IO[str] | None = None

    def claim(self, holder: str, refusal: str, busy: type[Exception] = CoresBusyError) -> None:
        """Take the cores for `holder`; when someone has them, raise `busy` with the holder's `refusal`
        (each caller its own error type: WorkerBusyError, SweepBusyError)."""
        with self._lock:
            if self._holder is not None:
                raise busy(self._refusal)
            if self._lock_path is not None:
                self._file = _lock_file(self._lock_path, refusal, busy)
            self._holder, self._refusal = holder, refusal

    def release(self, holder: str | None) -> None:
        """Give the cores back; only their holder can (a late release of an older claim does nothing)."""
        with self._lock:
            if holder is None or self._holder != holder:
                return
            self._holder, self._refusal = None, ""
            if self._file is not None:
                self._file.close()  # closing lifts the flock
                self._file = None

    def elsewhere(self) -> str | None:
        """Another process's refusal while it holds the lock file (never this process's own claim)."""
        with self._lock:
            if self._file is not None or self._lock_path is None:
                return None
            return other_process_holder(self._lock_path)

    @property
    def holder(self) -> str | None:
        """This process's holder, or another process's refusal sentence while it holds the lock file."""
        with self._lock:
            if self._holder is not None or self._lock_path is None:
                return self._holder
            return other_process_holder(self._lock_path)


def _lock_file(path: Path, refusal: str, busy: type[Exception]) -> IO[str]:
    """Open and flock `path` without waiting, writing `refusal` into it; `busy` with the holder's note if held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    file = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - the open file is the claim, closed on release
    try:
        _flock_now(file)
    except BlockingIOError:
        file.close()
        raise busy(_read_note(path)) from None
    except BaseException:
        file.close()
        raise
    file.seek(0)
    file.truncate()
    json.dump({"pid": os.getpid(), "since": time.time(), "refusal": refusal}, file)
    file.flush()
    return file


def _flock_now(file: IO[str], tries: int = 5) -> None:
    """flock `file` exclusively; a few quick tries, as another process's `holder` probe holds it for microseconds."""
    for attempt in range(tries):
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt == tries - 1:
                raise
            time.sleep(0.02)


def other_process_holder(path: Path) -> str | None:
    """The refusal of whoever holds the lock file now, or None when it is free (probed, not kept)."""
    try:
        with open(path, "a+", encoding="utf-8") as file:
            try:
                fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_note(path)
            return None
    except OSError:
        return None  # no folder to write a lock in: nothing can hold it either


def _read_note(path: Path) -> str:
    """The holder's refusal from the lock file, checked: anything else gives a plain sentence with no claims."""
    fallback = "Another process on this machine is training on its cores; wait for it to end."
    try:
        with open(path, "rb") as file:
            note = json.loads(file.read(_MAX_NOTE_BYTES + 1)[:_MAX_NOTE_BYTES])
        refusal, pid = note["refusal"], note["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return fallback
    if not isinstance(refusal, str) or not isinstance(pid, int) or not refusal.strip():
        return fallback
    return f"{refusal.strip()[:300]} (process {pid})"
