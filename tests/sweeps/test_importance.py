"""Which swept setting mattered, on trials really trained on a slice of MNIST: lr over four decades against
momentum over a sliver of its range, as the README's 12-trial sweep (without Ray: the computation is pure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from resnet_mnist import RunState, RunStore, TrainConfig, run_training
from resnet_mnist.sweeps.importance import MIN_TRIALS, TARGET_QUANTILE, importance_of, sweep_trials

SWEEP = "sweep-20261205-000000-test"


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory, data_root: Path):
    """12 trials drawn as a random sweep draws them: lr log-uniform in [1e-4, 1], momentum in [0.45, 0.55]."""
    store = RunStore(tmp_path_factory.mktemp("importance") / "runs")
    rng = np.random.default_rng(0)
    for _ in range(12):
        config = TrainConfig(
            epochs=1,
            lr=float(10 ** rng.uniform(-4, 0)),
            momentum=float(rng.uniform(0.45, 0.55)),
            train_limit=600,
            test_limit=300,
            device="cpu",
        )
        recorder = store.create(config, device="cpu", sweep=SWEEP)
        assert run_training(config, recorder, data_root=str(data_root)).state in (RunState.FINISHED, RunState.FAILED)
    other = store.create(TrainConfig(epochs=1), device="cpu", sweep="another")  # not one of this sweep's
    other.close()
    return sweep_trials(store.runs(), SWEEP)


def test_the_needed_trials_follow_optunas_advice_of_five_above_the_target_quantile() -> None:
    assert np.ceil(TARGET_QUANTILE * MIN_TRIALS) >= 5 > np.ceil(TARGET_QUANTILE * (MIN_TRIALS - 1))


def test_lr_over_four_decades_matters_more_than_a_sliver_of_momentum(trials) -> None:
    assert len(trials) >= MIN_TRIALS  # trials that failed before their first test do not count
    result = importance_of(trials)
    assert result.enough and result.swept == ("lr", "momentum")
    first, second = result.settings
    assert first.name == "lr" and first.value > second.value
    assert first.value + second.value == pytest.approx(1.0)
    for setting in result.settings:
        assert 0 <= setting.low <= setting.value <= setting.high <= 1
    assert first.first > 0.5  # lr ranks first in most resampled sweeps
    assert result.as_dict()["importance"]["lr"]["value"] == first.value


def test_too_few_trials_say_so_instead_of_ranking(trials) -> None:
    result = importance_of(trials[: MIN_TRIALS - 1])
    assert not result.enough and result.settings == ()
    assert result.reason == f"not enough trials: {MIN_TRIALS - 1} scored, {MIN_TRIALS} needed to tell"
    assert result.as_dict()["importance"] == {}


def test_a_setting_that_took_one_value_is_not_ranked(trials) -> None:
    same_momentum = [type(t)(t.run_id, {**t.params, "momentum": 0.5}, t.accuracy) for t in trials]
    result = importance_of(same_momentum)
    assert result.swept == ("lr",) and not result.enough
    assert "only one setting" in result.reason


def test_the_same_trials_give_the_same_numbers(trials) -> None:
    assert importance_of(trials) == importance_of(trials)
