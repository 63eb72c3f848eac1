"""Where a branch picks up: a run's weights and SGD momentum buffers at the end of one epoch.

A branch continues its parent exactly from there: the same weights, the same momentum (the velocity
SGD carries from step to step; starting it at zero would be a different optimizer for the first
hundred steps), the epochs after it in the parent's own shuffle order, and the step count going on.
The engine takes a StartingPoint as an argument; runs/checkpoint.py stores and validates its parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from resnet_mnist.core.model import Net

__all__ = ["StartingPoint", "load_momentum", "momentum_buffers"]


@dataclass(frozen=True)
class StartingPoint:
    """The state at the end of epoch `epoch`, `step` optimizer steps into the run (CPU tensors)."""

    model_state: dict[str, torch.Tensor] = field(repr=False)
    momentum: dict[str, torch.Tensor] = field(repr=False)  # parameter name → SGD momentum buffer
    epoch: int
    step: int


def momentum_buffers(model: Net, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """The optimizer's momentum buffers by parameter name, as CPU copies (none before the first step)."""
    buffers = {}
    for name, param in model.named_parameters():
        buffer = optimizer.state.get(param, {}).get("momentum_buffer")
        if buffer is not None:
            buffers[name] = buffer.detach().to("cpu", copy=True).contiguous()
    return buffers


def load_momentum(model: Net, optimizer: torch.optim.Optimizer, buffers: dict[str, torch.Tensor]) -> None:
    """Give each parameter its momentum buffer back, so the next step goes on as the parent's would have."""
    for name, param in model.named_parameters():
        if name in buffers:
            optimizer.state[param]["momentum_buffer"] = buffers[name].to(param.device, param.dtype).clone()
