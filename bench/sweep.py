"""The same 8-trial random sweep three ways: one at a time (as the old queue did), Ray Tune, Ray Tune + ASHA.

    ../shared/tools/loopback-ns .venv/bin/python bench/sweep.py        # Ray must stay on loopback

Every trial trains 3 epochs on the first 6,000 training images and tests on all 10,000 after
each epoch. (b) runs first and fixes the 8 configurations (random search, seed 0, lr log-uniform in
[0.001, 0.5], momentum uniform in [0, 0.95]); (a) trains those same 8 in this process one after
another with every core, as the dashboard's single worker did; (c) is (b) again with ASHA, which
draws the same 8 (same seed). Ray is started before (b) and not counted (the dashboard keeps it up).
Prints a table and last `sweep_time_ratio=<c/a> best_acc_delta=<best(c) - best(a) in points>`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resnet_mnist import RunState, RunStore, TrainConfig, load_split, run_training
from resnet_mnist.sweeps.ray_runtime import connect_ray
from resnet_mnist.sweeps.spec import Axis, SweepSpec


def _spec(scheduler: str, args: argparse.Namespace) -> SweepSpec:
    return SweepSpec(
        base=TrainConfig(epochs=args.epochs, train_limit=args.train_limit, device="cpu"),
        space={"lr": Axis(low=0.001, high=0.5, log=True), "momentum": Axis(low=0.0, high=0.95)},
        search="random",
        samples=args.trials,
        seed=args.seed,
        scheduler=scheduler,
        cpus_per_trial=1.0,
    )


def _ray_way(name: str, spec: SweepSpec, root: Path, data_root: str) -> dict:
    from resnet_mnist.sweeps.trainable import run_sweep

    started = time.perf_counter()
    run_sweep(spec, sweep_id=name, runs_dir=root, data_root=data_root)
    seconds = time.perf_counter() - started
    runs = [r for r in RunStore(root).runs() if r.sweep == name]
    return _summary(name, seconds, runs)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data_root = os.environ.get("RESNET_MNIST_DATA", "data")
    load_split(data_root, train=True)  # parse the files once
    connection = connect_ray()
    print(f"Ray: {connection.describe()}; torch {torch.__version__}; {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "runs"
        b = _ray_way("b-ray-tune", _spec("none", args), root, data_root)
        trials_b = sorted((r for r in RunStore(root).runs() if r.sweep == "b-ray-tune"), key=lambda r: r.created)
        drawn = [r.config for r in trials_b]  # (a) trains exactly these, in (b)'s order
        a = _one_at_a_time("a-one-at-a-time", drawn, root, data_root)
        c = _ray_way("c-ray-tune-asha", _spec("asha", args), root, data_root)
        same = {(x.config.lr, x.config.momentum) for x in RunStore(root).runs() if x.sweep == "c-ray-tune-asha"}
        assert same == {(x.lr, x.momentum) for x in drawn}, "ASHA's sweep drew other configurations"
    print("\n| way | wall s | trials finished / stopped early | epochs trained | best test acc % |")
    print("|---|---:|---:|---:|---:|")
    for row in (a, b, c):
        print(
            f"| {row['way']} | {row['seconds']:.1f} | {row['finished']} / {row['stopped']} | {row['epochs']} | "
            f"{100 * row['best']:.2f} |"
        )
    print(f"\nsweep_time_ratio={c['seconds'] / a['seconds']:.3f} best_acc_delta={100 * (c['best'] - a['best']):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
