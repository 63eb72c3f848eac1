"""A SweepSpec run as a Ray Tune experiment; every trial an ordinary run in the runs folder.

The trial is a thin adapter (`RunTrial`): it trains with the engine's `run_training`, records
through a RunStore's RunRecorder (so the Runs page, Compare, Evaluate, Draw and the CLI see it
like any run, live), and hands each epoch's results to Tune. It is a class trainable rather than
a function so that, when Tune stops it (ASHA, or Stop sweep), `cleanup` can let the run save
itself as stopped, with its checkpoint, before the actor goes away, and so that Tune can reuse an
actor for the next trial (`reset_config`): a trial after the first starts in a fraction of a second,
with torch imported and MNIST parsed (core/data.py's per-process cache) by the trial before it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import BasicVariantGenerator

from resnet_mnist.core.engine import TrainingControl, TrainingOutcome, run_training
from resnet_mnist.core.events import EpochCompleted, Event, RunState, fan_out
from resnet_mnist.runs.store import RunRecorder, RunStore
from resnet_mnist.sweeps.outcome import SweepOutcome, TrialView
from resnet_mnist.sweeps.spec import METRIC, SweepSpec
from resnet_mnist.sweeps.standby import WARM_MARKS_ENV_VAR
from resnet_mnist.sweeps.stop_flag import StopFlag

__all__ = ["RunTrial", "prepare", "run_sweep"]

USER_STOP = "stopped with the sweep (Stop sweep)"
# Tune looks for its own result files, which we do not write (the runs folder holds the results).
logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
_POLL_S = 0.5
# Tune gives each trial's actor the variable PL_DISABLE_FORK (for PyTorch Lightning, not used here). A
# runtime env of its own makes Ray start a fresh worker process for every actor rather than take one it
# started and warmed up ahead (warm_worker.py): seconds per trial. Best effort: Tune's internals may move.
with contextlib.suppress(Exception):
    from ray.tune.execution import class_cache as _tune_class_cache

    _tune_class_cache.DEFAULT_ENV_VARS.pop("PL_DISABLE_FORK", None)


_spare_flag: Any = None  # made by prepare() ahead of a sweep; the next run_sweep takes it


def prepare(timeout: float = 300.0) -> None:
    """Get this process's Ray ready for a sweep before it is asked for (a standby sweep process).

    The next sweep's stop flag is made now, and this waits (at most `timeout` s) until the workers Ray
    started ahead on this node (one per CPU; other nodes start theirs on demand) have warmed up
    (warm_worker.py marks each).
    """
    global _spare_flag
    deadline = time.monotonic() + timeout
    flag = StopFlag.remote()
    ray.get(flag.is_set.remote(), timeout=timeout)
    _spare_flag = flag
    marks = os.environ.get(WARM_MARKS_ENV_VAR)
    here = ray.get_runtime_context().get_node_id()
    expected = int(sum(n["Resources"].get("CPU", 0) for n in ray.nodes() if n["NodeID"] == here and n["Alive"]))
    while marks and time.monotonic() < deadline and _warm_workers_alive(marks) < expected:
        time.sleep(0.1)


def _warm_workers_alive(marks: str) -> int:
    """How many workers of this machine left their mark and still run (an earlier Ray's have gone)."""
    return sum(Path(f"/proc/{pid}").exists() for pid in os.listdir(marks))


def _take_flag() -> Any:
    global _spare_flag
    flag, _spare_flag = _spare_flag, None
    return flag if flag is not None else StopFlag.remote()


@dataclass(frozen=True)
class _TrialContext:
    """What every trial needs besides its drawn values; plain and picklable."""

    spec: SweepSpec
    sweep_id: str
    runs_dir: str
    data_root: str | None
    stop_flag: Any  # an actor handle of stop_flag.StopFlag


@dataclass
class _Ended:
    outcome: TrainingOutcome | None
    error: str | None = None
    run_id: str | None = None


class RunTrial(tune.Trainable):
    """One trial: run_training in a thread, one Tune step per epoch, the run recorded as usual."""

    def setup(self, config: dict[str, Any], context: _TrialContext) -> None:
        self._context = context
        self._train_config = context.spec.trial_config(config)
        torch.set_num_threads(max(1, int(context.spec.cpus_per_trial)))
        self._node = f"{ray.util.get_node_ip_address()} {ray.get_runtime_context().get_node_id()}"
        self._recorder: RunRecorder | None = None  # the run folder is made when training starts
        self._control = TrainingControl()
        self._results: queue.Queue[dict[str, Any] | _Ended] = queue.Queue()
        self._resume = threading.Semaphore(0)
        self._last: dict[str, Any] = {METRIC: 0.0, "epoch": 0}
        self._started = False
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._train, name="resnet-mnist-trial", daemon=True)
        self._watcher = threading.Thread(target=self._watch_stop_flag, name="resnet-mnist-trial-stop", daemon=True)

    def _create_run(self) -> RunRecorder:
        label = self._context.spec.name or self._context.sweep_id
        return RunStore(Path(self._context.runs_dir)).create(
            self._train_config,
            device=self._train_config.device,
            name=f"{label} · {self.trial_id}",
            sweep=self._context.sweep_id,
            node=self._node,
        )

    def _train(self) -> None:
        try:
            self._recorder = self._create_run()
            outcome = run_training(
                self._train_config,
                fan_out(self._recorder, self._on_event),
                control=self._control,
                data_root=self._context.data_root,
            )
            self._results.put(_Ended(outcome, run_id=self._recorder.run_id))
        except Exception as exc:  # an invalid drawn config, or the recorder could not write
            if self._recorder is not None:
                self._recorder.close()  # give the run up: it reads as interrupted, not live, in a reused actor
            self._results.put(_Ended(None, f"{type(exc).__name__}: {exc}"))
        finally:
            self._ended.set()

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, EpochCompleted):
            return
        last = event.epoch == self._train_config.epochs
        assert self._recorder is not None  # made before training
        self._results.put(
            {
                METRIC: event.test_accuracy,
                "test_loss": event.test_loss,
                "train_loss": event.train_loss,
                "epoch": event.epoch,
                "run_id": self._recorder.run_id,
                "node": self._node,
                "done": last,
            }
        )
        if not last:
            # Wait, as Tune's function API does, until Tune asks for the next epoch or stops the trial:
            # a trial ASHA stops keeps exactly the weights of the epoch it was judged on.
            self._resume.acquire()

    def _watch_stop_flag(self) -> None:
        while not self._ended.wait(_POLL_S):
            try:
                stop = ray.get(self._context.stop_flag.is_set.remote(), timeout=10)
            except Exception:  # the driver is gone: Tune will stop this trial anyway
                stop = False
            if stop:
                self._stop(USER_STOP)
                return

    def _stop(self, reason: str) -> None:
        self._control.stop(reason)
        self._resume.release()

    def step(self) -> dict[str, Any]:
        if not self._started:
            self._started = True
            self._thread.start()
            self._watcher.start()
        else:
            self._resume.release()
        item = self._results.get()
        if isinstance(item, dict):
            self._last = item
            return item
        if item.outcome is None:
            raise RuntimeError(f"the trial could not run: {item.error}")
        if item.outcome.state is RunState.FAILED:
            raise RuntimeError(f"run {item.run_id} failed: {item.outcome.reason}")
        return {**self._last, "run_id": item.run_id, "node": self._node, "done": True}

    def save_checkpoint(self, checkpoint_dir: str) -> dict[str, Any]:
        """Tune's own checkpoint holds only the run id: the weights are in the run folder's checkpoint.pt."""
        return {"run_id": self._recorder.run_id if self._recorder else None}

    def load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Trials are never restored from Tune's checkpoints (a stopped run is final, as on the Train page)."""

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        """Take the next trial in this actor (Tune reuses actors): end the last one as `cleanup` would,
        then set up afresh. A reused actor keeps its imports and its parsed MNIST: seconds per trial."""
        self.cleanup()
        RunTrial.setup(self, new_config, self._context)  # ours, not with_parameters' wrapper (it adds the context)
        return True

    def cleanup(self) -> None:
        if self._thread.is_alive() and not self._last.get("done"):
            # Tune stopped the trial between two epochs: ASHA judged it, or the sweep was stopped.
            epoch = self._last["epoch"]
            scheduler = "ASHA" if self._context.spec.scheduler == "asha" else "Ray Tune"
            asked = False
            with contextlib.suppress(Exception):  # the flag is set before Tune stops trials for Stop sweep
                asked = ray.get(self._context.stop_flag.is_set.remote(), timeout=10)
            self._stop(USER_STOP if asked else f"stopped early by {scheduler} at epoch {epoch}")
        # A trial's last epoch reaches Tune before its run has written its end: let it finish, so
        # neither the actor's end nor the next trial in this actor (reset_config) cuts that short.
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        self._ended.set()
        if self._watcher.is_alive():
            self._watcher.join(timeout=2 * _POLL_S + 10)


