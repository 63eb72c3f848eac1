"""What to say next to each Train setting: errors that block a run, and warnings for values that are
valid but almost surely a mistake (an lr above 1, a run of hours at this machine's pace).

Plain data for the page to show under the field it concerns; the field's label is already on
screen, so the text does not repeat it ("Must be at least 1 (got 0).", not "Epochs: number of
epochs must be…").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from resnet_mnist.core.config import ConfigProblem, TrainConfig
from resnet_mnist.runs.pace import Pace, estimate_seconds
from resnet_mnist.ui.formatting import format_count, format_duration, format_lr

__all__ = [
    "LONG_RUN_SECONDS",
    "SUSPICIOUS_LR",
    "SettingNote",
    "Severity",
    "field_errors",
    "notes_by_field",
    "setting_notes",
    "setting_warnings",
]

SUSPICIOUS_LR = 1.0  # SGD steps larger than this blow this network's loss up
LONG_RUN_SECONDS = 3600.0  # a run estimated at an hour or more gets a warning on its epochs

# "number of epochs must be at least 1 (got 0)" → "must be at least 1 (got 0)": the subject is the field.
_SUBJECT = re.compile(r"^.*?\b(must|should)\b", re.IGNORECASE)


class Severity(StrEnum):
    ERROR = "error"  # the run cannot start
    WARNING = "warning"  # it can, but probably should not


@dataclass(frozen=True)
class SettingNote:
    """One thing to say under one field."""

    field: str
    severity: Severity
    text: str


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _worded_once(message: str) -> str:
    """A problem's message without its subject, as a sentence: the field's label says what it is about."""
    match = _SUBJECT.match(message)
    return _sentence(message[match.start(1) :] if match else message)


def field_errors(problems: Iterable[ConfigProblem]) -> list[SettingNote]:
    """One error note per field (the first problem found for it), worded once."""
    notes: dict[str, SettingNote] = {}
    for problem in problems:
        notes.setdefault(problem.field, SettingNote(problem.field, Severity.ERROR, _worded_once(problem.message)))
    return list(notes.values())


def setting_warnings(config: TrainConfig, pace: Pace | None) -> list[SettingNote]:
    """Valid values that are probably a slip; give only a config without errors."""
    notes = []
    if config.lr > SUSPICIOUS_LR:
        notes.append(
            SettingNote(
                "lr",
                Severity.WARNING,
                f"{format_lr(config.lr)} is above {format_lr(SUSPICIOUS_LR)}: steps this large make the loss "
                "blow up within a few batches. The seed uses 0.01.",
            )
        )
    if pace is not None:
        seconds = estimate_seconds(config, pace)
        if math.isfinite(seconds) and seconds >= LONG_RUN_SECONDS:
            notes.append(
                SettingNote(
                    "epochs",
                    Severity.WARNING,
                    f"This run would take about {format_duration(seconds)} at this machine's pace "
                    f"({format_count(pace.train_images_per_second)} training images/s on {pace.device}, "
                    f"measured in run {pace.run_id}). Fewer epochs, or a few thousand training images "
                    "(Advanced), give a run of minutes.",
                )
            )
    return notes


def setting_notes(
    config: TrainConfig, pace: Pace | None, *, train_size: int | None = None, test_size: int | None = None
) -> list[SettingNote]:
    """Errors for every invalid field; when there are none, the warnings instead."""
    errors = field_errors(config.problems(train_size, test_size))
    return errors or setting_warnings(config, pace)


def notes_by_field(notes: Iterable[SettingNote]) -> dict[str, list[SettingNote]]:
    """The notes grouped under the field each concerns, in the order given."""
    grouped: dict[str, list[SettingNote]] = {}
    for note in notes:
        grouped.setdefault(note.field, []).append(note)
    return grouped
