"""The Runs page's sweep banner (issue 25.6b): once a sweep has ended it says what became of every trial
("finished: 2 finished, 1 stopped early by ASHA, 1 not started"), never "3 of 4 trials ended"; and a
restarted server shows how the last sweep ended, with its trials, and can run it again."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import ended_sweep, open_app_page, record_run, stopped_run

from resnet_mnist import RunStore, TrainConfig
from resnet_mnist.sweeps.outcome import SweepState, TrialView
from resnet_mnist.sweeps.spec import Axis, SweepSpec

SPEC = SweepSpec(space={"lr": Axis(values=(0.01, 0.05))}, search="random", samples=4, scheduler="asha", name="banner")


def test_an_ended_sweep_says_what_became_of_every_trial() -> None:
    runs_dir = Path(os.environ["RESNET_MNIST_RUNS"])
    store = RunStore(runs_dir)
    runs = [record_run(store, [0.9], checkpoint=False) for _ in range(2)]
    runs.append(stopped_run(store, "stopped early by ASHA at epoch 1"))
    trials = (
        *(
            TrialView(f"t{i}", "TERMINATED", {"lr": 0.01}, run_id=r.id, epoch=1, best_accuracy=0.9)
            for i, r in enumerate(runs)
        ),
        TrialView("t3", "TERMINATED", {"lr": 0.05}),  # Tune ended it before it ran
    )
    sweep_id = ended_sweep(runs_dir, SPEC, SweepState.FINISHED, trials)
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    [banner] = [s.value for s in at.success if sweep_id in s.value]
    assert "finished: 2 finished, 1 stopped early by ASHA, 1 not started" in banner, banner
    assert " of " not in banner  # never "3 of 4 trials ended" for an ended sweep
    [trial_table] = [d.value for d in at.dataframe if "trial" in d.value.columns]
    assert list(trial_table["state"]) == ["finished", "finished", "stopped", "not started"]
    assert at.button(key="sweep_run_again")  # the ended sweep can be run again


def test_the_best_trial_links_to_train_with_its_own_settings() -> None:
    """Issue 25.6: the best-trial box has "Use these settings", with the best trial's lr, not the base's."""
    runs_dir = Path(os.environ["RESNET_MNIST_RUNS"])
    store = RunStore(runs_dir)
    lrs_and_scores = ((0.01, 0.91), (0.05, 0.97))
    runs = [record_run(store, [score], config=TrainConfig(epochs=1, lr=lr)) for lr, score in lrs_and_scores]
    record_run(store, [0.99], config=TrainConfig(epochs=1, lr=0.2))  # the best run, not a trial: its own link
    trials = tuple(
        TrialView(f"t{i}", "TERMINATED", {"lr": lr}, run_id=run.id, epoch=1, best_accuracy=score)
        for i, (run, (lr, score)) in enumerate(zip(runs, lrs_and_scores, strict=True))
    )
    ended_sweep(runs_dir, SPEC, SweepState.FINISHED, trials)
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    assert any(s.value.startswith("Best trial: t1 ") for s in at.success), [s.value for s in at.success]
    links = [link.proto for link in at.get("page_link") if link.proto.label == "Use these settings"]
    queries = [dict(pair.split("=") for pair in link.query_string.split("&")) for link in links]
    assert any(q.get("lr") == "0.05" and q.get("epochs") == "1" for q in queries), queries
    assert not any(q.get("lr") == "0.01" for q in queries)  # the weaker trial's settings are offered nowhere
    assert any(q.get("lr") == "0.2" for q in queries)  # the Runs page's best run, above the tabs