class _TrialWatcher(tune.Callback):
    """Keeps a copy of every trial's state for whoever watches the sweep (a page, the CLI)."""

    def __init__(self, on_update: Callable[[tuple[TrialView, ...]], None] | None = None) -> None:
        self.on_update = on_update
        self._best: dict[str, float] = {}
        self.views: tuple[TrialView, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        # The Tuner pickles its callbacks for a resume we never do; the page's listener stays here.
        return {**self.__dict__, "on_update": None}

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info: Any) -> None:
        accuracy = result.get(METRIC)
        if accuracy is not None and result.get("epoch", 0) > 0:
            self._best[trial.trial_id] = max(self._best.get(trial.trial_id, 0.0), float(accuracy))

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self._publish(trials)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._publish(trials)

    def _publish(self, trials: list) -> None:
        views = tuple(self._view(t) for t in trials)
        if views != self.views:
            self.views = views
            if self.on_update is not None:
                self.on_update(views)

    def _view(self, trial) -> TrialView:
        result = trial.last_result or {}
        error = None
        if trial.status == "ERROR":
            error = _last_line(trial.error_file)
        return TrialView(
            trial_id=trial.trial_id,
            status=str(trial.status),
            values={k: v for k, v in (trial.config or {}).items()},
            run_id=result.get("run_id"),
            epoch=int(result.get("epoch") or 0),
            test_accuracy=result.get(METRIC) if result.get("epoch") else None,
            best_accuracy=self._best.get(trial.trial_id),
            node=str(result.get("node") or ""),
            error=error,
        )


