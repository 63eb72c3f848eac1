"""A sweep in a process of its own: `python -m resnet_mnist.sweeps.process SWEEP_FOLDER`.

This process is Ray's driver, so when Ray dies (`ray stop`, the OOM killer) it takes only this
process with it, never the dashboard that started it. It reads the request the dashboard wrote
(status.py), starts or joins Ray, runs the trials (trainable.py), and is the one writer of the
sweep's status.json. SIGTERM (the dashboard's Stop sweep) stops every trial as a stopped run.

With `--standby SECONDS` it is started ahead of need (standby.py): it starts its local Ray, with
each worker warmed up (warm_worker.py), then waits for request.json, or leaves unused.
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from resnet_mnist.core.files import FileRefused
from resnet_mnist.sweeps.outcome import SweepState, TrialView
from resnet_mnist.sweeps.ray_runtime import RayConnection, RayUnavailableError, connect_ray, resolve_ray_address
from resnet_mnist.sweeps.spec import SweepError, SweepSpec
from resnet_mnist.sweeps.standby import WARM_MARKS_ENV_VAR, forget, mark_ready, wait_for_request
from resnet_mnist.sweeps.status import StatusWriter, move_to_its_id, read_request

__all__ = ["connect_for", "local_fit_problems", "main", "run_in_this_process", "stand_by", "warm_workers"]

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding resnet_mnist/
PRELOAD_ENV_VAR = "RAY_preload_python_modules"  # Ray's own setting, read by the raylet it starts


def warm_workers() -> None:
    """Have every worker of the local Ray this process is about to start import warm_worker first.

    The raylet reads Ray's settings from its environment, which it takes from this process; the
    package goes on PYTHONPATH since a worker preloads before it knows which job it serves.
    """
    os.environ.setdefault(PRELOAD_ENV_VAR, "resnet_mnist.sweeps.warm_worker")
    # The raylet ends idle workers once a second while the CPUs they would serve are taken, and Tune takes
    # them (its placement groups) a moment before it asks for the trials' workers: the warm ones went,
    # cold ones came. This Ray lives as long as its sweep, so its idle workers may too.
    os.environ.setdefault("RAY_idle_worker_killing_time_threshold_ms", str(24 * 3600 * 1000))
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(_PACKAGE_ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(_PACKAGE_ROOT), *paths])
    if WARM_MARKS_ENV_VAR not in os.environ:  # where trainable.prepare sees which workers are ready
        marks = tempfile.mkdtemp(prefix="resnet-mnist-warm-")
        os.environ[WARM_MARKS_ENV_VAR] = marks
        atexit.register(shutil.rmtree, marks, ignore_errors=True)


def local_fit_problems(spec: SweepSpec, num_cpus: int | None) -> list[str]:
    """Why no trial could fit a local Ray of `num_cpus` (default: every CPU) on this machine: known before
    Ray starts, so the refusal takes a moment, not the seconds a Ray takes to start and stop."""
    import torch

    cpus = num_cpus if num_cpus is not None else os.cpu_count() or 1
    return spec.resource_problems(cpus, torch.cuda.device_count(), f"this machine has {cpus} CPUs")


def connect_for(spec: SweepSpec, address: str | None, num_cpus: int | None) -> RayConnection:
    """Ray for this sweep, refused (SweepError) when a trial could never fit: one check for the CLI and the tab."""
    if not resolve_ray_address(address):
        problems = local_fit_problems(spec, num_cpus)
        if problems:
            raise SweepError(problems)
        warm_workers()
    connection = connect_ray(address, num_cpus=num_cpus)
    problems = spec.resource_problems(connection.cpus, connection.gpus, connection.describe())
    if problems:
        raise SweepError(problems)
    return connection


def _stop_on_sigterm() -> threading.Event:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


def stand_by(folder: Path, seconds: float, parent: int) -> int:
    """Start a local Ray with warm workers, then run the request handed over within `seconds`, or leave.

    `parent` is the dashboard that started it: once that is gone, nobody will hand a request over.
    """
    stop = _stop_on_sigterm()
    try:
        connect_for(SweepSpec(), None, None)
        from resnet_mnist.sweeps.trainable import prepare

        prepare()
        mark_ready(folder)
        print("standby: Ray and its workers are up and warm; waiting for a request", flush=True)
    except Exception as exc:  # the request's own connect says why, in status.json, if it comes
        print(f"standby: Ray could not be got ready ({type(exc).__name__}: {exc})", flush=True)
    if not wait_for_request(folder, seconds, stop, parent):
        forget(folder)
        return 0
    # the request may name the sweep (its id ends with the name's slug): the folder takes that id
    return run_in_this_process(move_to_its_id(folder, read_request(folder)), stop)


def run_in_this_process(folder: Path, stop: threading.Event | None = None) -> int:
    """Run the sweep that `folder`'s request.json asks for; 0 when it finished or was stopped."""
    request = read_request(folder)
    spec = request.sweep_spec()
    writer = StatusWriter(folder, request.sweep_id)
    stop = stop or _stop_on_sigterm()

    def on_update(trials: tuple[TrialView, ...]) -> None:
        writer.update(trials=trials, state=SweepState.STOPPING if stop.is_set() else SweepState.RUNNING)

    from resnet_mnist.sweeps.trainable import run_sweep

    try:
        connection = connect_for(spec, request.address or None, request.num_cpus)
        writer.update(ray=connection.describe())
        outcome = run_sweep(
            spec,
            sweep_id=request.sweep_id,
            runs_dir=Path(request.runs_dir),
            data_root=request.data_root,
            on_update=on_update,
            stop_event=stop,
        )
    except (SweepError, RayUnavailableError) as exc:
        writer.finish(SweepState.FAILED, error=f"The sweep was not started: {exc}")
        return 1
    except Exception as exc:  # Ray lost, storage unwritable: say so rather than leave it "running"
        writer.finish(SweepState.FAILED, error=f"the sweep failed: {type(exc).__name__}: {exc}")
        return 1
    writer.finish(SweepState.STOPPED if outcome.stopped else SweepState.FINISHED, trials=outcome.trials)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m resnet_mnist.sweeps.process")
    parser.add_argument("folder", metavar="SWEEP_FOLDER", type=Path)
    parser.add_argument("--standby", type=float, metavar="SECONDS", help="start Ray now, wait for the request")
    parser.add_argument("--parent", type=int, metavar="PID", help="a standby leaves when this process is gone")
    args = parser.parse_args(argv)
    try:
        if args.standby is not None:
            return stand_by(args.folder, args.standby, args.parent or os.getppid())
        return run_in_this_process(args.folder)
    except FileRefused as exc:  # no readable request: nothing to run, and nowhere trusted to say so but here
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
