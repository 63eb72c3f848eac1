"""Files on disk: written whole or not at all, read only when they are real files of a bounded size."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["FileRefused", "atomic_write_bytes", "read_bounded", "write_cache_file"]


class FileRefused(ValueError):
    """A file that is not read, or not usable: `source` names it, `problem` says why in plain words."""

    def __init__(self, source: str, problem: str) -> None:
        self.source, self.problem = source, problem
        super().__init__(f"{source}: {problem}")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_then_rename(path, data)


def write_cache_file(path: Path, data: bytes) -> bool:
    """Write a cache file whole into its folder (a run's), which it never creates; False if the folder is gone.

    A cache is computed for seconds: a run deleted meanwhile stays deleted, not brought back as a folder
    holding only a cache (the Runs page listed that as a broken run).
    """
    try:
        _write_then_rename(path, data)
    except FileNotFoundError:  # the folder went before the write, or during it (a delete renames it away)
        return False
    return True


def _write_then_rename(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_bounded(path: Path, limit: int) -> bytes:
    """A file's bytes, refusing symbolic links and anything over `limit` bytes before reading it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if path.is_symlink():
            raise FileRefused(path.name, "is a symbolic link; only real files in the run folder are read") from None
        raise FileRefused(path.name, f"cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > limit:
            raise FileRefused(path.name, f"is {size:,} bytes; files over {limit:,} bytes are not read")
        return handle.read(limit + 1)[:limit]
