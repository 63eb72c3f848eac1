"""Steering a running training from another thread: stop, pause, resume, and live lr/momentum changes."""

from __future__ import annotations

import threading

__all__ = ["USER_STOP_REASON", "TrainingControl"]

USER_STOP_REASON = "stopped by the user"


class TrainingControl:
    """Thread-safe handles for steering a running training from another thread."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._lock = threading.Lock()
        self._pending: dict[str, float] = {}
        self.stop_reason = USER_STOP_REASON

    def stop(self, reason: str = "") -> None:
        """Ask the loop to end; `reason` (default: the user) is what the stopped run will say."""
        if reason and not self._stop.is_set():
            self.stop_reason = reason
        self._stop.set()
        self._running.set()  # wake a paused loop so it can see the stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def pause_requested(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self, timeout: float = 0.1) -> None:
        """Block until resumed or stopped (or `timeout` passes)."""
        self._running.wait(timeout)

    def set_hyperparams(self, lr: float | None = None, momentum: float | None = None) -> None:
        """Ask the loop to use a new lr and/or momentum from its next batch on."""
        with self._lock:
            if lr is not None:
                self._pending["lr"] = float(lr)
            if momentum is not None:
                self._pending["momentum"] = float(momentum)

    def take_hyperparams(self) -> dict[str, float]:
        """The changes asked for since the last call (and forget them)."""
        if not self._pending:  # cheap check on the hot path; a stale read only delays by a batch
            return {}
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending
