"""What run.json records about a fine-tune, typed: `parent` (where it started) and `teach` (its handwriting).

resnet_mnist.runs.schema checks a run's `parent` and `teach` against these when it reads run.json, so a
wrong type anywhere inside them makes the run unreadable, naming the field (`teach.split: …`). Every field
has a default: what older versions wrote (a `teach` with only a `report`, no `mix`) still reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from resnet_mnist.runs.schema_types import Count, Fraction, NonNegative

__all__ = [
    "ParentRecord",
    "TeachMixRecord",
    "TeachRecord",
    "TeachReportRecord",
    "TeachSettingsRecord",
    "TeachSplitRecord",
]

Method = Literal["fixed", "kfold", "none"]


@dataclass(frozen=True)
class ParentRecord:
    """run.json's `parent`: where a fine-tune started (a run here, or a checkpoint file) and at which epoch."""

    run: str | None = None
    checkpoint: str = ""
    epoch: Count = 0


@dataclass(frozen=True)
class TeachSplitRecord:
    """Which handwriting digits a fine-tune trained on and which measured it (files; trained ones by content)."""

    method: Method = "none"
    train: tuple[str, ...] = ()
    held_out: tuple[str, ...] = ()
    folds: tuple[tuple[str, ...], ...] = ()
    trained_sha256: tuple[str, ...] = ()


@dataclass(frozen=True)
class TeachSettingsRecord:
    """The fine-tune's settings as asked (handwriting.teach.TeachSettings)."""

    epochs: Count = 0
    holdout: Fraction = 0.0
    lr: NonNegative = 0.0
    momentum: Fraction = 0.0
    mnist_images: Count = 0
    handwriting_share: Fraction = 0.0
    test_limit: Count | None = None
    device: str = ""


@dataclass(frozen=True)
class TeachMixRecord:
    """What each epoch of the fine-tune held: handwriting images (each digit repeated), MNIST images, the share."""

    handwriting_images: Count = 0
    mnist_images: Count = 0
    handwriting_share: Fraction = 0.0


@dataclass(frozen=True)
class TeachReportRecord:
    """Before and after, on held-out handwriting and on MNIST's test set (handwriting.teach.TeachReport)."""

    state: str = ""
    method: Method = "none"
    held_out: Count = 0
    handwriting_before: Fraction | None = None
    handwriting_after: Fraction | None = None
    mnist_before: Fraction | None = None
    mnist_after: Fraction | None = None
    mnist_total: Count = 0
    reason: str | None = None


@dataclass(frozen=True)
class TeachRecord:
    """run.json's `teach`: a fine-tune's handwriting folder, split, settings, mix and report (null until measured)."""

    handwriting: str = ""
    fingerprint: str = ""
    split: TeachSplitRecord = field(default_factory=TeachSplitRecord)
    settings: TeachSettingsRecord = field(default_factory=TeachSettingsRecord)
    mix: TeachMixRecord | None = None  # runs taught before it was recorded have none
    report: TeachReportRecord | None = None
