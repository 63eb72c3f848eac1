"""The dashboard's sweep: one Ray Tune experiment at a time, driven from a background thread.

Like the TrainingWorker for single runs, the page gets one SweepRunner per server (an
`st.cache_resource`), starts and stops it, and only ever reads `snapshot()`; the sweep goes on
across reloads, tabs and page switches. Ray is imported only when a sweep starts.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from resnet_mnist.jobs.background import BackgroundRunner
from resnet_mnist.jobs.cores import CoreClaim
from resnet_mnist.runs.store import RunStore
from resnet_mnist.sweeps.outcome import SweepState, TrialView
from resnet_mnist.sweeps.ray_runtime import RayConnection, connect_ray
from resnet_mnist.sweeps.spec import SweepError, SweepSpec, new_sweep_id

__all__ = ["SWEEP_HOLDS_THE_CORES", "SweepBusyError", "SweepRunner", "SweepSnapshot"]

SWEEP_HOLDS_THE_CORES = (
    "A sweep is running on this machine's cores; stop it on the Runs page (Sweep) or wait for it to end."
)

_ACTIVE = ("running", "stopping")


class SweepBusyError(RuntimeError):
    """A sweep is already running, or the Train page's run holds the cores."""


@dataclass(frozen=True)
class SweepSnapshot:
    """The sweep as it stands: trials from Tune's callback, a state for the page."""

    state: SweepState = SweepState.IDLE
    sweep_id: str | None = None
    spec: SweepSpec | None = None
    trials: tuple[TrialView, ...] = ()  # newest state
    error: str | None = None
    ray: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    version: int = 0

    @property
    def busy(self) -> bool:
        return self.state in _ACTIVE

    @property
    def best(self) -> TrialView | None:
        """The trial with the highest test accuracy so far (one that has a run), or None."""
        scored = [t for t in self.trials if t.best_accuracy is not None and t.run_id]
        return max(scored, key=lambda t: t.best_accuracy) if scored else None

    @property
    def elapsed_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.monotonic()) - self.started_at


class SweepRunner(BackgroundRunner):
    """Owns at most one sweep thread; start it, stop it, and read a snapshot of its trials."""

    def __init__(
        self,
        store: RunStore,
        *,
        data_root: str | Path | None = None,
        cores: CoreClaim | None = None,
    ) -> None:
        # `cores` is shared with the training worker: a sweep claims it before connecting to Ray
        super().__init__(cores, kind="sweep", refusal=SWEEP_HOLDS_THE_CORES, busy=SweepBusyError)
        self.store = store
        self.data_root = data_root
        self._lock = threading.Lock()
        self._snapshot = SweepSnapshot()
        self._stop = threading.Event()

    def start(self, spec: SweepSpec, *, address: str | None = None, num_cpus: int | None = None) -> str:
        """Check everything, connect to Ray, then run the sweep in the background; returns its id.

        Raises SweepError (bad spec or resources), SweepBusyError, or RayUnavailableError, each
        before any trial starts.
        """
        problems = spec.problems()
        if problems:
            raise SweepError(problems)
        if self.is_alive():
            raise SweepBusyError("A sweep is already running; stop it (or wait for it to end) before starting another.")
        holder = self._claim_cores()  # SweepBusyError while a run has them
        try:
            return self._connect_and_start(spec, address, num_cpus, holder)
        except BaseException:
            self._release_cores(holder)
            raise

    def _connect_and_start(self, spec: SweepSpec, address: str | None, num_cpus: int | None, holder: str) -> str:
        connection = connect_ray(address, num_cpus=num_cpus)
        _check_resources(spec, connection)
        sweep_id = new_sweep_id()
        with self._lock:
            if self.is_alive():
                raise SweepBusyError("A sweep is already running.")
            self._stop = threading.Event()
            self._snapshot = SweepSnapshot(
                state="running",
                sweep_id=sweep_id,
                spec=spec,
                ray=connection.describe(),
                started_at=time.monotonic(),
                version=self._snapshot.version + 1,
            )
            self._launch(partial(self._run, spec, sweep_id), holder, thread_name="resnet-mnist-sweep")
        return sweep_id

    def stop(self, timeout: float | None = None) -> bool:
        """Stop every trial (each saves itself as a stopped run); True once the sweep has ended."""
        self._stop.set()
        with self._lock:
            if self._snapshot.state == "running":
                self._snapshot = replace(self._snapshot, state="stopping", version=self._snapshot.version + 1)
        return self.join(timeout) if timeout is not None else not self.is_alive()

    def snapshot(self) -> SweepSnapshot:
        with self._lock:
            return self._snapshot

    def _run(self, spec: SweepSpec, sweep_id: str) -> None:
        from resnet_mnist.sweeps.trainable import run_sweep

        try:
            outcome = run_sweep(
                spec,
                sweep_id=sweep_id,
                runs_dir=self.store.root,
                data_root=self.data_root,
                on_update=self._on_update,
                stop_event=self._stop,
            )
        except Exception as exc:  # Ray lost, storage unwritable: the page must not show it running forever
            self._finish("failed", error=f"the sweep failed: {type(exc).__name__}: {exc}")
            return
        self._finish("stopped" if outcome.stopped else "finished", trials=outcome.trials)

    def _on_update(self, trials: tuple[TrialView, ...]) -> None:
        with self._lock:
            self._snapshot = replace(self._snapshot, trials=trials, version=self._snapshot.version + 1)

    def _finish(
        self, state: SweepState, *, trials: tuple[TrialView, ...] | None = None, error: str | None = None
    ) -> None:
        with self._lock:
            snap = self._snapshot
            self._snapshot = replace(
                snap,
                state=state,
                trials=trials if trials else snap.trials,
                error=error,
                ended_at=time.monotonic(),
                version=snap.version + 1,
            )


def _check_resources(spec: SweepSpec, connection: RayConnection) -> None:
    problems = []
    if spec.cpus_per_trial > connection.cpus:
        problems.append(f"each trial asks for {spec.cpus_per_trial:g} CPUs; {connection.describe()}")
    if spec.gpus_per_trial > connection.gpus:
        problems.append(f"each trial asks for {spec.gpus_per_trial:g} GPUs; {connection.describe()}")
    if problems:
        raise SweepError(problems)
