"""A sweep as the dashboard and the CLI see it: its state, its trials, its outcome. Plain data, no Ray.

trainable.py fills these from Ray Tune's callbacks; the sweep runner, the Sweep tab and
`python -m resnet_mnist sweep` only read them, so none of them needs Ray to be importable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["TRIAL_ENDED", "SweepOutcome", "SweepState", "TrialView", "best_trial"]

TRIAL_ENDED = ("TERMINATED", "ERROR")  # Tune's statuses of a trial that will not train again


class SweepState(StrEnum):
    """Where a sweep is in its life, as a run has RunState; the last three are final."""

    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"  # Stop sweep was pressed; the trials are saving themselves as stopped
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def is_active(self) -> bool:
        """A sweep holds the cores (and Ray) while it runs and while it stops."""
        return self in (SweepState.RUNNING, SweepState.STOPPING)

    @property
    def is_final(self) -> bool:
        return self in (SweepState.FINISHED, SweepState.STOPPED, SweepState.FAILED)


@dataclass(frozen=True)
class TrialView:
    """One trial as the dashboard and the CLI show it."""

    trial_id: str
    status: str  # Tune's: PENDING, RUNNING, TERMINATED, ERROR
    values: dict[str, Any]  # the drawn hyperparameters
    run_id: str | None = None
    epoch: int = 0
    test_accuracy: float | None = None
    best_accuracy: float | None = None
    node: str = ""
    error: str | None = None

    @property
    def ended(self) -> bool:
        """Tune is done with this trial: it ended or failed."""
        return self.status in TRIAL_ENDED


def best_trial(trials: Iterable[TrialView]) -> TrialView | None:
    """The trial with the highest test accuracy so far among those that have a run, or None."""
    scored = [t for t in trials if t.best_accuracy is not None and t.run_id]
    return max(scored, key=lambda t: t.best_accuracy or 0.0) if scored else None


@dataclass(frozen=True)
class SweepOutcome:
    """Every trial at the end, and the best by the sweep's metric."""

    sweep_id: str
    trials: tuple[TrialView, ...]
    stopped: bool

    @property
    def best(self) -> TrialView | None:
        return best_trial(self.trials)
