"""What a training run reports as it goes: one event type per kind of news.

The CLI, the dashboard's worker and the tests all consume these same objects through a
plain callback (`Listener`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import torch

__all__ = [
    "BatchLogged",
    "EpochCompleted",
    "EvaluationStarted",
    "Event",
    "HyperparamsChanged",
    "Listener",
    "Measuring",
    "RunState",
    "StateChanged",
    "fan_out",
]


class RunState(StrEnum):
    """Where a run is in its life; the last three are final."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (RunState.STOPPED, RunState.FINISHED, RunState.FAILED)


@dataclass(frozen=True)
class StateChanged:
    """The run entered `state`; `reason` says why for stopped/failed runs.

    On STOPPED, `model_state` holds the weights learned so far (a CPU copy), so a stopped
    run keeps what it learned. With `kept_epoch`, it holds the weights of that epoch, which the job keeps
    as the run's model (a fine-tune keeps the epoch that forgot MNIST least; its final accuracy is that
    epoch's).
    """

    state: RunState
    reason: str | None = None
    epoch: int = 0
    step: int = 0
    model_state: dict[str, torch.Tensor] | None = field(default=None, repr=False, compare=False)
    kept_epoch: int | None = None


@dataclass(frozen=True)
class BatchLogged:
    """Training loss of one logged batch (every `log_interval` steps), and throughput since the last."""

    epoch: int
    step: int  # global optimizer step, counting from 1
    batch: int  # batch index within the epoch, counting from 1
    batches_per_epoch: int
    loss: float
    images_per_second: float
    lr: float
    momentum: float


@dataclass(frozen=True)
class EvaluationStarted:
    """The test pass after `epoch` has begun."""

    epoch: int


@dataclass(frozen=True)
class EpochCompleted:
    """An epoch's results; `model_state` and `momentum_state` are CPU copies of the weights and the SGD
    momentum buffers (by parameter name) at its end: what a branch from this epoch starts from."""

    epoch: int
    train_loss: float  # mean over the epoch's batches
    test_loss: float  # summed over the test set, then divided by its size, as the seed does
    test_accuracy: float  # 0..1
    correct: int
    total: int
    train_seconds: float
    test_seconds: float
    images_per_second: float
    model_state: dict[str, torch.Tensor] | None = field(default=None, repr=False, compare=False)
    precision: str = "fp32"  # what the epoch computed in: fp32, bf16 or fp16
    threads: int = 0  # CPU threads the epoch used
    momentum_state: dict[str, torch.Tensor] | None = field(default=None, repr=False, compare=False)
    step: int = 0  # optimizer steps done by the epoch's end, counting the run's earlier epochs


@dataclass(frozen=True)
class HyperparamsChanged:
    """lr and/or momentum changed during the run; applies from `step` on."""

    epoch: int
    step: int
    lr: float
    momentum: float


@dataclass(frozen=True)
class Measuring:
    """After its last epoch a job measures what it trained (a fine-tune on held-out handwriting, k-fold):
    step `done` of `total` is next. The run is not finished until that ends."""

    what: str
    done: int
    total: int


Event = StateChanged | BatchLogged | EvaluationStarted | EpochCompleted | HyperparamsChanged | Measuring
Listener = Callable[[Event], None]


def fan_out(*listeners: Listener) -> Listener:
    """One listener that hands each event to several, in order."""

    def emit(event: Event) -> None:
        for listener in listeners:
            listener(event)

    return emit
