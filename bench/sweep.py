"""The same 8-trial random sweep three ways: one at a time (as the old queue did), Ray Tune, Ray Tune + ASHA.

    ../shared/tools/loopback-ns .venv/bin/python bench/sweep.py        # Ray must stay on loopback

Every trial trains 3 epochs on the first 6,000 training images and tests on all 10,000 after
each epoch. (b) runs first and fixes the 8 configurations (random search, seed 0, lr log-uniform in
[0.001, 0.5], momentum uniform in [0, 0.95]); (a) trains those same 8 in this process one after
another with every core, as the dashboard's single worker did; (c) is (b) again with ASHA (the Sweep
tab's default grace period and reduction factor, or each of --asha's), which draws the same 8 (same
seed). Before (b) and each (c) a local Ray is started afresh and its workers warmed up, as a sweep's
standby process does while the Sweep tab is open; that is not counted.
Prints a table and `sweep_time_ratio=<c/a> best_acc_delta=<best(c) - best(a) in points>`, then the
start-up figures: a trial's start-up after the first ones (a reused actor: from a trial's end to its
successor's first epoch, less that epoch's own compute), and Start -> first trial epoch through the
dashboard's SweepRunner, cold (Ray started on Start) and warm (its standby ready), as
`trial_startup_s=<median> start_cold_s=<s> start_warm_s=<s>`; and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_mnist import RunState, RunStore, TrainConfig, load_split, run_training
from resnet_mnist.jobs.sweep_runner import SweepRunner
from resnet_mnist.sweeps.outcome import TrialView
from resnet_mnist.sweeps.process import warm_workers
from resnet_mnist.sweeps.ray_runtime import connect_ray, shutdown_ray
from resnet_mnist.sweeps.spec import SWEEP_DEFAULTS, Axis, SweepSpec


def _spec(scheduler: str, args: argparse.Namespace, grace: int = 0, factor: int = 0) -> SweepSpec:
    return SweepSpec(
        base=TrainConfig(epochs=args.epochs, train_limit=args.train_limit, device="cpu"),
        space={"lr": Axis(low=0.001, high=0.5, log=True), "momentum": Axis(low=0.0, high=0.95)},
        search="random",
        samples=args.trials,
        seed=args.seed,
        scheduler=scheduler,
        grace_period=grace or SWEEP_DEFAULTS.grace_period,
        reduction_factor=factor or SWEEP_DEFAULTS.reduction_factor,
        cpus_per_trial=1.0,
    )


def _warm_ray() -> str:
    """A local Ray started afresh with its workers warmed up, as a standby has it when Start is pressed."""
    from resnet_mnist.sweeps.trainable import prepare

    shutdown_ray()
    connection = connect_ray()
    prepare()
    return connection.describe()


class _Clock:
    """When each trial was first seen running, at its first epoch, and ended (from the sweep's updates)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self.run_ids: dict[str, str] = {}

    def __call__(self, views: tuple[TrialView, ...]) -> None:
        now = time.perf_counter()
        for view in views:
            for event, happened in (("running", view.status == "RUNNING"), ("epoch", view.epoch >= 1)):
                if happened:
                    self.seen.setdefault((view.trial_id, event), now)
            if view.status in ("TERMINATED", "ERROR"):
                self.seen.setdefault((view.trial_id, "ended"), now)
            if view.run_id:
                self.run_ids[view.trial_id] = view.run_id

    def startups(self, store: RunStore, parallel: int) -> list[float]:
        """Each trial after the first `parallel`: from the last end before it to its first epoch, less that epoch."""
        started = sorted((t, trial) for (trial, event), t in self.seen.items() if event == "running")
        ends = sorted(t for (_, event), t in self.seen.items() if event == "ended")
        found = []
        for t_running, trial in started[parallel:]:
            before = [t for t in ends if t <= t_running]
            first = self.seen.get((trial, "epoch"))
            epochs = store.run_metrics(self.run_ids[trial]).epochs if trial in self.run_ids else ()
            if before and first is not None and epochs:
                found.append(first - before[-1] - epochs[0].train_seconds - epochs[0].test_seconds)
        return found


def _ray_way(name: str, spec: SweepSpec, root: Path, data_root: str) -> dict:
    from resnet_mnist.sweeps.trainable import run_sweep

    print(f"{name}: Ray ready ({_warm_ray()})", flush=True)
    clock = _Clock()
    started = time.perf_counter()
    run_sweep(spec, sweep_id=name, runs_dir=root, data_root=data_root, on_update=clock)
    seconds = time.perf_counter() - started
    shutdown_ray()
    runs = [r for r in RunStore(root).runs() if r.sweep == name]
    return {**_summary(name, seconds, runs), "startups": clock.startups(RunStore(root), os.cpu_count() or 1)}


def _one_at_a_time(name: str, configs: list[TrainConfig], root: Path, data_root: str) -> dict:
    torch.set_num_threads(os.cpu_count() or 1)
    store = RunStore(root)
    started = time.perf_counter()
    for config in configs:
        recorder = store.create(config, device="cpu", sweep=name)
        run_training(config, recorder, data_root=data_root)
    seconds = time.perf_counter() - started
    return _summary(name, seconds, [r for r in store.runs() if r.sweep == name])


def _summary(name: str, seconds: float, runs: list) -> dict:
    finished = sum(r.state is RunState.FINISHED for r in runs)
    stopped = sum(r.state is RunState.STOPPED for r in runs)
    best = max((r.best_accuracy for r in runs if r.best_accuracy is not None), default=float("nan"))
    epochs = sum(r.epochs_done for r in runs)
    print(f"{name}: {seconds:.1f} s, {finished} finished, {stopped} stopped, best {100 * best:.2f}%", flush=True)
    return {"way": name, "seconds": seconds, "finished": finished, "stopped": stopped, "epochs": epochs, "best": best}


def _start_to_first_epoch(spec: SweepSpec, data_root: str, *, warm: bool) -> tuple[float, float]:
    """Start (SweepRunner.start, as the tab's button) -> a trial's first epoch; and that epoch's own compute."""
    with tempfile.TemporaryDirectory() as folder:
        store = RunStore(Path(folder) / "runs")
        runner = SweepRunner(store, data_root=data_root, standby_s=600 if warm else 0)
        try:
            runner.warm_up()
            deadline = time.monotonic() + 600
            while warm and not runner.warm:
                assert time.monotonic() < deadline, "the standby's Ray was not ready after 10 minutes"
                time.sleep(0.1)
            started = time.perf_counter()
            runner.start(spec)
            while not (done := [r for r in store.runs() if r.epochs_done >= 1]):
                assert runner.is_alive(), runner.snapshot().error
                time.sleep(0.02)
            seconds = time.perf_counter() - started
            epoch = store.run_metrics(done[0].id).epochs[0]
            return seconds, epoch.train_seconds + epoch.test_seconds
        finally:
            runner.stop(timeout=120)


def _print_startups(cold: tuple[float, float], warm: tuple[float, float], trials: list[float]) -> None:
    print(
        f"\nStart -> first trial epoch (SweepRunner, as the Sweep tab): cold {cold[0]:.1f} s, with Ray warm "
        f"{warm[0]:.1f} s (of which the epoch's own compute: {cold[1]:.1f} s and {warm[1]:.1f} s)"
    )
    if trials:
        print(
            f"trial start-up after the first (reused actors, {len(trials)} trials): median "
            f"{statistics.median(trials):.2f} s, max {max(trials):.2f} s"
        )
    median = statistics.median(trials) if trials else float("nan")
    print(f"trial_startup_s={median:.2f} start_cold_s={cold[0]:.1f} start_warm_s={warm[0]:.1f}")


def _asha_settings(text: str) -> list[tuple[int, int]]:
    """'1:3,2:2' -> [(1, 3), (2, 2)]: grace period and reduction factor of each (c)."""
    return [(int(g), int(f)) for g, f in (item.split(":") for item in text.split(",") if item)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    default_asha = f"{SWEEP_DEFAULTS.grace_period}:{SWEEP_DEFAULTS.reduction_factor}"
    parser.add_argument("--asha", default=default_asha, help="GRACE:FACTOR,... one (c) each (default: the tab's)")
    parser.add_argument("--no-startup", action="store_true", help="skip the Start -> first epoch figures")
    args = parser.parse_args()
    data_root = os.environ.get("RESNET_MNIST_DATA", "data")
    print(f"load average before: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    if not args.no_startup:
        cold = _start_to_first_epoch(_spec("asha", args), data_root, warm=False)
        warm = _start_to_first_epoch(_spec("asha", args), data_root, warm=True)
    load_split(data_root, train=True)  # parse the files once
    warm_workers()  # this process's local Rays warm their workers up, as a sweep's process does
    print(f"torch {torch.__version__}; {os.cpu_count()} cores", flush=True)
    rows, c_rows = _sweeps(args, data_root)
    print("\n| way | wall s | trials finished / stopped early | epochs trained | best test acc % |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['way']} | {row['seconds']:.1f} | {row['finished']} / {row['stopped']} | {row['epochs']} | "
            f"{100 * row['best']:.2f} |"
        )
    a, c = rows[0], c_rows[0]
    print(f"\nsweep_time_ratio={c['seconds'] / a['seconds']:.3f} best_acc_delta={100 * (c['best'] - a['best']):.2f}")
    for extra in c_rows[1:]:
        ratio, delta = extra["seconds"] / a["seconds"], 100 * (extra["best"] - a["best"])
        print(f"  {extra['way']}: ratio {ratio:.3f}, delta {delta:.2f}")
    if not args.no_startup:
        _print_startups(cold, warm, rows[1]["startups"] + [s for r in c_rows for s in r["startups"]])
    print(f"load average after: {Path('/proc/loadavg').read_text().strip()}")
    return 0


def _sweeps(args: argparse.Namespace, data_root: str) -> tuple[list[dict], list[dict]]:
    """(a), (b) and each (c), in a runs folder of their own; (a) first in the returned rows, then (b), then the (c)s."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "runs"
        b = _ray_way("b-ray-tune", _spec("none", args), root, data_root)
        trials_b = sorted((r for r in RunStore(root).runs() if r.sweep == "b-ray-tune"), key=lambda r: r.created)
        drawn = [r.config for r in trials_b]  # (a) trains exactly these, in (b)'s order
        # ... with every core, as the old queue did: a trial's config carries its one CPU's thread
        every_core = [c.with_changes(threads=os.cpu_count() or 1) for c in drawn]
        a = _one_at_a_time("a-one-at-a-time", every_core, root, data_root)
        c_rows = []
        for grace, factor in _asha_settings(args.asha):
            name = "c-ray-tune-asha" + ("" if not c_rows else f"-g{grace}-rf{factor}")
            c_rows.append(_ray_way(name, _spec("asha", args, grace, factor), root, data_root))
            same = {(x.config.lr, x.config.momentum) for x in RunStore(root).runs() if x.sweep == name}
            assert same == {(x.lr, x.momentum) for x in drawn}, "ASHA's sweep drew other configurations"
    return [a, b, *c_rows], c_rows


if __name__ == "__main__":
    raise SystemExit(main())
