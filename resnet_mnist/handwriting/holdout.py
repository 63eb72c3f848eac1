"""Which of the user's digits a fine-tune trains on and which measure it, the same ones every time.

A fixed, deterministic split (stratified by digit, ordered by a hash of each file name), or k-fold
cross-validation when the set is too small for a fixed split to hold out enough to measure anything.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Literal

from resnet_mnist.handwriting.digits import HandwritingError, HandwritingSet

__all__ = ["KFOLD_BELOW", "HeldOutPlan", "Method", "plan_holdout"]

KFOLD_BELOW = 40  # digits: fewer, and a fixed split would hold out too few to measure anything
MAX_FOLDS = 10
Method = Literal["fixed", "kfold", "none"]


@dataclass(frozen=True)
class HeldOutPlan:
    """Which digits (indices into the set) the delivered run trains on and how it is measured.

    fixed: `held_out` is never trained on and gives the after figure. kfold: the delivered run trains on
    all; the after figure pools `folds`, each scored by a fine-tune trained without it. none: no figure.
    """

    method: Method
    train: tuple[int, ...]
    held_out: tuple[int, ...] = ()
    folds: tuple[tuple[int, ...], ...] = ()

    def describe(self) -> str:
        if self.method == "fixed":
            return (
                f"trains on {len(self.train)} of your digits; {len(self.held_out)} are held out (the same ones "
                f"every time, chosen by file name) and only those measure it"
            )
        if self.method == "kfold":
            return (
                f"trains on all {len(self.train)} of your digits; measured by {len(self.folds)}-fold "
                f"cross-validation: {len(self.folds)} more fine-tunes, each scored only on the part it did not see"
            )
        return f"trains on all {len(self.train)} of your digits; nothing is held out, so there is no after figure"

    def to_dict(self, hset: HandwritingSet) -> dict[str, Any]:
        files = [d.file for d in hset.digits]
        return {
            "method": self.method,
            "train": [files[i] for i in self.train],
            "held_out": [files[i] for i in self.held_out],
            "folds": [[files[i] for i in fold] for fold in self.folds],
            # What the delivered run trained on, by content: scores leave these out, wherever they are.
            "trained_sha256": sorted({hset.digits[i].sha256 for i in self.train}),
        }


def _by_label_in_hash_order(hset: HandwritingSet) -> list[list[int]]:
    def key(index: int) -> str:
        return hashlib.sha256(hset.digits[index].file.encode()).hexdigest()

    return [sorted((i for i, d in enumerate(hset.digits) if d.label == c), key=key) for c in range(10)]


def plan_holdout(hset: HandwritingSet, fraction: float) -> HeldOutPlan:
    """A deterministic, stratified split: the same files held out each time, whatever their order."""
    everything = tuple(range(len(hset)))
    if fraction <= 0:
        return HeldOutPlan("none", everything)
    if len(hset) < 2:
        raise HandwritingError("at least 2 digits are needed to hold some out (or hold out none: holdout 0)")
    groups = _by_label_in_hash_order(hset)
    if len(hset) < KFOLD_BELOW:
        k = max(2, min(MAX_FOLDS, round(1 / fraction), len(hset)))
        folds: list[list[int]] = [[] for _ in range(k)]
        position = 0
        for group in groups:  # round-robin across digits, so each fold gets a mix of classes
            for index in group:
                folds[position % k].append(index)
                position += 1
        return HeldOutPlan("kfold", everything, folds=tuple(tuple(sorted(f)) for f in folds))
    held = [i for group in groups for i in group[: math.floor(fraction * len(group) + 0.5)]]
    if not held or len(held) == len(hset):
        raise HandwritingError(f"holding out {fraction:.0%} leaves nothing to train on or to measure")
    held_set = set(held)
    return HeldOutPlan("fixed", tuple(i for i in everything if i not in held_set), tuple(sorted(held)))