class _StopWhenAsked(tune.Stopper):
    def __init__(self, event: threading.Event, flag: Any) -> None:
        self._event = event
        self._flag = flag
        self._flag_set = False

    def __getstate__(self) -> dict[str, Any]:
        return {}  # see _TrialWatcher.__getstate__

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._event, self._flag, self._flag_set = threading.Event(), None, False

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        if self._event.is_set() and not self._flag_set:
            # Set the trials' flag before Tune stops them, so each saves "stopped with the sweep".
            with contextlib.suppress(Exception):
                ray.get(self._flag.set.remote(), timeout=10)
            self._flag_set = True
        return self._event.is_set()


def _last_line(path: str | None) -> str:
    """The last meaningful line of a Tune error file: the exception's message (a traceback ends with it)."""
    if not path:
        return "the trial failed"
    try:
        lines = [line.strip() for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "the trial failed"
    return lines[-1][:500] if lines else "the trial failed"


def param_space(spec: SweepSpec) -> dict[str, Any]:
    """The spec's space in Tune's terms; nothing enumerated (grid_search keeps the lists as they are)."""
    space: dict[str, Any] = {}
    for name, axis in spec.space.items():
        if spec.search == "grid":
            space[name] = tune.grid_search(list(axis.values))
        elif not axis.is_range:
            space[name] = tune.choice(list(axis.values))
        elif isinstance(axis.low, int) and isinstance(axis.high, int):
            space[name] = (tune.lograndint if axis.log else tune.randint)(axis.low, axis.high + 1)
        else:
            space[name] = (tune.loguniform if axis.log else tune.uniform)(float(axis.low), float(axis.high))
    return space


def _search_and_scheduler(spec: SweepSpec) -> tuple[Any, Any]:
    if spec.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        search = OptunaSearch(seed=spec.seed)
    else:
        search = BasicVariantGenerator(random_state=spec.seed)
    if spec.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="epoch",
            max_t=spec.max_epochs,
            grace_period=min(spec.grace_period, spec.max_epochs),
            reduction_factor=spec.reduction_factor,
        )
    else:
        scheduler = FIFOScheduler()
    return search, scheduler


def run_sweep(
    spec: SweepSpec,
    *,
    sweep_id: str,
    runs_dir: Path,
    data_root: str | Path | None = None,
    on_update: Callable[[tuple[TrialView, ...]], None] | None = None,
    stop_event: threading.Event | None = None,
) -> SweepOutcome:
    """Run the sweep on the Ray this process is connected to (ray_runtime.connect_ray) until it ends.

    Setting `stop_event` stops every running trial; each saves itself as a stopped run.
    """
    runs_dir = Path(runs_dir).resolve()
    runs_dir.mkdir(parents=True, exist_ok=True)
    stop_event = stop_event or threading.Event()
    flag = _take_flag()
    context = _TrialContext(spec, sweep_id, str(runs_dir), str(data_root) if data_root else None, flag)
    watcher = _TrialWatcher(on_update)
    search, scheduler = _search_and_scheduler(spec)
    resources = {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(RunTrial, context=context), resources),
        param_space=param_space(spec),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=spec.mode,
            search_alg=search,
            scheduler=scheduler,
            num_samples=1 if spec.search == "grid" else spec.samples,
            max_concurrent_trials=spec.max_concurrent or None,
            # One actor runs trial after trial (RunTrial.reset_config): a fresh one costs seconds (a process
            # importing torch and parsing MNIST). It was off while a CI failure (the dashboard's server losing
            # its Ray mid-sweep) was suspected on it; that recurred without it, and the sweep now runs in a
            # process of its own (process.py), so the dashboard no longer shares its Ray's fate.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=sweep_id,
            storage_path=str(runs_dir / ".tune"),  # Tune's own bookkeeping, beside (not among) the runs
            stop=_StopWhenAsked(stop_event, flag),
            callbacks=[watcher],
            failure_config=tune.FailureConfig(max_failures=0),
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
            verbose=0,
        ),
    )
    fit_ended = threading.Event()
    relay = threading.Thread(target=_relay_stop, args=(stop_event, fit_ended, flag), daemon=True)
    relay.start()
    try:
        tuner.fit()
    finally:
        fit_ended.set()
        relay.join(timeout=15)
        ray.kill(flag)
    return SweepOutcome(sweep_id, watcher.views, stop_event.is_set())


def _relay_stop(stop_event: threading.Event, fit_ended: threading.Event, flag: Any) -> None:
    """Tell the trials (on any node) when Stop sweep is pressed, so they stop mid-epoch."""
    while not fit_ended.is_set():
        if stop_event.wait(0.2):
            with contextlib.suppress(Exception):  # the flag is gone with the sweep
                ray.get(flag.set.remote(), timeout=10)
            return
