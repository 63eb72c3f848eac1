"""The dashboard's learning-rate range test: core/lr_find.py in a background thread, observed by snapshots.

A range test trains (a few hundred batches), so it claims the machine's cores like a run or a sweep
(cores.py): never beside them. The page only reads `snapshot()`, a frozen copy that grows one step at
a time, so it draws the curve live while the server stays free to answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from resnet_mnist.core.data import DatasetError, load_split
from resnet_mnist.core.lr_find import LrFindError, LrFindResult, LrFindSettings, LrFindStep, find_lr
from resnet_mnist.jobs.background import BackgroundRunner
from resnet_mnist.jobs.cores import CoreClaim

__all__ = ["LR_FIND_HOLDS_THE_CORES", "LrFindBusyError", "LrFindRunner", "LrFindSnapshot"]

LR_FIND_HOLDS_THE_CORES = "A learning-rate range test is using this machine's cores; it takes a few seconds."


class LrFindBusyError(RuntimeError):
    """A range test already runs, or other work holds the cores; the message says which."""


@dataclass(frozen=True)
class LrFindSnapshot:
    """The current (or last) test: its state, each ramp's (lrs, losses) so far, and its result once done."""

    state: str = "idle"  # idle, running, finished, stopped or failed
    settings: LrFindSettings | None = None
    images: int = 0
    ramps: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = ()
    result: LrFindResult | None = None
    error: str | None = None
    version: int = 0  # grows with every change

    @property
    def busy(self) -> bool:
        return self.state == "running"

    @property
    def progress(self) -> float:
        """Share of the most steps the test can take, 0..1 (it usually ends sooner, when the loss blows up)."""
        if self.settings is None or self.state != "running":
            return 1.0 if self.result is not None else 0.0
        done = sum(len(lrs) for lrs, _ in self.ramps)
        return min(done / (self.settings.steps * self.settings.repeats), 1.0)


class LrFindRunner(BackgroundRunner):
    """At most one range test at a time per server: start, stop, snapshot."""

    def __init__(self, *, data_root: str | Path | None = None, cores: CoreClaim | None = None) -> None:
        super().__init__(cores, kind="lr-find", refusal=LR_FIND_HOLDS_THE_CORES, busy=LrFindBusyError)
        self.data_root = data_root
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._snapshot = LrFindSnapshot()

    def start(self, settings: LrFindSettings, images: int) -> None:
        """Start a test on the first `images` training images; LrFindError for bad settings, LrFindBusyError
        while one runs or other work holds the cores."""
        problems = settings.problems(images)
        if problems:
            raise LrFindError("; ".join(problems))
        self._wait_out_ended_work(lambda: not self.snapshot().busy)
        with self._lock:
            if self.is_alive():
                raise LrFindBusyError("A learning-rate range test is already running; wait a few seconds for it.")
            holder = self._claim_cores()
            self._stop.clear()
            version = self._snapshot.version + 1
            self._snapshot = LrFindSnapshot(state="running", settings=settings, images=images, version=version)
            self._launch(partial(self._run, settings, images), holder, thread_name="resnet-mnist-lr-find")

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the test to stop after its current batch; True once its thread has ended."""
        self._stop.set()
        return self.join(timeout) if timeout is not None else not self.is_alive()

    def snapshot(self) -> LrFindSnapshot:
        with self._lock:
            return self._snapshot

    def _update(self, **changes: object) -> None:
        with self._lock:
            self._snapshot = replace(self._snapshot, version=self._snapshot.version + 1, **changes)

    def _run(self, settings: LrFindSettings, images: int) -> None:
        try:
            split = load_split(self.data_root, train=True, limit=images)
            result = find_lr(split, settings, emit=self._on_step, should_stop=self._stop.is_set)
        except (LrFindError, DatasetError, OSError) as exc:
            self._update(state="stopped" if self._stop.is_set() else "failed", error=" ".join(str(exc).split()))
        except Exception as exc:  # a thread must not die silently: the page says what happened
            self._update(state="failed", error=f"{type(exc).__name__}: {exc}")
        else:
            self._update(state="stopped" if result.stopped else "finished", result=result)

    def _on_step(self, step: LrFindStep) -> None:
        with self._lock:
            ramps = list(self._snapshot.ramps)
            if step.repeat >= len(ramps):
                ramps.append(((), ()))
            lrs, losses = ramps[step.repeat]
            ramps[step.repeat] = ((*lrs, step.lr), (*losses, step.loss))
            self._snapshot = replace(self._snapshot, ramps=tuple(ramps), version=self._snapshot.version + 1)
