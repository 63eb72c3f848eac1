"""The Sweep tab's trials table in words (issue 25.6): trials Tune never ran, missing values, the node column."""

from __future__ import annotations

from pathlib import Path

from helpers import record_run

from resnet_mnist import RunStore
from resnet_mnist.sweeps.outcome import TrialView
from resnet_mnist.ui.sweep_table import trial_rows


def test_trials_that_never_ran_say_so_and_their_missing_values_stay_empty(tmp_path: Path) -> None:
    run = record_run(RunStore(tmp_path / "runs"), [0.8, 0.9])
    trials = [
        TrialView("t1", "TERMINATED", {"lr": 0.01}, run_id=run.id, epoch=2, test_accuracy=0.9, best_accuracy=0.9),
        TrialView("t2", "TERMINATED", {"lr": 0.05}),  # ended by Tune before it ever ran
        TrialView("t3", "PENDING", {"lr": 0.1}),
    ]
    rows = trial_rows(trials, trials[0], {run.id: run})
    assert [r["state"] for r in rows] == ["finished", "not started", "waiting"]
    assert [r["best"] for r in rows] == ["★", "", ""]
    assert [r["epoch"] for r in rows] == [2, None, None]  # shown as "—", never Tune's epoch 0
    assert rows[1]["test acc %"] is None and rows[1]["run"] is None and rows[1]["reason"] is None
    assert [r["lr"] for r in rows] == [0.01, 0.05, 0.1]
    assert all("node" not in r for r in rows)  # one machine: a node id says nothing


def test_the_node_column_appears_when_trials_ran_on_several_nodes() -> None:
    trials = [TrialView("t1", "RUNNING", {}, node="node-a"), TrialView("t2", "RUNNING", {}, node="node-b")]
    assert [r["node"] for r in trial_rows(trials, None, {})] == ["node-a", "node-b"]
