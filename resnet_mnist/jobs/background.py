"""One background thread at a time that holds the machine's cores while it runs.

The training worker and the sweep runner are both this: each claims the shared cores (cores.py)
before its work starts, so a run and a sweep never train at once, runs the work in a daemon thread
(the page only reads snapshots), and gives the cores back when that thread ends, however it ends.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from resnet_mnist.jobs.cores import CoreClaim

__all__ = ["ENDING_WAIT_S", "BackgroundRunner"]

ENDING_WAIT_S = 10.0  # how long a start waits for an ended piece of work's thread (it needs milliseconds)


class BackgroundRunner:
    """Claims the cores, starts the work's thread, releases the claim when it ends; join and is_alive.

    `kind` names each claim ("training job 3"); `refusal` is what other work is told while this holds
    the cores, and `busy` the error this raises when other work holds them.
    """

    def __init__(self, cores: CoreClaim | None, *, kind: str, refusal: str, busy: type[Exception]) -> None:
        self.cores = cores  # shared between the worker and the sweep runner; None: claim nothing
        self._kind, self._refusal, self._busy = kind, refusal, busy
        self._numbers = itertools.count(1)
        self._numbers_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _claim_cores(self) -> str:
        """Claim the cores for the next piece of work (`busy` while other work has them); the holder's name."""
        with self._numbers_lock:
            holder = f"{self._kind} {next(self._numbers)}"
        if self.cores is not None:
            self.cores.claim(holder, self._refusal, busy=self._busy)
        return holder

    def _release_cores(self, holder: str | None) -> None:
        """Give the cores back (work that failed to start, or whose thread ended)."""
        if self.cores is not None:
            self.cores.release(holder)

    def _launch(self, work: Callable[[], None], holder: str | None, *, thread_name: str) -> None:
        """Run `work` in a new daemon thread that releases `holder`'s claim when it ends, however it ends."""

        def run_then_release() -> None:
            try:
                work()
            finally:
                self._release_cores(holder)

        self._thread = threading.Thread(target=run_then_release, name=thread_name, daemon=True)
        try:
            self._thread.start()
        except BaseException:  # no thread (the system's limit): nothing would ever release the claim
            self._release_cores(holder)
            raise

    def _wait_out_ended_work(self, ended: Callable[[], bool], within: float = ENDING_WAIT_S) -> None:
        """Wait for the thread of work whose end already shows (`ended`), so a start made then is taken.

        The work publishes its end (from inside its thread, or a sweep's process), and its thread still
        closes up and gives back the cores after that. A page offers Start the moment the end shows, and
        that start must not be refused as busy. Work that goes on (a seed group's next run) stops showing
        an end, which ends the wait.
        """
        deadline = time.monotonic() + within
        while self.is_alive() and ended() and time.monotonic() < deadline:
            self.join(0.01)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread (at most `timeout` seconds); True once it has ended, or when none ran."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.is_alive()

    def is_alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()
