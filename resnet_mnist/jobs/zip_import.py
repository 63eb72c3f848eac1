"""A zip of handwriting imported in the background: the page shows its progress and can cancel it.

Decoding thousands of images takes minutes; in the page's own thread that would freeze the page and
could not be stopped. `ZipImport` runs `import_zip` in a daemon thread, keeps a snapshot of where it
is, and stops it at the next image when cancelled (before anything is added: the zip's digits go in
all together at the end, or not at all).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from resnet_mnist.handwriting.archive import ImportCancelled, import_zip
from resnet_mnist.handwriting.digits import HandwritingError

__all__ = ["ImportStatus", "ZipImport"]


@dataclass(frozen=True)
class ImportStatus:
    """Where an import is: its step ("starting", "unpacking", "decoding", "adding"), done of total; once it has
    ended, how many digits it added, or why it added none."""

    step: str = "starting"
    done: int = 0
    total: int = 0
    finished: bool = False
    added: int = 0
    error: str | None = None
    cancelled: bool = False

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


class ZipImport:
    """One import in its own thread, started at once; `status()` to follow it, `cancel()` to stop it."""

    def __init__(self, root: str | os.PathLike[str], data: bytes) -> None:
        self._root, self._data = Path(root), data
        self._cancel = threading.Event()
        self._status = ImportStatus()
        self._thread = threading.Thread(target=self._run, name="zip import", daemon=True)
        self._thread.start()

    def status(self) -> ImportStatus:
        return self._status

    def cancel(self) -> None:
        """Stop before the next image; once the digits are being added, the import completes."""
        self._cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the import to end; whether it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _progress(self, step: str, done: int, total: int) -> None:
        if self._cancel.is_set() and step != "adding":
            raise ImportCancelled("the import was cancelled")
        self._status = ImportStatus(step, done, total)

    def _run(self) -> None:
        try:
            added = import_zip(self._root, self._data, progress=self._progress)
        except ImportCancelled:
            self._status = ImportStatus(self._status.step, finished=True, cancelled=True)
        except (HandwritingError, OSError) as exc:
            self._status = ImportStatus(self._status.step, finished=True, error=str(exc))
        except Exception as exc:  # never a thread that dies silently while the page waits on it
            self._status = ImportStatus(self._status.step, finished=True, error=f"{type(exc).__name__}: {exc}")
        else:
            self._status = ImportStatus("added", added, added, finished=True, added=added)
        finally:
            self._data = b""  # the zip's bytes are not needed any more
