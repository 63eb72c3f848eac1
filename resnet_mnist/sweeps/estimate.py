"""How long a sweep will take, from this machine's measured training and test speed.

The speed comes from the runs this machine trained on its CPU (each epoch records images/s and
the test pass's seconds); with none yet, from a two-second measurement. The estimate is an upper
bound for ASHA sweeps (it assumes every trial trains to its last epoch).
"""

from __future__ import annotations

import math
import os
import statistics
import time
from dataclasses import dataclass

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.data import load_split
from resnet_mnist.core.engine import build_model, evaluate, make_optimizer, seed_shuffle_generators, train_epoch
from resnet_mnist.runs.store import RunStore
from resnet_mnist.sweeps.spec import SweepSpec

__all__ = ["MachineSpeed", "SweepEstimate", "estimate_sweep", "machine_speed", "measure_speed"]

TRIAL_START_SECONDS = 6.0  # a Ray worker process starting, importing torch and reading MNIST (measured here)
_TEST_IMAGES = 10_000


@dataclass(frozen=True)
class MachineSpeed:
    """Training and test images per second of one run using the whole machine's CPU."""

    train_images_per_second: float
    test_images_per_second: float
    source: str  # where the figures come from, for the page to say
    measured_at: float = 0.0  # time.monotonic() as a measurement ended; 0.0 for figures read from runs


@dataclass(frozen=True)
class SweepEstimate:
    trials: int
    parallel: int
    seconds: float
    upper_bound: bool  # ASHA will stop some trials early
    # One epoch of one trial, on its share of the cores: the form says what testing costs beside training.
    train_seconds_per_epoch: float = 0.0
    test_seconds_per_epoch: float = 0.0
    test_images: int = _TEST_IMAGES


def machine_speed(store: RunStore, *, data_root: str | None = None, recent_runs: int = 5) -> MachineSpeed:
    """The median speed of the latest CPU runs' epochs, else a quick measurement."""
    train, test = [], []
    used = 0
    for run in store.runs():
        if run.device != "cpu" or run.sweep:  # sweep trials ran on a share of the cores
            continue
        epochs = store.metrics(run.id)["epochs"]
        train += [e["images_per_second"] for e in epochs if e.get("images_per_second")]
        test += [e["total"] / e["test_seconds"] for e in epochs if e.get("test_seconds")]
        used += bool(epochs)
        if used >= recent_runs:
            break
    if train and test:
        return MachineSpeed(statistics.median(train), statistics.median(test), f"the last {used} CPU run(s)")
    return measure_speed(data_root)


def measure_speed(data_root: str | None = None, batches: int = 20) -> MachineSpeed:
    """Train `batches` batches of 64 and test 1,000 images, timed (about two seconds).

    Only meaningful on idle cores: beside a Ray starting (the Sweep tab's standby) it read 567 training
    images/s against 8,619 alone on a 2-core Xeon, an estimate 15 times too long.
    """
    config = TrainConfig(device="cpu", train_limit=64 * batches, test_limit=1000)
    train_split = load_split(data_root, train=True, limit=config.train_limit)
    test_split = load_split(data_root, train=False, limit=config.test_limit)
    model = build_model(config.seed, "cpu", channels_last=True)
    optimizer = make_optimizer(model, config)
    warm_up, generator = seed_shuffle_generators(config.seed, 2)
    quiet = lambda event: None  # noqa: E731
    # The first batches pay for oneDNN picking its kernels; time only what comes after.
    warm = train_split.__class__(train_split.images[:192], train_split.labels[:192])
    train_epoch(
        model, optimizer, warm, epoch=1, batch_size=64, log_interval=3, generator=warm_up, emit=quiet,
        channels_last=True,
    )  # fmt: skip
    started = time.perf_counter()
    train_epoch(
        model, optimizer, train_split, epoch=2, batch_size=64, log_interval=batches, generator=generator,
        emit=quiet, channels_last=True,
    )  # fmt: skip
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    evaluate(model, test_split, 1000, channels_last=True)
    test_seconds = time.perf_counter() - started
    return MachineSpeed(
        len(train_split) / train_seconds,
        len(test_split) / test_seconds,
        f"a {batches}-batch measurement just now",
        time.monotonic(),
    )


def estimate_sweep(spec: SweepSpec, speed: MachineSpeed, *, cpus: float | None = None) -> SweepEstimate:
    """Trials, how many run at once on `cpus` (default: this machine's), and the wall time they take.

    A trial with c of the machine's n cores is taken to train at c/n of the whole machine's speed.
    """
    cpus = float(cpus or os.cpu_count() or 1)
    trials = spec.trial_count
    parallel = max(1, int(cpus // spec.cpus_per_trial))
    if spec.max_concurrent:
        parallel = min(parallel, spec.max_concurrent)
    parallel = min(parallel, max(trials, 1))
    share = min(1.0, spec.cpus_per_trial / float(os.cpu_count() or 1))
    test_images = spec.base.test_limit or _TEST_IMAGES
    train_seconds = spec.mean_value("train_limit") / (speed.train_images_per_second * share)
    test_seconds = test_images / (speed.test_images_per_second * share)
    trial_seconds = TRIAL_START_SECONDS + spec.mean_value("epochs") * (train_seconds + test_seconds)
    seconds = math.ceil(trials / parallel) * trial_seconds
    return SweepEstimate(
        trials, parallel, seconds, spec.scheduler == "asha", train_seconds, test_seconds, int(test_images)
    )
