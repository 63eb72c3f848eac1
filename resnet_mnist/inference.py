"""Asking a trained model what a digit is."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .model import Net

__all__ = ["Prediction", "predict"]


@dataclass(frozen=True)
class Prediction:
    """The most likely digit and the probability of each of the ten."""

    digit: int
    probabilities: tuple[float, ...]

    @property
    def confidence(self) -> float:
        return self.probabilities[self.digit]


@torch.no_grad()
def predict(model: Net, tensor: torch.Tensor) -> list[Prediction]:
    """Predictions for a batch (N, 1, 28, 28) of preprocessed digits."""
    model.eval()
    device = next(model.parameters()).device
    probabilities = model(tensor.to(device)).exp().cpu()
    return [Prediction(int(row.argmax()), tuple(float(p) for p in row)) for row in probabilities]
