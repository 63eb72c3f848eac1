"""What a run will compute with: the device, the number format and the CPU threads, each with the reason.

The Train page shows this before a run starts, so 'auto' never hides what it picked; the engine
makes the same choices through the same functions (threads again at each epoch, as load changes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.devices import resolve_device
from resnet_mnist.core.precision import Precision, resolve_precision
from resnet_mnist.core.threads import ThreadChoice, choose_threads

__all__ = ["ComputePlan", "plan_compute"]


@dataclass(frozen=True)
class ComputePlan:
    """The resolved device, precision and thread count of a config, on this machine, now."""

    device: torch.device
    precision: Precision
    threads: ThreadChoice

    def lines(self) -> list[str]:
        """One sentence each for the precision and the threads, for a caption."""
        return [
            f"Precision {self.precision.name}: {self.precision.reason}.",
            f"Threads {self.threads.count}: {self.threads.reason}.",
        ]


def plan_compute(config: TrainConfig) -> ComputePlan | None:
    """What `config` resolves to here; None when its device or precision cannot be used (its problems say why)."""
    try:
        device = resolve_device(config.device)
        precision = resolve_precision(config.precision, device)
    except ValueError:
        return None
    # The page asks at every rerun: a look at the cores from the last 2 s will do.
    return ComputePlan(device, precision, choose_threads(config.threads, reuse_within=2.0))
