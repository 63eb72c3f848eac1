"""Asking a trained model what a digit is, and looking inside while it answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from resnet_mnist.core.data import MNIST_MEAN, MNIST_STD
from resnet_mnist.core.model import Net

__all__ = [
    "FEATURE_STAGES",
    "SALIENCY_METHODS",
    "Prediction",
    "feature_maps",
    "predict",
    "saliency_map",
]

# The stages Net.features reports, in forward order, with the shape each has for one digit.
FEATURE_STAGES: dict[str, tuple[int, int, int]] = {
    "conv1": (16, 12, 12),
    "res_block_1": (16, 12, 12),
    "conv2": (32, 4, 4),
    "res_block_2": (32, 4, 4),
}
SaliencyMethod = Literal["gradient", "smoothgrad", "integrated_gradients"]
SALIENCY_METHODS: tuple[str, ...] = ("smoothgrad", "gradient", "integrated_gradients")
# A blank field as the model sees it: ink 0, normalised.
_BLANK = (0.0 - MNIST_MEAN) / MNIST_STD
_INK_RANGE = 1.0 / MNIST_STD  # normalised distance from no ink to full ink


@dataclass(frozen=True)
class Prediction:
    """The most likely digit and the probability of each of the ten."""

    digit: int
    probabilities: tuple[float, ...]

    @property
    def confidence(self) -> float:
        return self.probabilities[self.digit]

    @property
    def runner_up(self) -> int:
        """The second most likely digit, for saying what else it might be."""
        order = sorted(range(len(self.probabilities)), key=self.probabilities.__getitem__, reverse=True)
        return order[1]


def _device(model: Net) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def predict(model: Net, tensor: torch.Tensor) -> list[Prediction]:
    """Predictions for a batch (N, 1, 28, 28) of preprocessed digits."""
    model.eval()
    probabilities = model(tensor.to(_device(model))).exp().cpu()
    return [Prediction(int(row.argmax()), tuple(float(p) for p in row)) for row in probabilities]


@torch.no_grad()
def feature_maps(model: Net, tensor: torch.Tensor) -> dict[str, np.ndarray]:
    """One digit's activations after each stage (see FEATURE_STAGES), as (C, H, W) float32 arrays."""
    model.eval()
    stages = model.features(tensor[:1].to(_device(model)))
    return {name: stages[name][0].float().cpu().numpy() for name in FEATURE_STAGES}


def _class_score_gradients(model: Net, inputs: torch.Tensor, target: int) -> torch.Tensor:
    """d(log-probability of `target`)/d(input) for a batch (N, 1, 28, 28); same shape back."""
    inputs = inputs.detach().requires_grad_(True)
    scores = model(inputs)[:, target]  # (N,) log-probabilities
    (gradients,) = torch.autograd.grad(scores.sum(), inputs)
    return gradients


def saliency_map(
    model: Net,
    tensor: torch.Tensor,
    *,
    target: int | None = None,
    method: SaliencyMethod = "smoothgrad",
    samples: int = 32,
    noise: float = 0.15,
    seed: int = 0,
) -> np.ndarray:
    """Which input pixels the score of `target` (default: the predicted digit) depends on most.

    - "gradient": |∂score/∂pixel| (Simonyan et al. 2013), sharp but noisy.
    - "smoothgrad": the gradient's magnitude averaged over `samples` noisy copies of the digit
      (Smilkov et al. 2017; noise std = `noise` × the ink range), which keeps what is stable.
    - "integrated_gradients": gradients along the path from a blank field to the digit, times
      the difference (Sundararajan et al. 2017); only pixels that differ from blank get credit.

    Returns a (28, 28) float32 array, non-negative, scaled so its largest value is 1 (all zeros
    if the score does not depend on the input at all).
    """
    model.eval()
    device = _device(model)
    digit = tensor[:1].detach().to(device)  # (1, 1, 28, 28)
    if target is None:
        with torch.no_grad():
            target = int(model(digit).argmax(dim=1))
    if method == "gradient":
        attribution = _class_score_gradients(model, digit, target)[0, 0].abs()
    elif method == "smoothgrad":
        generator = torch.Generator(device="cpu").manual_seed(seed)
        jitter = torch.randn((samples, 1, 28, 28), generator=generator) * (noise * _INK_RANGE)
        gradients = _class_score_gradients(model, digit + jitter.to(device), target)  # (S, 1, 28, 28)
        attribution = gradients.abs().mean(dim=0)[0]
    elif method == "integrated_gradients":
        blank = torch.full_like(digit, _BLANK)
        steps = torch.linspace(1.0 / samples, 1.0, samples, device=device).view(-1, 1, 1, 1)
        path = blank + steps * (digit - blank)  # (S, 1, 28, 28)
        gradients = _class_score_gradients(model, path, target)
        attribution = ((digit - blank) * gradients.mean(dim=0, keepdim=True))[0, 0].abs()
    else:
        raise ValueError(f"unknown saliency method {method!r}; choose one of {', '.join(SALIENCY_METHODS)}")
    attribution = attribution.detach().float().cpu().numpy()  # (28, 28)
    peak = float(attribution.max())
    return (attribution / peak if peak > 0 else attribution).astype(np.float32)
