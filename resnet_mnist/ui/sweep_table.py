"""The Sweep tab's trials table: one row per trial, in words a person reads, not Tune's.

A trial Tune ended before it ever ran (the sweep was stopped, or ended, first) has no run: it reads
"not started" (Tune says TERMINATED, epoch 0); one still waiting for cores reads "waiting". Missing
values stay empty (the table shows "—"), and the node column only appears when trials ran on several
nodes: on one machine a node id says nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from resnet_mnist.runs.comparison import display_state
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.sweeps.outcome import TrialView
from resnet_mnist.sweeps.spec import SWEPT_FIELDS

__all__ = ["trial_rows"]

_WITHOUT_A_RUN = {"PENDING": "waiting", "TERMINATED": "not started", "ERROR": "failed to start"}


def _state(trial: TrialView, run: RunInfo | None) -> str:
    if run is not None:
        return display_state(run, None)  # a dead trial's run reads interrupted
    return _WITHOUT_A_RUN.get(trial.status, trial.status.lower())


def trial_rows(
    trials: Sequence[TrialView], best: TrialView | None, runs_by_id: Mapping[str, RunInfo]
) -> list[dict[str, Any]]:
    """One row per trial; of the swept settings only those that differ between trials (the rest say nothing)."""
    varying = [k for k in SWEPT_FIELDS if len({repr(t.values.get(k)) for t in trials}) > 1]
    several_nodes = len({t.node for t in trials if t.node}) > 1
    rows = []
    for trial in trials:
        run = runs_by_id.get(trial.run_id or "")
        reason = (run.reason if run else trial.error) or ""
        row = {
            "best": "★" if best is not None and trial.trial_id == best.trial_id else "",
            "trial": trial.trial_id,
            "state": _state(trial, run),
            **{k: trial.values.get(k) for k in varying},
            "epoch": run.epochs_done if run else (trial.epoch or None),
            "test acc %": None if trial.test_accuracy is None else round(100 * trial.test_accuracy, 2),
            "best acc %": None if trial.best_accuracy is None else round(100 * trial.best_accuracy, 2),
            "stopped early": "early" in reason,
            "reason": reason or None,
            "run": trial.run_id or None,
        }
        if several_nodes:
            row["node"] = (run.node if run else trial.node)[:24] or None
        rows.append(row)
    return rows
