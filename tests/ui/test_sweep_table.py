"""The Sweep tab's trials table in words (issue 25.6): trials Tune never ran, missing values, the node column."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from helpers import record_run, stopped_run

from resnet_mnist import RunState, RunStore, TrainConfig
from resnet_mnist.core.events import StateChanged
from resnet_mnist.runs.comparison import node_names, run_table_rows, table_columns
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.sweeps.outcome import SweepState, TrialView
from resnet_mnist.ui.sweep_table import NODE_HELP, sweep_summary, trial_rows


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


def _trial_run(store: RunStore, sweep: str, node: str) -> RunInfo:
    """A finished trial of `sweep`, trained on `node` ('<ip> <Ray node id>', as the trainable records it)."""
    recorder = store.create(TrainConfig(epochs=1), device="cpu", sweep=sweep, node=node)
    recorder(StateChanged(RunState.RUNNING))
    recorder(StateChanged(RunState.FINISHED))
    return store.get(recorder.run_id)


def test_nodes_read_node_n_and_their_address_numbered_by_when_their_trials_started(tmp_path: Path) -> None:
    head, worker, other = f"10.0.0.7 {'a' * 56}", f"10.0.0.7 {'b' * 56}", f"10.0.0.8 {'c' * 56}"
    store = RunStore(tmp_path / "runs")
    runs = [_trial_run(store, "sweep-x", node) for node in (head, worker, other, head)]  # in this order
    trials = [TrialView(f"t{i}", "TERMINATED", {}, run_id=run.id) for i, run in enumerate(reversed(runs))]
    trials += [TrialView("t4", "RUNNING", {}, node=f"10.0.0.9 {'d' * 56}"), TrialView("t5", "PENDING", {})]
    names = [r["node"] for r in trial_rows(trials, None, {run.id: run for run in runs})]
    # Ray's id is gone; the first node a trial started on is node 1, however the table lists the trials
    assert names == [
        *("node 1 · 10.0.0.7", "node 3 · 10.0.0.8", "node 2 · 10.0.0.7", "node 1 · 10.0.0.7"),
        "node 4 · 10.0.0.9",  # Tune named its node, its run is not readable yet
        None,  # not started: shown as "—"
    ]
    assert "'node 1 · 10.0.0.7'" in NODE_HELP  # the help shows what the column shows
    # the Runs table names each run's node the same, in any order
    for listed in (runs, runs[::-1]):
        rows = {row["id"]: row["node"] for row in run_table_rows(listed, None)}
        assert rows == {trial.run_id: name for trial, name in zip(trials, names, strict=True) if trial.run_id}
    assert node_names([" ", "", head]) == {head: "node 1 · 10.0.0.7"}  # a blank node (a hand-edited run) is none


def test_the_runs_table_shows_nodes_only_when_its_runs_ran_on_several(tmp_path: Path) -> None:
    """One machine, a fresh local Ray (a new Ray node id) for each sweep: the same node, no column."""
    store = RunStore(tmp_path / "runs")
    runs = [_trial_run(store, sweep, f"127.0.0.1 {c * 56}") for sweep, c in (("sweep-a", "a"), ("sweep-b", "b"))]
    runs.append(record_run(store, checkpoint=False))  # trained on the Train page: no node
    rows = run_table_rows(runs, None)
    assert [row["node"] for row in rows] == ["node 1 · 127.0.0.1", "node 1 · 127.0.0.1", None]
    assert "node" not in table_columns(rows) and "node" in table_columns()
    runs.append(_trial_run(store, "sweep-b", f"127.0.0.1 {'c' * 56}"))  # sweep-b's second node (a Cluster)
    rows = run_table_rows(runs, None)
    assert rows[-1]["node"] == "node 2 · 127.0.0.1" and "node" in table_columns(rows)


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
