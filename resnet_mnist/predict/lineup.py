"""Several models asked about the same drawing, side by side, with the ones that disagree marked.

Only confident answers are votes: a model that gives its top digit under CONFIDENT (50%) is shown but
not counted, so "All 3 say 7" never rests on a 13%-sure guess, and an unsure model never makes the
others "disagree".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from resnet_mnist.core.model import Net
from resnet_mnist.predict.inference import Prediction, predict

__all__ = ["CONFIDENT", "LineUp", "LineUpEntry", "line_up"]

CONFIDENT = 0.5  # a top answer at least this sure is a vote; under it, more likely wrong than right


@dataclass(frozen=True)
class LineUpEntry:
    """One model's answer; `agrees` is False when it is a vote for another digit than the majority's.

    An unsure answer (`confident` False) is no vote: it never disagrees.
    """

    label: str
    prediction: Prediction
    agrees: bool
    confident: bool = True


@dataclass(frozen=True)
class LineUp:
    """Every model's answer to one digit, in the order given."""

    entries: tuple[LineUpEntry, ...]
    majority: int | None  # the most common confident digit (ties: the most confident); None without votes

    @property
    def votes(self) -> tuple[LineUpEntry, ...]:
        """The confident answers: the only ones counted."""
        return tuple(entry for entry in self.entries if entry.confident)

    @property
    def unanimous(self) -> bool:
        """Every vote names the same digit (unsure answers aside)."""
        return all(entry.agrees for entry in self.entries)

    def summary(self) -> str:
        """'All 3 say 7.', 'They disagree: 2 say 7, 1 says 1.', '2 of 3 are confident: both say 7; …' or ''.

        Worded without "% sure", which the Draw page keeps for its own answer.
        """
        if not self.entries:
            return "No models chosen."
        votes, total = self.votes, len(self.entries)
        if not votes:
            return f"None of the {total} is at least {CONFIDENT:.0%} confident." if total > 1 else ""
        counts = Counter(entry.prediction.digit for entry in votes)
        if len(counts) > 1:
            parts = [f"{n} say{'s' if n == 1 else ''} {digit}" for digit, n in counts.most_common()]
            unsure = f" ({total - len(votes)} under {CONFIDENT:.0%}, not counted)" if len(votes) < total else ""
            return "They disagree: " + ", ".join(parts) + unsure + "."
        if len(votes) == total:
            return f"All {total} say {self.majority}." if total > 1 else ""
        n = len(votes)
        says = "is confident: it says" if n == 1 else "are confident: both say" if n == 2 else "are confident: all say"
        rest = "the other, under {:.0%}, is" if total - n == 1 else "the rest, under {:.0%}, are"
        return f"{n} of {total} {says} {self.majority}; {rest.format(CONFIDENT)} not counted."


def line_up(models: Mapping[str, Net], tensor: torch.Tensor, *, confident: float = CONFIDENT) -> LineUp:
    """Ask each model (label → model) about one preprocessed digit (1, 1, 28, 28)."""
    answers = {label: predict(model, tensor)[0] for label, model in models.items()}
    if not answers:
        return LineUp((), None)
    sure = {label: p.confidence >= confident for label, p in answers.items()}
    counts = Counter(p.digit for label, p in answers.items() if sure[label])
    majority = None
    if counts:
        top = max(counts.values())
        tied = {digit for digit, n in counts.items() if n == top}
        voted = [p for label, p in answers.items() if sure[label] and p.digit in tied]
        majority = max(voted, key=lambda p: p.confidence).digit
    entries = tuple(
        LineUpEntry(label, p, agrees=not sure[label] or p.digit == majority, confident=sure[label])
        for label, p in answers.items()
    )
    return LineUp(entries, majority)
