"""How fast this machine trains, measured by the runs it already did, and how long a config would take.

The Train page uses it to warn before a run of hours is started by mistake. The pace is the last
epoch of the newest run on the same kind of device: training images/s and test images/s, as the
engine measured them (the speed of the model, not of the page).
"""

from __future__ import annotations

from dataclasses import dataclass

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
from resnet_mnist.runs.store import RunStore

__all__ = ["Pace", "estimate_seconds", "measured_pace"]

_RUNS_LOOKED_AT = 20  # the newest runs only: the machine's pace now, and a bounded amount of reading


@dataclass(frozen=True)
class Pace:
    """Images per second for training and for testing on one device, and the run that showed them."""

    train_images_per_second: float
    test_images_per_second: float
    device: str  # "cpu", "cuda", "mps"
    run_id: str


def _device_kind(device: str) -> str:
    return device.split(":", 1)[0]  # "cuda:0" → "cuda"


def measured_pace(store: RunStore, device: str) -> Pace | None:
    """The pace of the newest run on `device` ("cpu", or "cuda:0") with a finished epoch; None if none."""
    kind = _device_kind(device)
    for run in store.runs()[:_RUNS_LOOKED_AT]:
        if _device_kind(run.device) != kind or run.epochs_done < 1:
            continue
        last = (store.metrics(run.id)["epochs"] or [None])[-1]
        try:
            train_speed = float(last["images_per_second"])
            test_speed = float(last["total"]) / float(last["test_seconds"])
        except (TypeError, KeyError, ValueError, ZeroDivisionError):
            continue  # an old or damaged metrics file: try an older run
        if train_speed > 0 and test_speed > 0:
            return Pace(train_speed, test_speed, kind, run.id)
    return None


def estimate_seconds(
    config: TrainConfig, pace: Pace, train_size: int = MNIST_TRAIN_SIZE, test_size: int = MNIST_TEST_SIZE
) -> float:
    """Seconds `config` would train and test for at `pace` (data loading and the page not counted)."""
    train_images = min(config.train_limit or train_size, train_size)
    test_images = min(config.test_limit or test_size, test_size)
    per_epoch = train_images / pace.train_images_per_second + test_images / pace.test_images_per_second
    return config.epochs * per_epoch
