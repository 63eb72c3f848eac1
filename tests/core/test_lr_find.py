"""The learning-rate range test on real MNIST slices: a sane suggestion, a stop at the blow-up, bounded work."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from resnet_mnist import load_split
from resnet_mnist.core.lr_find import MAX_STEPS, LrFindError, LrFindSettings, LrFindStep, find_lr, valley


@pytest.fixture(scope="module")
def images(data_root: Path):
    return load_split(data_root, train=True, limit=2000)


def test_the_suggestion_lies_in_the_falling_stretch_below_the_blow_up(images) -> None:
    steps: list[LrFindStep] = []
    result = find_lr(images, LrFindSettings(), emit=steps.append)
    assert result.diverged_at is not None  # a ramp to lr 10 blows the seed's net up
    assert result.low <= result.suggested_lr <= result.high < result.diverged_at
    assert result.lrs[-1] < result.diverged_at  # the curve stops before the region that diverged
    at = result.lrs.index(result.suggested_lr)
    assert result.losses[at] < result.losses[0]  # the loss is falling there, not flat or rising
    assert all(result.low <= lr <= result.high for lr in result.repeat_suggestions)  # the band spans each ramp's pick
    assert len(steps) == result.steps


def test_more_momentum_suggests_a_smaller_lr(images) -> None:
    """SGD's step grows as lr / (1 - momentum): momentum 0.9 moves ~5x as far as 0.5 at the same lr (a short
    ramp sees less of it: momentum builds up over some ten steps, so the picks differ by ~1.5-2x)."""
    calm = find_lr(images, LrFindSettings(momentum=0.5)).suggested_lr
    brisk = find_lr(images, LrFindSettings(momentum=0.9)).suggested_lr
    assert brisk < calm / 1.2


def test_a_ramp_that_cannot_blow_up_runs_every_step_and_says_it_never_diverged(images) -> None:
    settings = LrFindSettings(start_lr=1e-5, end_lr=1e-3, steps=20, repeats=2)
    result = find_lr(images, settings)
    assert result.diverged_at is None
    assert result.steps == 40 and len(result.lrs) == 20
    assert result.lrs[0] == pytest.approx(1e-5) and result.lrs[-1] == pytest.approx(1e-3)


def test_the_work_is_bounded_and_follows_the_ramp(images) -> None:
    settings = LrFindSettings(steps=30, repeats=2, start_lr=1e-3, end_lr=100.0)
    seen: list[LrFindStep] = []
    result = find_lr(images, settings, emit=seen.append)
    assert result.steps == len(seen) <= 60
    for step in seen:
        assert step.lr == pytest.approx(1e-3 * 1e5 ** (step.step / 29))
    assert result.diverged_at is not None and result.diverged_at < 100.0  # it stopped on the blow-up
    assert len(seen) < 60


def test_a_stop_request_ends_it_with_what_was_measured(images) -> None:
    seen: list[LrFindStep] = []
    result = find_lr(images, LrFindSettings(), emit=seen.append, should_stop=lambda: len(seen) >= 15)
    assert result.stopped and result.steps == 15 and len(result.lrs) == 15


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"momentum": 1.0}, "momentum"),
        ({"batch_size": 0}, "batch size"),
        ({"steps": MAX_STEPS + 1}, "steps"),
        ({"repeats": 0}, "repeats"),
        ({"start_lr": 0.0}, "lr range"),
        ({"end_lr": math.inf}, "lr range"),
    ],
)
def test_bad_settings_are_refused_by_name(images, changes: dict, named: str) -> None:
    with pytest.raises(LrFindError, match=named):
        find_lr(images, LrFindSettings(**changes))


def test_the_valley_runs_from_where_the_loss_leaves_its_start_to_its_lowest_point() -> None:
    flat, fall, rise = [2.3, 2.31, 2.29, 2.3] * 3, [2.2 - 0.1 * i for i in range(10)], [1.5, 2.0, 3.0]
    start, end, pick = valley(flat + fall + rise)
    assert (start, end) == (len(flat) + 1, len(flat) + 9)  # 2.1 is the first tenth of the fall (2.3 -> 1.3)
    assert pick == start + round(2 / 3 * (end - start))
    assert valley([2.3, 2.4, 2.5]) == (0, 0, 0)  # a loss that never fell: the ramp's start
