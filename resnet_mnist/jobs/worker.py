"""The background training thread behind the dashboard: one job at a time, steerable, observable.

Sweeps do not come here: each runs as a process of its own (sweeps/process.py), followed by jobs/sweep_runner.py.

The thread runs a job (job.py: a plain run or a fine-tune, the same to the worker) and records
each event into a lock-protected state; the UI only ever reads `snapshot()`, a frozen copy, so the
training loop never waits on the page.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

from resnet_mnist.core.config import ConfigError, TrainConfig
from resnet_mnist.core.devices import resolve_device
from resnet_mnist.core.engine import TrainingControl
from resnet_mnist.core.events import (
    BatchLogged,
    EpochCompleted,
    EvaluationStarted,
    Event,
    HyperparamsChanged,
    Measuring,
    RunState,
    StateChanged,
    fan_out,
)
from resnet_mnist.jobs.background import BackgroundRunner
from resnet_mnist.jobs.cores import CoreClaim
from resnet_mnist.jobs.job import Job, TrainingJob, as_job
from resnet_mnist.runs.groups import new_group_id
from resnet_mnist.runs.store import RunStore

__all__ = [
    "TRAINING_HOLDS_THE_CORES",
    "TrainingWorker",
    "WorkerBusyError",
    "WorkerIdleError",
    "WorkerSnapshot",
]

TRAINING_HOLDS_THE_CORES = (
    "A training run from the Train page is using this machine's cores; stop it or wait for it to end."
)


class WorkerBusyError(RuntimeError):
    """A job is already running; one at a time per server."""


class WorkerIdleError(RuntimeError):
    """A command for the running job (pause, resume, new lr) came when no job runs."""


@dataclass(frozen=True)
class WorkerSnapshot:
    """A consistent, immutable view of the worker at one moment."""

    state: RunState = RunState.IDLE
    reason: str | None = None
    run_id: str | None = None
    run_dir: Path | None = None
    config: TrainConfig | None = None
    about: str | None = None  # the job's own line beyond its settings (Job.describe: a fine-tune's parent)
    outcome: object = None  # what the job returned once done (Job.execute: a fine-tune's TeachReport), else None
    batches: tuple[BatchLogged, ...] = ()
    epochs: tuple[EpochCompleted, ...] = ()
    hparam_changes: tuple[HyperparamsChanged, ...] = ()
    epoch: int = 0
    batch: int = 0
    batches_per_epoch: int = 0
    step: int = 0  # optimizer steps so far; once failed, the step it failed at
    evaluating: bool = False
    measuring: Measuring | None = None  # after the last epoch, what the job measures now (a fine-tune's folds)
    images_per_second: float | None = None
    lr: float | None = None
    momentum: float | None = None
    started_at: float | None = None
    ended_at: float | None = None  # time.monotonic() when the last job reached a final state
    paused_seconds: float = 0.0  # time spent paused, left out of the pace and ETA
    paused_since: float | None = None
    version: int = 0  # grows with every change; equal versions mean equal snapshots

    @property
    def busy(self) -> bool:
        return self.state in (RunState.RUNNING, RunState.PAUSED)

    @property
    def loading(self) -> bool:
        """Running but no batch trained yet: the data is being read into memory."""
        return self.state is RunState.RUNNING and self.epoch == 0

    @property
    def elapsed_seconds(self) -> float | None:
        """Seconds the current (or last) job has been training, pauses left out."""
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else time.monotonic()
        paused = self.paused_seconds + (end - self.paused_since if self.paused_since is not None else 0.0)
        return max(end - self.started_at - paused, 0.0)

    @property
    def epoch_progress(self) -> float:
        """Fraction of the current epoch's batches done, 0..1."""
        return min(self.batch / self.batches_per_epoch, 1.0) if self.batches_per_epoch else 0.0

    @property
    def run_progress(self) -> float:
        """Fraction of the whole run done, 0..1."""
        if self.state is RunState.FINISHED:
            return 1.0
        if not self.config or not self.epoch:
            return 0.0
        return min((self.epoch - 1 + self.epoch_progress) / self.config.epochs, 1.0)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left in the run at the current pace; None before it can be told, and while paused."""
        elapsed = self.elapsed_seconds
        if self.state is not RunState.RUNNING or elapsed is None or self.run_progress <= 0.01:
            return None
        return elapsed * (1 - self.run_progress) / self.run_progress


@dataclass
class _Live:
    """The worker's mutable state; only touched under the worker's lock."""

    snapshot: WorkerSnapshot = field(default_factory=WorkerSnapshot)
    batches: list[BatchLogged] = field(default_factory=list)
    epochs: list[EpochCompleted] = field(default_factory=list)
    hparam_changes: list[HyperparamsChanged] = field(default_factory=list)


class TrainingWorker(BackgroundRunner):
    """Owns at most one training thread; start, stop, pause, resume, retune and observe it."""

    def __init__(
        self,
        store: RunStore,
        *,
        data_root: str | Path | None = None,
        cores: CoreClaim | None = None,
    ) -> None:
        # `cores` is shared with the sweep runner: a job claims it before it starts
        super().__init__(cores, kind="training job", refusal=TRAINING_HOLDS_THE_CORES, busy=WorkerBusyError)
        self.store = store
        self.data_root = data_root
        self._lock = threading.Lock()
        self._live = _Live()
        self._control = TrainingControl()  # the current job's; each job gets a fresh one
        self._cancelled = threading.Event()  # Stop pressed before the job's training began
        self._last_snapshot = WorkerSnapshot()

    # -- commands ---------------------------------------------------------------------------

    def start(self, work: Job | TrainConfig, *, name: str = "") -> None:
        """Start one job; refused while one runs, or while other work (a sweep) holds the `cores`.

        This is where a job enters: it is validated here, once, and its device resolved in its thread.
        A job is any `Job` (a fine-tune: resnet_mnist.handwriting.teach.TeachJob), or a TrainConfig, run
        as a plain TrainingJob on MNIST; `name` names its run (default: the job's own name).
        """
        job = as_job(work, name=name, data_root=self.data_root)
        job.validate()  # each job checks against its own data's sizes
        self._start_jobs([job], name)

    def start_group(self, config: TrainConfig, seeds: Sequence[int], *, name: str = "") -> str:
        """Train `config` once per seed, one run after another, as one seed group; returns the group's id.

        One job to the page: Stop ends the group (the runs done so far stay); a run that fails does not.
        """
        group = new_group_id()
        label = name or group
        jobs = [
            TrainingJob(
                config.with_changes(seed=seed),
                name=f"{label} · seed {seed}",
                data_root=self.data_root,
                group=group,
                place=f"{index} of {len(seeds)}",
            )
            for index, seed in enumerate(seeds, start=1)
        ]
        for job in jobs:
            job.validate()
        self._start_jobs(jobs, "")
        return group

    def _start_jobs(self, jobs: Sequence[Job], name: str) -> None:
        """Claim the cores and run `jobs` in one thread, in order, each its own run."""
        config = jobs[0].config
        job = jobs[0]
        self._wait_out_ended_work(lambda: self.snapshot().state.is_final)
        with self._lock:
            if self.is_alive():
                raise WorkerBusyError(
                    "A training job is already running; stop it (or wait for it to finish) before starting another."
                )
            holder = self._claim_cores()
            self._cancelled.clear()
            self._live = _Live(self._live.snapshot)
            self._publish(
                WorkerSnapshot(
                    state=RunState.RUNNING,
                    config=config,
                    about=job.describe(),
                    started_at=time.monotonic(),
                    lr=config.lr,
                    momentum=config.momentum,
                )
            )
            self._launch(partial(self._run_jobs, jobs, name), holder, thread_name="resnet-mnist-training")

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the running job; True once the thread has ended. Idle: nothing to do."""
        self._cancelled.set()
        with self._lock:
            control = self._control
        control.stop()
        return self.join(timeout) if timeout is not None else not self.is_alive()

    def pause(self) -> None:
        """Pause the running job at its next batch; WorkerIdleError when none runs."""
        self._running_control().pause()

    def resume(self) -> None:
        """Resume a paused job; WorkerIdleError when none runs."""
        self._running_control().resume()

    @property
    def pause_requested(self) -> bool:
        """A pause was asked for (the loop may not have reached its next batch yet)."""
        control = self._control
        return self.is_alive() and control.pause_requested and not control.stop_requested

    def set_hyperparams(self, lr: float | None = None, momentum: float | None = None) -> None:
        """Change lr/momentum of the running job from its next batch on; validated like a config."""
        control = self._running_control()
        base = self.snapshot().config or TrainConfig()
        candidate = base.with_changes(**{k: v for k, v in (("lr", lr), ("momentum", momentum)) if v is not None})
        problems = [p for p in candidate.problems() if p.field in ("lr", "momentum")]
        if problems:
            raise ConfigError(problems)
        control.set_hyperparams(lr=lr, momentum=momentum)

    def _running_control(self) -> TrainingControl:
        with self._lock:
            if not self.is_alive():
                raise WorkerIdleError("no training job is running")
            return self._control

    def snapshot(self) -> WorkerSnapshot:
        """A frozen copy of the state and metrics, safe to read from any thread; the same object until it changes."""
        with self._lock:
            live = self._live
            if self._last_snapshot.version != live.snapshot.version:  # copy the metrics only when they changed
                self._last_snapshot = replace(
                    live.snapshot,
                    batches=tuple(live.batches),
                    epochs=tuple(live.epochs),
                    hparam_changes=tuple(live.hparam_changes),
                )
            return self._last_snapshot

    def _publish(self, snapshot: WorkerSnapshot) -> None:
        """Make `snapshot` the current state, one version on; the lock must be held."""
        self._live.snapshot = replace(snapshot, version=self._live.snapshot.version + 1)

    # -- the thread -----------------------------------------------------------------------

    def _run_jobs(self, jobs: Sequence[Job], name: str) -> None:
        for job in jobs:
            if self._cancelled.is_set() and job is not jobs[0]:  # Stop ends a seed group; the first says so
                return
            self._run_job(job, name or job.name)

    def _run_job(self, job: Job, name: str) -> None:
        config = job.config
        control = self._fresh_control()
        if control is None:  # stopped before it began
            self._on_event(StateChanged(RunState.STOPPED, "stopped by the user"))
            return
        try:
            device = resolve_device(config.device)  # once per job: for the run's record and for training
            recorder = self.store.create(config, device=str(device), name=name, extra=job.run_fields())
        except Exception as exc:
            self._on_event(StateChanged(RunState.FAILED, f"could not create the run folder: {exc}"))
            return
        self._begin_job(job, recorder.run_id, recorder.path)
        try:
            listener = fan_out(recorder, self._on_event)
            outcome = job.execute(listener, control=control, annotate=recorder.annotate, device=device)
        except Exception as exc:  # the recorder could not write (disk full, run folder removed)
            # The recorder hears each event first, so when it fails the run's end never reached
            # the snapshot: say so here, or the page would show a dead job as running forever.
            self._on_event(StateChanged(RunState.FAILED, f"could not save the run in {recorder.path}: {exc}"))
            recorder.close()  # give up the run: it then reads as interrupted, and can be deleted
            return
        with self._lock:  # after its final state: a fine-tune measures the new model once training ends
            self._publish(replace(self._live.snapshot, outcome=outcome))

    def _fresh_control(self) -> TrainingControl | None:
        """A new control for the job, so nothing asked during one job reaches the next; None once stopped."""
        with self._lock:
            if self._cancelled.is_set():
                return None
            self._control = TrainingControl()
            return self._control

    def _begin_job(self, job: Job, run_id: str, run_dir: Path) -> None:
        """A fresh live state for the job: its run, config and clock."""
        config = job.config
        with self._lock:
            self._live = _Live(self._live.snapshot)
            self._publish(
                replace(
                    self._live.snapshot,
                    state=RunState.RUNNING,
                    reason=None,
                    run_id=run_id,
                    run_dir=run_dir,
                    config=config,
                    about=job.describe(),
                    outcome=None,
                    epoch=0,
                    batch=0,
                    batches_per_epoch=0,
                    step=0,
                    evaluating=False,
                    images_per_second=None,
                    lr=config.lr,
                    momentum=config.momentum,
                    started_at=time.monotonic(),
                    ended_at=None,
                    paused_seconds=0.0,
                    paused_since=None,
                )
            )

    def _on_event(self, event: Event) -> None:
        with self._lock:
            live = self._live
            snap = live.snapshot
            if isinstance(event, BatchLogged):
                live.batches.append(event)
                snap = replace(
                    snap,
                    epoch=event.epoch,
                    batch=event.batch,
                    batches_per_epoch=event.batches_per_epoch,
                    step=event.step,
                    images_per_second=event.images_per_second,
                    evaluating=False,
                )
            elif isinstance(event, EvaluationStarted):
                snap = replace(snap, evaluating=True)
            elif isinstance(event, EpochCompleted):
                live.epochs.append(replace(event, model_state=None, momentum_state=None))
                snap = replace(snap, evaluating=False)
            elif isinstance(event, HyperparamsChanged):
                live.hparam_changes.append(event)
                snap = replace(snap, lr=event.lr, momentum=event.momentum)
            elif isinstance(event, Measuring):
                snap = replace(snap, measuring=event, evaluating=False)
            elif isinstance(event, StateChanged):
                now = time.monotonic()
                if snap.paused_since is not None and event.state is not RunState.PAUSED:
                    snap = replace(
                        snap, paused_seconds=snap.paused_seconds + now - snap.paused_since, paused_since=None
                    )
                if event.state is RunState.PAUSED and snap.paused_since is None:
                    snap = replace(snap, paused_since=now)
                snap = replace(
                    snap,
                    state=event.state,
                    reason=event.reason,
                    evaluating=False,
                    ended_at=now if event.state.is_final else None,
                    measuring=None if event.state.is_final else snap.measuring,
                    step=max(snap.step, event.step),  # a failure reports the step it failed at
                )
            self._publish(snap)
