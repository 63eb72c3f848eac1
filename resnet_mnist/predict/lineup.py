"""Several models asked about the same drawing, side by side, with the ones that disagree marked."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from resnet_mnist.core.model import Net
from resnet_mnist.predict.inference import Prediction, predict

__all__ = ["LineUp", "LineUpEntry", "line_up"]


@dataclass(frozen=True)
class LineUpEntry:
    """One model's answer; `agrees` is False when it differs from the most common answer."""

    label: str
    prediction: Prediction
    agrees: bool


@dataclass(frozen=True)
class LineUp:
    """Every model's answer to one digit, in the order given."""

    entries: tuple[LineUpEntry, ...]
    majority: int | None  # the most common digit (ties: the most confident of the tied)

    @property
    def unanimous(self) -> bool:
        return all(entry.agrees for entry in self.entries)

    def summary(self) -> str:
        """'All 3 say 7' or 'They disagree: 2 say 7, 1 says 1'."""
        if not self.entries:
            return "No models chosen."
        counts = Counter(entry.prediction.digit for entry in self.entries)
        if len(counts) == 1:
            return f"All {len(self.entries)} say {self.majority}." if len(self.entries) > 1 else ""
        parts = [f"{n} say{'s' if n == 1 else ''} {digit}" for digit, n in counts.most_common()]
        return "They disagree: " + ", ".join(parts) + "."


def line_up(models: Mapping[str, Net], tensor: torch.Tensor) -> LineUp:
    """Ask each model (label → model) about one preprocessed digit (1, 1, 28, 28)."""
    answers = {label: predict(model, tensor)[0] for label, model in models.items()}
    if not answers:
        return LineUp((), None)
    counts = Counter(p.digit for p in answers.values())
    top = max(counts.values())
    tied = {digit for digit, n in counts.items() if n == top}
    majority = max((p for p in answers.values() if p.digit in tied), key=lambda p: p.confidence).digit
    entries = tuple(LineUpEntry(label, p, p.digit == majority) for label, p in answers.items())
    return LineUp(entries, majority)
