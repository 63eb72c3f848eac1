"""A sweep in a process of its own: `python -m resnet_mnist.sweeps.process SWEEP_FOLDER`.

This process is Ray's driver, so when Ray dies (`ray stop`, the OOM killer) it takes only this
process with it, never the dashboard that started it. It reads the request the dashboard wrote
(status.py), starts or joins Ray, runs the trials (trainable.py), and is the one writer of the
sweep's status.json. SIGTERM (the dashboard's Stop sweep) stops every trial as a stopped run.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from resnet_mnist.core.files import FileRefused
from resnet_mnist.sweeps.outcome import SweepState, TrialView
from resnet_mnist.sweeps.ray_runtime import RayConnection, RayUnavailableError, connect_ray
from resnet_mnist.sweeps.spec import SweepError, SweepSpec
from resnet_mnist.sweeps.status import StatusWriter, read_request

__all__ = ["connect_for", "main", "run_in_this_process"]


def connect_for(spec: SweepSpec, address: str | None, num_cpus: int | None) -> RayConnection:
    """Ray for this sweep, refused (SweepError) when a trial could never fit: one check for the CLI and the tab."""
    connection = connect_ray(address, num_cpus=num_cpus)
    problems = spec.resource_problems(connection.cpus, connection.gpus, connection.describe())
    if problems:
        raise SweepError(problems)
    return connection


def run_in_this_process(folder: Path) -> int:
    """Run the sweep that `folder`'s request.json asks for; 0 when it finished or was stopped."""
    request = read_request(folder)
    spec = request.sweep_spec()
    writer = StatusWriter(folder, request.sweep_id)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

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
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m resnet_mnist.sweeps.process SWEEP_FOLDER", file=sys.stderr)
        return 2
    try:
        return run_in_this_process(Path(args[0]))
    except FileRefused as exc:  # no readable request: nothing to run, and nowhere trusted to say so but here
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
