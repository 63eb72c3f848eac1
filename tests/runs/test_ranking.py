"""The best run: one rule for the runs table, the Draw page's default model and the Overview."""

from __future__ import annotations

import time
from pathlib import Path

from helpers import record_run

from resnet_mnist import RunState, RunStore
from resnet_mnist.runs.ranking import best_run
from resnet_mnist.ui.model_choice import default_run_id


def test_the_best_finished_run_beats_newer_worse_and_failed_ones(runs_dir: Path) -> None:
    """The issue's case: a stopped 93.2% run is the newest, a 97.5% one exists; failed and dead runs never win."""
    store = RunStore(runs_dir)
    good = record_run(store, [0.95, 0.975], RunState.FINISHED, name="good")
    record_run(store, [0.99], RunState.FAILED)  # diverged after a fine first epoch
    record_run(store, [0.995], RunState.RUNNING)  # the server died during it: "interrupted"
    time.sleep(1.1)  # run ids carry the creation time to the second
    newest = record_run(store, [0.932], RunState.STOPPED, name="newest")
    assert store.runs()[0] == newest == store.latest_usable()  # what the Draw page used to default to
    assert best_run(store.runs()) == good
    assert default_run_id(store) == good.id  # the Draw page's model when nobody chose one
    assert default_run_id(store, wanted=newest.id) == newest.id  # a person's choice still wins


def test_a_stopped_run_can_be_best_and_ties_go_to_the_newer(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    record_run(store, [0.97], RunState.FINISHED)
    time.sleep(1.1)  # run ids carry the creation time to the second
    stopped = record_run(store, [0.97], RunState.STOPPED)
    assert best_run(store.runs()) == stopped


def test_a_run_without_a_checkpoint_is_best_in_the_table_but_not_for_drawing(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    with_weights = record_run(store, [0.96], RunState.FINISHED)
    without = record_run(store, [0.98], RunState.FINISHED, checkpoint=False)
    assert best_run(store.runs()) == without
    assert best_run(store.runs(), needs_checkpoint=True) == with_weights
    assert default_run_id(store) == with_weights.id


def test_another_score_can_rank_and_unscored_runs_never_win(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    high = record_run(store, [0.99], RunState.FINISHED, name="high test accuracy")
    neat = record_run(store, [0.95], RunState.FINISHED, name="reads my handwriting")
    handwriting = {neat.id: 0.9}
    assert best_run(store.runs(), score=lambda run: handwriting.get(run.id)) == neat
    assert best_run(store.runs(), score=lambda run: None) is None
    assert best_run(store.runs()) == high


def test_no_runs_or_none_ended_well_means_no_best(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    assert best_run(store.runs()) is None
    record_run(store, [0.9], RunState.FAILED)
    record_run(store, [], RunState.STOPPED)  # stopped before its first epoch ended: no accuracy yet
    assert best_run(store.runs()) is None
