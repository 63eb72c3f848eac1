"""The Sweep tab's trials table: one row per trial, in words a person reads, not Tune's.

A trial Tune ended before it ever ran (the sweep was stopped, or ended, first) has no run: it reads
"not started" (Tune says TERMINATED, epoch 0); one still waiting for cores reads "waiting". Missing
values stay empty (the table shows "—"), and the node column only appears when trials ran on several
nodes: on one machine a node says nothing. There a node reads "node 1 · 10.0.0.7": numbered in the order
the sweep's trials started on them, then its address (runs.comparison.node_names), as in the Runs table.

`sweep_summary` is the Runs page's banner: what became of every trial, in the same words. It reads each
trial's fate from its run record first, Tune's status only for a trial with no run: a trial writes its
record as it ends, while Tune's status for it (and the sweep's own end, after Ray's teardown) comes
seconds later, so counting Tune's "ended" trials lagged what the table already showed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from resnet_mnist.core.events import RunState
from resnet_mnist.runs.comparison import display_state, node_names, nodes_by_start
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.sweeps.outcome import SweepState, TrialView
from resnet_mnist.sweeps.spec import SWEPT_FIELDS

__all__ = ["NODE_HELP", "sweep_summary", "trial_fates", "trial_rows"]

# The node column's help, in the Sweep tab and the Runs table: exactly what node_names shows.
NODE_HELP = (
    "The Ray node that trained it, as 'node 1 · 10.0.0.7': nodes numbered within its sweep in the order its "
    "trials started on them (node 1: where the first trial started), then the node's address. Nodes of one "
    "machine share an address; the number tells them apart. Shown only when trials ran on more than one node."
)

_WITHOUT_A_RUN = {"PENDING": "waiting", "TERMINATED": "not started", "ERROR": "failed to start"}


def _state(trial: TrialView, run: RunInfo | None, sweep_ended: bool) -> str:
    if run is not None:
        return display_state(run, None)  # a dead trial's run reads interrupted
    return _fate(trial, None, sweep_ended)  # the banner's word for it: waiting, or not started once it ended


def trial_rows(
    trials: Sequence[TrialView],
    best: TrialView | None,
    runs_by_id: Mapping[str, RunInfo],
    sweep_ended: bool = False,
) -> list[dict[str, Any]]:
    """One row per trial; of the swept settings only those that differ between trials (the rest say nothing)."""
    varying = [k for k in SWEPT_FIELDS if len({repr(t.values.get(k)) for t in trials}) > 1]
    trial_runs = [runs_by_id[t.run_id] for t in trials if t.run_id in runs_by_id]
    # numbered as the Runs table numbers them: by when the runs started, then nodes Tune named without a run
    nodes = node_names([*nodes_by_start(trial_runs), *(t.node for t in trials if t.run_id not in runs_by_id)])
    rows = []
    for trial in trials:
        run = runs_by_id.get(trial.run_id or "")
        reason = (run.reason if run else trial.error) or ""
        row = {
            "best": "★" if best is not None and trial.trial_id == best.trial_id else "",
            "trial": trial.trial_id,
            "state": _state(trial, run, sweep_ended),
            **{k: trial.values.get(k) for k in varying},
            "epoch": run.epochs_done if run else (trial.epoch or None),
            "test acc %": None if trial.test_accuracy is None else round(100 * trial.test_accuracy, 2),
            "best acc %": None if trial.best_accuracy is None else round(100 * trial.best_accuracy, 2),
            "stopped early": "early" in reason,
            "reason": reason or None,
            "run": trial.run_id or None,
        }
        if len(nodes) > 1:
            row["node"] = nodes.get(run.node if run else trial.node)
        rows.append(row)
    return rows


# A trial's fate, in the order the banner lists them; the first three are not ended yet.
_UNDER_WAY = ("training", "starting", "waiting")
_FATES = (*_UNDER_WAY, "finished", "stopped early by ASHA", "stopped early by Ray Tune", "stopped", "failed")
_STARTED_WITHOUT_A_RUN = {"PENDING": "waiting", "RUNNING": "starting"}


def _fate(trial: TrialView, run: RunInfo | None, sweep_ended: bool) -> str:
    if run is None:
        if trial.status in _STARTED_WITHOUT_A_RUN:
            return "not started" if sweep_ended else _STARTED_WITHOUT_A_RUN[trial.status]
        return _WITHOUT_A_RUN.get(trial.status, trial.status.lower())
    if run.state is RunState.STOPPED:
        reason = run.reason or ""
        return next((f for f in _FATES if f.startswith("stopped early") and reason.startswith(f)), "stopped")
    if run.state.is_final:
        return run.state.value
    return "interrupted" if sweep_ended else "training"  # its record not final yet: it still trains


def trial_fates(
    trials: Sequence[TrialView], runs_by_id: Mapping[str, RunInfo], total: int, sweep_ended: bool
) -> Counter[str]:
    """How many trials met each fate; the `total - len(trials)` trials Tune never drew (a stopped sweep's, or
    a lazy search's not drawn yet) count as not started (or waiting)."""
    fates = Counter(_fate(t, runs_by_id.get(t.run_id or ""), sweep_ended) for t in trials)
    undrawn = max(0, total - len(trials))
    if undrawn:
        fates["not started" if sweep_ended else "waiting"] += undrawn
    return fates


def sweep_summary(state: SweepState, trials: Sequence[TrialView], runs_by_id: Mapping[str, RunInfo], total: int) -> str:
    """'finished: 5 finished, 2 stopped early by ASHA, 1 not started' once the sweep ended; while it runs,
    'running: 3 of 8 trials ended (2 finished, 1 failed), 2 training, 3 waiting'."""
    ended = state.is_final or state is SweepState.IDLE
    fates = trial_fates(trials, runs_by_id, total, ended)
    order = [*_FATES, *sorted(set(fates) - set(_FATES))]  # not started, failed to start, interrupted, …
    listed = ", ".join(f"{fates[f]} {f}" for f in order if fates[f] and f not in _UNDER_WAY)
    if ended:
        return f"{state}: {listed or 'no trials'}"
    done = sum(n for f, n in fates.items() if f not in _UNDER_WAY)
    count = max(total, sum(fates.values()))
    if done == count:  # every trial has ended; Ray Tune is still shutting down
        return f"{state}: all {count} trials ended ({listed}); the sweep is ending"
    under_way = ", ".join(f"{fates[f]} {f}" for f in _UNDER_WAY if fates[f])
    return f"{state}: {done} of {count} trials ended" + (f" ({listed})" if listed else "") + f", {under_way}"
