"""The one typed description of a training run, and the one place it is validated."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
from resnet_mnist.core.devices import DEVICE_CHOICES, device_problem
from resnet_mnist.core.precision import PRECISION_CHOICES, precision_problem
from resnet_mnist.core.settings import describe, settings_of, value_problem

__all__ = ["MAX_EPOCHS", "MAX_LR", "SETTINGS", "ConfigError", "ConfigProblem", "TrainConfig"]

MAX_EPOCHS = 500
MAX_THREADS = 1024
# The largest float32: torch applies lr in float32, so a larger one fails inside the optimizer.
MAX_LR = 3.4028234663852886e38


@dataclass(frozen=True)
class ConfigProblem:
    """One invalid field and what is wrong with it, worded without the field's name ("must be at least 1")."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"

    @property
    def label(self) -> str:
        """The field as people read it ("Learning rate"), for the page to put in front of the message."""
        setting = SETTINGS.get(self.field)
        return setting.label if setting else self.field


class ConfigError(ValueError):
    """Raised for an invalid TrainConfig; carries every problem found, each naming its field."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


LR_STOPS = (*(m * 10.0**e for e in range(-4, 0) for m in (1, 2, 5)), 1.0)  # 1e-4 … 1, log-spaced 1-2-5
BATCH_STOPS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters and settings of one training run; defaults are the seed's recipe.

    Each field describes itself (see settings.py); the Train page, the CLI, the Runs table, the
    messages below and the sweep form are built from these descriptions, so a new setting is one
    field here.
    """

    lr: float = field(
        default=0.01,
        metadata=describe(
            label="Learning rate",
            help="SGD step size; must be greater than 0. The seed uses 0.01.",
            short="lr",
            widget="log_slider",
            group="hyperparameters",
            minimum=0,
            above_minimum=True,
            stops=LR_STOPS,
            step=0.001,
            live=True,
            sweep_values=(0.01, 0.05),
        ),
    )
    momentum: float = field(
        default=0.5,
        metadata=describe(
            label="Momentum",
            help="SGD momentum in [0, 1); the seed uses 0.5.",
            short="momentum",
            widget="slider",
            group="hyperparameters",
            minimum=0,
            maximum=1,
            below_maximum=True,
            widget_maximum=0.99,
            step=0.01,
            live=True,
            sweep_values=(0.5, 0.9),
        ),
    )
    batch_size: int = field(
        default=64,
        metadata=describe(
            label="Batch size",
            help="Training images per SGD step.",
            short="batch",
            widget="select_slider",
            group="hyperparameters",
            minimum=1,
            stops=BATCH_STOPS,
            sweep_values=(64,),
        ),
    )
    epochs: int = field(
        default=10,
        metadata=describe(
            label="Epochs",
            help="How many passes over the training images.",
            short="epochs",
            widget="slider",
            group="hyperparameters",
            minimum=1,
            maximum=MAX_EPOCHS,
            widget_maximum=100,
            sweep_values=(1,),
        ),
    )
    seed: int = field(
        default=1,
        metadata=describe(
            label="Seed",
            help="Same seed, same run.",
            short="seed",
            group="hyperparameters",
            minimum=0,
            maximum=2**63 - 1,
            step=1,
        ),
    )
    test_batch_size: int = field(
        default=1000,
        metadata=describe(
            label="Test batch size",
            help="Test images per forward pass; changes speed and memory, not the result.",
            short="test batch",
            minimum=1,
            step=100,
            shapes_result=False,
        ),
    )
    train_limit: int | None = field(
        default=None,
        metadata=describe(
            label="Training images",
            help="Train on the first N images only, for a quick run; unset means all of them.",
            short="train",
            column="train imgs",
            minimum=1,
            step=1000,
            placeholder=f"all {MNIST_TRAIN_SIZE:,}",
            sweep_values=(5000,),  # quick sweeps train on part of the set
        ),
    )
    test_limit: int | None = field(
        default=None,
        metadata=describe(
            label="Test images",
            help="Test on the first N images only; unset means all of them.",
            short="test",
            column="test imgs",
            minimum=1,
            step=500,
            placeholder=f"all {MNIST_TEST_SIZE:,}",
        ),
    )
    log_interval: int = field(
        default=10,
        metadata=describe(
            label="Log interval",
            help="A point on the loss chart every N batches.",
            short="log every",
            unit="batches",
            minimum=1,
            step=1,
            shapes_result=False,
        ),
    )
    channels_last: bool = field(
        default=True,
        metadata=describe(
            label="Channels-last memory format",
            help="Faster convolutions on most hardware; the results are the same.",
            short="channels-last",
            widget="checkbox",
            shapes_result=False,
        ),
    )
    precision: str = field(
        default="auto",  # bf16 kept the seed's accuracy over 10 epochs (README: Precision and threads)
        metadata=describe(
            label="Precision",
            help="fp32 is the seed's; bf16 computes convolutions in bfloat16 (weights stay fp32); auto takes "
            "bf16 where the CPU or GPU has it natively (float16 on older GPUs), else fp32.",
            short="precision",
            widget="radio",
            choices=PRECISION_CHOICES,
            sweep_choices=True,  # does bf16 tune to the same optimum? a sweep can answer that
        ),
    )
    threads: int | None = field(
        default=None,
        metadata=describe(
            label="CPU threads",
            help="Unset (auto): one per idle core, chosen again each epoch; on a busy machine one thread "
            "is many times faster than threads that wait for each other.",
            short="threads",
            minimum=1,
            maximum=MAX_THREADS,
            step=1,
            placeholder="auto",
            shapes_result=False,
        ),
    )
    device: str = field(
        default="auto",
        metadata=describe(
            label="Device",
            help="Where to train; auto picks an accelerator when there is one.",
            short="device",
            widget="radio",
            group="device",
            choices=DEVICE_CHOICES,
        ),
    )

    def problems(self, train_size: int | None = None, test_size: int | None = None) -> list[ConfigProblem]:
        """Every invalid value, each naming its field; [] when valid.

        `train_size`/`test_size`, when known, bound the batch sizes and limits.
        """
        maxima = {
            "batch_size": _limited(train_size, self.train_limit),
            "train_limit": train_size,
            "test_limit": test_size,
        }
        found = []
        for name, setting in SETTINGS.items():
            value = getattr(self, name)
            message = value_problem(setting, value, maxima.get(name))
            if message is None and name == "device":
                message = device_problem(value)
            if message is None and name == "precision":
                message = precision_problem(value, self.device)
            if message is None and name == "lr" and value > MAX_LR:
                message = f"must be at most {MAX_LR:.4g}, the largest float32 (got {value:g})"
            if message:
                found.append(ConfigProblem(name, message))
        return found

    def validate(self, train_size: int | None = None, test_size: int | None = None) -> TrainConfig:
        """Return self if valid, else raise ConfigError listing every problem."""
        found = self.problems(train_size, test_size)
        if found:
            raise ConfigError(found)
        return self

    def with_changes(self, **changes: Any) -> TrainConfig:
        """A copy with some fields replaced (unvalidated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so it can go into JSON and weights_only checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild from to_dict() output; unknown keys (from newer versions) are ignored."""
        known = {f.name for f in fields(cls)}
        data = {"precision": "fp32", **data}  # runs recorded before there was a choice computed in fp32
        return cls(**{k: v for k, v in data.items() if k in known})


SETTINGS = settings_of(TrainConfig)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _limited(size: int | None, limit: int | None) -> int | None:
    if size is None:
        return limit if _is_int(limit) and limit > 0 else None  # a bad limit is its own problem
    if _is_int(limit) and 0 < limit < size:
        return limit
    return size
