"""Who is writing a run: an advisory lock file that the writer holds for the run's whole life.

`fcntl.flock` locks belong to an open file and die with the process that holds them, so a run
whose writer was killed stops being live at once (and then reads as interrupted), with no stale
lock to clean up. Anyone else takes the lock briefly, and only when the writer has let it go, to
edit or delete a run: so a run another process is writing (the CLI, another server, a Ray trial)
is never changed under it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["LOCK_FILE", "RunBusyError", "WriterLock", "exclusive", "is_live", "writer_of"]

LOCK_FILE = ".writer.lock"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class RunBusyError(RuntimeError):
    """The run is being written by another process (or thread) and cannot be changed now."""


class WriterLock:
    """Held by the process recording a run, from the folder's creation until its final state is written."""

    def __init__(self, folder: Path) -> None:
        self._fd: int | None = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise RunBusyError(f"{folder} is already being written by {writer_of(folder)}") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode())

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let go of the run (closing the file drops the lock); safe to call twice."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:  # a recorder dropped without a final state must not keep its run live
        self.release()


def is_live(folder: Path) -> bool:
    """Whether some process holds the run's writer lock right now."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return False  # no lock file: written by an older version, or never started
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock taken to look
    return False


def writer_of(folder: Path) -> str:
    """'pid 123 on host', as the writer wrote it into the lock file; 'another process' if unknown."""
    try:
        with open(folder / LOCK_FILE, encoding="utf-8", errors="replace") as handle:
            return handle.read(200).strip() or "another process"
    except OSError:
        return "another process"


@contextlib.contextmanager
def exclusive(folder: Path, *, attempts: int = 40, pause: float = 0.025) -> Iterator[bool]:
    """Hold the run's lock for a short edit; yields False when its writer is still at work.

    A few quick retries ride out other readers' momentary looks (`is_live`), never a writer.
    """
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
    try:
        for attempt in range(attempts):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == attempts - 1:
                    yield False
                    return
                time.sleep(pause)
        yield True
    finally:
        os.close(fd)
