"""The verdict on two sides' final accuracies: Welch's interval checked against the textbook formula, the
verdicts on real seed groups, and the cases that get no interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from seed_groups import copy_of

from resnet_mnist import RunStore
from resnet_mnist.runs.groups import resolve_side
from resnet_mnist.runs.significance import BEYOND_NOISE, TOO_FEW_SEEDS, WITHIN_NOISE, judge


def welch_interval(a: list[float], b: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Welch–Satterthwaite by hand: the reference the verdict's interval must equal."""
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + confidence / 2, df) * math.sqrt(va + vb)
    difference = np.mean(b) - np.mean(a)
    return difference - half, difference + half


@pytest.fixture(scope="module")
def groups(seed_group_runs, tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, dict[str, str]]:
    root, made = copy_of(seed_group_runs, tmp_path_factory.mktemp("significance") / "runs")
    return RunStore(root), {"slow 1-3": made["slow"], "slow 4-6": made["slow again"], "fast 1-3": made["fast"]}


def test_the_interval_is_welchs(groups) -> None:
    store, made = groups
    runs = store.runs()
    a = resolve_side(made["slow 1-3"], runs).final_accuracies
    b = resolve_side(made["fast 1-3"], runs).final_accuracies
    verdict = judge(a, b)
    assert verdict.interval == pytest.approx(welch_interval(a, b), abs=1e-12)
    assert verdict.difference == pytest.approx(np.mean(b) - np.mean(a))
    assert (verdict.n_a, verdict.n_b) == (3, 3)


def test_a_ten_times_larger_lr_is_beyond_noise_and_other_seeds_of_one_recipe_are_not(groups) -> None:
    store, made = groups
    runs = store.runs()
    side = {key: resolve_side(group, runs).final_accuracies for key, group in made.items()}
    assert judge(side["slow 1-3"], side["fast 1-3"]).verdict == BEYOND_NOISE
    same = judge(side["slow 1-3"], side["slow 4-6"])
    assert same.verdict == WITHIN_NOISE
    assert same.interval[0] < 0 < same.interval[1]


def test_a_single_run_on_either_side_is_too_few_seeds_with_its_difference(groups) -> None:
    store, made = groups
    runs = store.runs()
    group = resolve_side(made["fast 1-3"], runs)
    single = resolve_side(resolve_side(made["slow 1-3"], runs).runs[0].id, runs)  # a run id names one run
    assert single.group is None and len(single.runs) == 1
    verdict = judge(single.final_accuracies, group.final_accuracies)
    assert verdict.verdict == TOO_FEW_SEEDS and verdict.interval is None
    assert verdict.difference == pytest.approx(np.mean(group.final_accuracies) - single.final_accuracies[0])
    assert "too few seeds" in verdict.sentence()


def test_seeds_without_any_spread_make_any_difference_beyond_noise() -> None:
    assert judge([0.9, 0.9], [0.91, 0.91]).verdict == BEYOND_NOISE
    assert judge([0.9, 0.9], [0.9, 0.9]).verdict == WITHIN_NOISE


def test_a_side_with_no_accuracy_gives_no_difference() -> None:
    verdict = judge([], [0.9, 0.8])
    assert verdict.verdict == TOO_FEW_SEEDS and verdict.difference is None
