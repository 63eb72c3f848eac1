"""A seed group in the worker: the recipe once per seed, one run after another as one job; Stop ends the group."""

from __future__ import annotations

from helpers import WAIT, wait_for

from resnet_mnist import RunState, TrainConfig, TrainingWorker

QUICK = TrainConfig(epochs=1, train_limit=600, test_limit=200, log_interval=5, device="cpu")
LONG = TrainConfig(epochs=20, train_limit=6000, test_limit=200, log_interval=1, device="cpu")


def test_a_group_trains_each_seed_as_its_own_run_recording_the_group(worker: TrainingWorker) -> None:
    group = worker.start_group(QUICK, (3, 4, 5), name="quick")
    wait_for(worker, lambda s: s.about is not None and "seed group" in s.about)
    assert worker.join(WAIT)
    runs = sorted(worker.store.runs(), key=lambda r: r.config.seed)  # ids made in one second sort at random
    assert [r.config.seed for r in runs] == [3, 4, 5]
    assert {r.group for r in runs} == {group} and all(r.state is RunState.FINISHED for r in runs)
    assert [r.name for r in runs] == ["quick · seed 3", "quick · seed 4", "quick · seed 5"]
    assert len({r.final_accuracy for r in runs}) > 1  # the seeds really differ
    assert worker.snapshot().about == f"Seed 5 (3 of 3) of seed group {group}"


def test_stop_ends_the_whole_group(worker: TrainingWorker) -> None:
    worker.start_group(LONG, (1, 2, 3))
    wait_for(worker, lambda s: len(s.batches) > 2)
    assert worker.stop(timeout=WAIT)
    runs = worker.store.runs()
    assert len(runs) == 1 and runs[0].state is RunState.STOPPED and runs[0].config.seed == 1
