"""The seed's optimizer (SGD with momentum), optionally slower for some layers, and live changes to it."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.model import Net

__all__ = ["apply_hyperparams", "make_optimizer"]


def make_optimizer(
    model: Net, config: TrainConfig, lr_scales: Mapping[str, float] | None = None
) -> torch.optim.Optimizer:
    """The seed's optimizer: plain SGD with momentum.

    `lr_scales` gives some layers (by module name, e.g. {"conv1": 0.1}) a share of the lr in their own
    parameter group, after the group of all others (so group 0 always carries the run's own lr).
    On CUDA the fused kernel updates all 14 tensors in one launch. On the CPU it would save only
    ~0.3% of a step, and it rounds differently from the seed's for-loop (bit-identical at the
    seed's momentum 0.5, not at 0.9), so the CPU keeps the for-loop and the seed's exact weights.
    """
    fused = next(model.parameters()).device.type == "cuda" or None
    if not lr_scales:
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, fused=fused)
    scales = dict(lr_scales)
    groups: list[dict] = [{"params": [], "lr_scale": 1.0}]
    for name, module in model.named_children():
        params = list(module.parameters())
        if name in scales:
            groups.append({"params": params, "lr": config.lr * scales[name], "lr_scale": scales[name]})
        else:
            groups[0]["params"].extend(params)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, fused=fused)


def apply_hyperparams(optimizer: torch.optim.Optimizer, changes: Mapping[str, float]) -> None:
    """A new lr and/or momentum for every group; a group with an `lr_scale` keeps its share of the new lr."""
    for group in optimizer.param_groups:
        group.update(changes)
        if "lr" in changes:
            group["lr"] = changes["lr"] * group.get("lr_scale", 1.0)
