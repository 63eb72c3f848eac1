"""The Runs page's node columns and the Sweep tab's empty cells (issue 25.6): a node reads 'node 1 · <address>'
and its column shows only when runs ran on several nodes, never on one machine; a missing value reads "—",
and each column that can have one says why in its help."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import end_epoch, ended_sweep, open_app_page
from streamlit.testing.v1 import AppTest

from resnet_mnist import RunState, RunStore, TrainConfig
from resnet_mnist.core.events import StateChanged
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.sweeps.outcome import SweepState, TrialView
from resnet_mnist.sweeps.spec import Axis, SweepSpec, new_sweep_id
from resnet_mnist.ui.formatting import MISSING
from resnet_mnist.ui.sweep_table import NODE_HELP

SPEC = SweepSpec(space={"lr": Axis(values=(0.01, 0.05, 0.1))}, search="grid", name="nodes")


def _sweep_on(runs_dir: Path, nodes: tuple[str, ...]) -> list[RunInfo]:
    """An ended sweep whose trials trained on `nodes` (one each, in that order), and one Tune never started."""
    store, sweep_id = RunStore(runs_dir), new_sweep_id(SPEC.name)
    runs = []
    for node in nodes:
        recorder = store.create(TrainConfig(epochs=1), device="cpu", sweep=sweep_id, node=node)
        recorder(StateChanged(RunState.RUNNING))
        end_epoch(recorder, 1)
        recorder(StateChanged(RunState.FINISHED))
        runs.append(store.get(recorder.run_id))
    trials = [
        TrialView(f"t{i}", "TERMINATED", {"lr": lr}, run_id=run.id, epoch=1, test_accuracy=0.9, best_accuracy=0.9)
        for i, (run, lr) in enumerate(zip(runs, SPEC.space["lr"].values, strict=False))
    ]
    trials.append(TrialView(f"t{len(runs)}", "TERMINATED", {"lr": 0.1}))  # ended before it ran: no run, no node
    ended_sweep(runs_dir, SPEC, SweepState.FINISHED, tuple(trials), sweep_id=sweep_id)
    return runs


def _tables(at: AppTest):
    """The Runs table's and the Sweep tab's trials table's elements."""
    [runs_table] = [d for d in at.dataframe if d.key and d.key.startswith("runs_table_")]
    [trial_table] = [d for d in at.dataframe if "trial" in d.value.columns]
    return runs_table, trial_table


def test_one_machine_shows_no_node_and_every_empty_cell_says_why() -> None:
    runs_dir = Path(os.environ["RESNET_MNIST_RUNS"])
    _sweep_on(runs_dir, (f"127.0.0.1 {'a' * 56}",))  # an earlier sweep: its own local Ray, a new node id
    _sweep_on(runs_dir, (f"127.0.0.1 {'b' * 56}", f"127.0.0.1 {'b' * 56}"))
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    runs_table, trial_table = _tables(at)
    assert "node" not in runs_table.proto.column_order and "node" not in trial_table.value.columns
    # The trials table: "—" in a cell with no value, and the column's help says when that happens
    assert trial_table.proto.placeholder == MISSING
    columns = json.loads(trial_table.proto.columns)
    empty = [name for name in trial_table.value.columns if trial_table.value[name].isna().any()]
    assert {"epoch", "test acc %", "best acc %", "run"} <= set(empty)  # the trial that never started
    helps = {name: columns.get(name, {}).get("help", "") for name in empty}
    assert all(f"{MISSING}: " in helps[name] for name in empty), helps


def test_trials_on_two_nodes_of_one_machine_read_node_1_and_node_2_in_both_tables() -> None:
    runs_dir = Path(os.environ["RESNET_MNIST_RUNS"])
    runs = _sweep_on(runs_dir, (f"127.0.0.1 {'h' * 56}", f"127.0.0.1 {'w' * 56}"))  # a Cluster's head, its worker
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    runs_table, trial_table = _tables(at)
    assert "node" in runs_table.proto.column_order
    names = dict(zip(runs_table.value["id"], runs_table.value["node"], strict=True))
    assert [names[run.id] for run in runs] == ["node 1 · 127.0.0.1", "node 2 · 127.0.0.1"]
    assert list(trial_table.value["node"])[:2] == ["node 1 · 127.0.0.1", "node 2 · 127.0.0.1"]
    for table in (runs_table, trial_table):
        assert json.loads(table.proto.columns)["node"]["help"].startswith(NODE_HELP)
