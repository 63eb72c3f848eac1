"""`train --seeds 1,2,3`: the recipe once per seed as one seed group, and what `train --json` prints.

`run_summary` is the single-run object (`train --json`); `group_summary` wraps a group's runs with the
mean, min and max of their final accuracies, the numbers `compare` then judges (runs/significance.py).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from resnet_mnist.core.engine import TrainingOutcome
from resnet_mnist.runs.groups import parse_seeds

__all__ = ["add_seed_group_flags", "group_summary", "run_summary"]


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_seed_group_flags(train: argparse.ArgumentParser) -> None:
    train.add_argument(
        "--seeds",
        type=_seeds,
        metavar="LIST",
        help="train the recipe once per seed (1,2,3 or 1-3), one after another, as one seed group "
        "(replaces --seed); `compare` then tells whether another recipe differs beyond seed noise",
    )


def run_summary(run_id: str, run_dir: Path, outcome: TrainingOutcome) -> dict[str, Any]:
    """One run as `train --json` prints it (a branch's also names its parent: cli/branch.py)."""
    return {
        "run_id": run_id,
        "run_dir": str(run_dir),
        "state": outcome.state.value,
        "final_accuracy": outcome.final_accuracy,
        "best_accuracy": outcome.best_accuracy,
        "parent": None,
        "parent_epoch": None,
    }


def group_summary(group: str, results: list[tuple[str, Path, TrainingOutcome]]) -> dict[str, Any]:
    """A seed group as `train --seeds … --json` prints it: its runs, and their final accuracies' mean/min/max."""
    runs = [run_summary(*result) for result in results]
    finals = [r["final_accuracy"] for r in runs if r["final_accuracy"] is not None]
    return {
        "group": group,
        "runs": runs,
        "mean": math.fsum(finals) / len(finals) if finals else None,
        "min": min(finals, default=None),
        "max": max(finals, default=None),
    }
