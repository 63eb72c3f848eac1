"""SweepSpec expands to the right configs, refuses bad values, and a sweep runs through the worker."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from resnet_mnist import RunState, RunStore, TrainConfig, TrainingWorker, load_split
from resnet_mnist.comparison import load_curves
from resnet_mnist.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
from resnet_mnist.sweep import MAX_SWEEP_RUNS, SweepError, SweepSpec, new_sweep_id, parse_values

BASE = TrainConfig(train_limit=300, test_limit=100, epochs=1, device="cpu")


def test_grid_is_the_cartesian_product_of_the_value_lists() -> None:
    spec = SweepSpec(
        base=BASE, values={"lr": (0.01, 0.05, 0.1), "momentum": (0.5, 0.9), "batch_size": (32, 64), "epochs": (1, 2)}
    )
    configs = spec.configs()
    expected = set(itertools.product((0.01, 0.05, 0.1), (0.5, 0.9), (32, 64), (1, 2)))
    assert {(c.lr, c.momentum, c.batch_size, c.epochs) for c in configs} == expected
    assert len(configs) == spec.size == 24
    # Everything not swept comes from the base config.
    assert all(c.train_limit == 300 and c.test_limit == 100 and c.device == "cpu" for c in configs)


def test_empty_value_list_means_the_base_value() -> None:
    configs = SweepSpec(base=BASE, values={"lr": (0.01, 0.02)}).configs()
    assert [(c.lr, c.momentum, c.batch_size, c.epochs) for c in configs] == [(0.01, 0.5, 64, 1), (0.02, 0.5, 64, 1)]


def test_random_gives_n_distinct_configs_reproducibly() -> None:
    spec = SweepSpec(
        base=BASE, values={"lr": (0.001, 0.01, 0.05, 0.1), "momentum": (0.0, 0.5, 0.9)}, mode="random", n=5, seed=7
    )
    first, again = spec.configs(), spec.configs()
    assert first == again
    assert len(first) == 5 == len({(c.lr, c.momentum) for c in first})
    grid = {(c.lr, c.momentum) for c in SweepSpec(base=BASE, values=spec.values).configs()}
    assert {(c.lr, c.momentum) for c in first} <= grid
    other_seeds = [{(c.lr, c.momentum) for c in SweepSpec(**{**spec.__dict__, "seed": s}).configs()} for s in range(5)]
    assert len({frozenset(s) for s in other_seeds}) > 1  # the seed does choose


def test_random_n_larger_than_the_grid_gives_the_whole_grid() -> None:
    spec = SweepSpec(base=BASE, values={"lr": (0.01, 0.05)}, mode="random", n=10)
    assert spec.size == 2
    assert {c.lr for c in spec.configs()} == {0.01, 0.05}


@pytest.mark.parametrize(
    ("field", "values", "bad"),
    [
        ("lr", (0.01, -1.0), -1.0),
        ("momentum", (0.5, 1.5), 1.5),
        ("batch_size", (64, 0), 0),
        ("epochs", (0,), 0),
        ("batch_size", (500,), 500),  # more than the 300 training images of BASE
    ],
)
def test_invalid_values_are_refused_with_the_configs_own_message(field: str, values: tuple, bad: float) -> None:
    spec = SweepSpec(base=BASE, values={field: values})
    problems = spec.problems()
    config_problems = BASE.with_changes(**{field: bad}).problems(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE)
    assert config_problems and [str(p) for p in config_problems] == problems
    with pytest.raises(SweepError) as raised:
        spec.configs()
    assert raised.value.problems == problems


def test_bad_mode_and_too_big_sweeps_are_refused() -> None:
    assert "mode" in SweepSpec(mode="bayes").problems()[0]
    assert "can be swept" in SweepSpec(values={"device": ("cpu",)}).problems()[0]
    assert SweepSpec(mode="random", n=0).problems()
    big = SweepSpec(
        values={"lr": tuple(0.001 * (i + 1) for i in range(9)), "momentum": tuple(0.1 * i for i in range(8))}
    )
    assert big.size > MAX_SWEEP_RUNS and any("at most" in p for p in big.problems())


def test_to_dict_is_plain_json_and_round_trips() -> None:
    spec = SweepSpec(base=BASE, values={"lr": (0.01, 0.1), "batch_size": (32,)}, mode="random", n=2, seed=3)
    text = json.dumps(spec.to_dict())
    again = SweepSpec.from_dict(json.loads(text))
    assert again == spec
    assert again.configs() == spec.configs()


def test_parse_values() -> None:
    assert parse_values("0.01, 0.05 0.1; 0.05", float) == (0.01, 0.05, 0.1)
    assert parse_values("32, 64, 64.0", int) == (32, 64)
    assert parse_values("", float) == ()
    with pytest.raises(ValueError, match="'fast'"):
        parse_values("0.1, fast", float)
    with pytest.raises(ValueError, match="whole number"):
        parse_values("32, 48.5", int)


def test_a_sweep_of_four_runs_completes_through_the_worker_one_at_a_time(runs_dir: Path, data_root: Path) -> None:
    load_split(data_root, train=True)  # parsed once, so the runs themselves are what takes time
    store = RunStore(runs_dir)
    worker = TrainingWorker(store, data_root=data_root)
    spec = SweepSpec(base=BASE, values={"lr": (0.01, 0.05), "momentum": (0.5, 0.9)})
    sweep_id = new_sweep_id()
    worker.start(spec.configs(), name="grid", sweep=sweep_id)
    seen_finished: list[tuple[str, ...]] = []
    most_unfinished_on_disk = 0
    deadline = time.monotonic() + 240
    while worker.is_alive() and time.monotonic() < deadline:
        snap = worker.snapshot()
        if not seen_finished or seen_finished[-1] != snap.finished_run_ids:
            seen_finished.append(snap.finished_run_ids)
        unfinished = [r for r in store.runs() if not r.state.is_final]
        most_unfinished_on_disk = max(most_unfinished_on_disk, len(unfinished))
        time.sleep(0.02)
    assert worker.join(timeout=5), "the sweep did not finish in time"
    final = worker.snapshot()
    assert final.job_count == 4 and len(final.finished_run_ids) == 4
    # finished_run_ids only ever grew by appending, and never more than one run was in progress.
    for earlier, later in itertools.pairwise([*seen_finished, final.finished_run_ids]):
        assert later[: len(earlier)] == earlier
    assert most_unfinished_on_disk <= 1
    runs = [store.get(run_id) for run_id in final.finished_run_ids]
    assert all(r.state is RunState.FINISHED and r.sweep == sweep_id for r in runs)
    for before, after in itertools.pairwise(runs):  # each began after the one before it ended
        assert after.created >= before.updated
    assert [(r.config.lr, r.config.momentum) for r in runs] == [(c.lr, c.momentum) for c in spec.configs()]
    assert [r.name for r in runs] == [f"grid #{i}" for i in range(1, 5)]

    sweep_runs = [r for r in store.runs() if r.sweep == sweep_id]
    curves = load_curves(store, sweep_runs)
    assert {c.run_id for c in curves} == set(final.finished_run_ids)
    assert all(c.epochs == (1,) and len(c.test_accuracy) == 1 and c.train_loss for c in curves)
    assert len({c.label for c in curves}) == 4 and all("lr=" in c.label and "momentum=" in c.label for c in curves)
