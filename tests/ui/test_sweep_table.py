"""The Sweep tab's trials table in words (issue 25.6): trials Tune never ran, missing values, the node column."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from helpers import record_run, stopped_run

from resnet_mnist import RunStore
from resnet_mnist.runs.comparison import node_names
from resnet_mnist.sweeps.outcome import SweepState, TrialView
from resnet_mnist.ui.sweep_table import sweep_summary, trial_rows


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
    ended = trial_rows(trials, trials[0], {run.id: run}, sweep_ended=True)
    assert [r["state"] for r in ended] == ["finished", "not started", "not started"]  # as the banner counts it


def test_the_node_column_appears_when_trials_ran_on_several_nodes() -> None:
    head, worker = f"10.0.0.7 {'a' * 56}", f"10.0.0.7 {'b' * 56}"  # two nodes of one machine: one address
    trials = [TrialView(f"t{i}", "RUNNING", {}, node=node) for i, node in enumerate((head, worker, head, ""))]
    names = [r["node"] for r in trial_rows(trials, None, {})]
    assert names == ["10.0.0.7 · aaaaaa", "10.0.0.7 · bbbbbb", "10.0.0.7 · aaaaaa", None]
    assert node_names([" ", "", head]) == {head: "10.0.0.7 · aaaaaa"}  # a blank node (a hand-edited run) is none


def _fates_sweep(store: RunStore) -> tuple[list[TrialView], dict]:
    """Two finished trials, one stopped early by ASHA, one Tune ended before it ran."""
    runs = [record_run(store, [0.9], checkpoint=False) for _ in range(2)]
    runs.append(stopped_run(store, "stopped early by ASHA at epoch 1"))
    trials = [TrialView(f"t{i}", "TERMINATED", {}, run_id=run.id, epoch=1) for i, run in enumerate(runs)]
    trials.append(TrialView("t3", "TERMINATED", {}))
    return trials, {run.id: run for run in runs}


def test_an_ended_sweep_says_what_became_of_every_trial(tmp_path: Path) -> None:
    trials, runs = _fates_sweep(RunStore(tmp_path / "runs"))
    summary = sweep_summary(SweepState.FINISHED, trials, runs, total=4)
    assert summary == "finished: 2 finished, 1 stopped early by ASHA, 1 not started"
    # a stopped sweep's search drew 4 of its 8 trials: the other 4 never started, and are counted
    summary = sweep_summary(SweepState.STOPPED, trials, runs, total=8)
    assert summary == "stopped: 2 finished, 1 stopped early by ASHA, 5 not started"


def test_a_trial_whose_run_ended_counts_as_ended_before_tune_says_so(tmp_path: Path) -> None:
    """The lag: a trial's run record is final seconds before Tune's status for it (and the sweep) catch up."""
    trials, runs = _fates_sweep(RunStore(tmp_path / "runs"))
    lagging = [replace(t, status="RUNNING") if t.trial_id == "t2" else t for t in trials]  # Tune: still running
    summary = sweep_summary(SweepState.RUNNING, lagging, runs, total=4)
    assert (
        summary
        == "running: all 4 trials ended (2 finished, 1 stopped early by ASHA, 1 not started); the sweep is ending"
    )
    under_way = [*lagging[:3], TrialView("t3", "PENDING", {}), TrialView("t4", "RUNNING", {})]
    summary = sweep_summary(SweepState.RUNNING, under_way, runs, total=6)
    assert summary == "running: 3 of 6 trials ended (2 finished, 1 stopped early by ASHA), 1 starting, 2 waiting"
