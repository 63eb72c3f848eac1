"""Who trains on this machine's cores now: the Train page's run or a sweep, never both.

Two kinds of work started from different sessions could each see the other idle and start: a
sweep spends seconds connecting to Ray before its thread runs, and a Start pressed meanwhile saw
no sweep. So each claims the cores first, under one lock, and gives them back when its thread
ends (or when it fails to start); a claim held is the refusal the other gets.
"""

from __future__ import annotations

import threading

__all__ = ["CoreClaim", "CoresBusyError"]


class CoresBusyError(RuntimeError):
    """Other work holds the cores; the message says which and what to do."""


class CoreClaim:
    """One holder at a time, each with the sentence that tells others why they must wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: str | None = None
        self._refusal = ""

    def claim(self, holder: str, refusal: str, busy: type[Exception] = CoresBusyError) -> None:
        """Take the cores for `holder`; when someone has them, raise `busy` with the holder's `refusal`
        (each caller its own error type: WorkerBusyError, SweepBusyError)."""
        with self._lock:
            if self._holder is not None:
                raise busy(self._refusal)
            self._holder, self._refusal = holder, refusal

    def release(self, holder: str) -> None:
        """Give the cores back; only their holder can (a late release of an older claim does nothing)."""
        with self._lock:
            if self._holder == holder:
                self._holder, self._refusal = None, ""

    @property
    def holder(self) -> str | None:
        with self._lock:
            return self._holder
