"""SweepSpec as plain data: lists and ranges, counting without listing, validation, JSON, estimates."""

from __future__ import annotations

import json
import os
import time
import tracemalloc

import pytest

from resnet_mnist import TrainConfig
from resnet_mnist.core.config import SETTINGS
from resnet_mnist.sweeps.estimate import MachineSpeed, estimate_sweep
from resnet_mnist.sweeps.spec import MAX_TRIALS, Axis, SweepError, SweepSpec, parse_axis, parse_values

BASE = TrainConfig(train_limit=300, test_limit=100, epochs=1, device="cpu")


def test_parse_axis_reads_lists_ranges_and_log_ranges() -> None:
    assert parse_axis("0.01, 0.05 0.01", float) == Axis(values=(0.01, 0.05))
    assert parse_axis("0.001:0.5:log", float) == Axis(low=0.001, high=0.5, log=True)
    assert parse_axis("0.0:0.95", float) == Axis(low=0.0, high=0.95)
    assert parse_axis("32:256", int) == Axis(low=32, high=256)
    assert parse_axis("  ", float) is None
    for bad in ("0.1:0.2:lin", "1:2:3:4", "a:b"):
        with pytest.raises(ValueError):
            parse_axis(bad, float)
    with pytest.raises(ValueError, match="whole number"):
        parse_axis("32, 48.5", int)
    assert parse_values("0.01, 0.05 0.1; 0.05", float) == (0.01, 0.05, 0.1)


def test_a_choice_setting_is_swept_over_its_choices_only() -> None:
    choices = SETTINGS["precision"].choices
    assert parse_axis("FP32, bf16 fp32", str, choices) == Axis(values=("fp32", "bf16"))
    assert parse_axis("", str, choices) is None
    with pytest.raises(ValueError, match="'fp16' is not one of fp32, bf16, auto"):
        parse_axis("fp32, fp16", str, choices)
    with pytest.raises(ValueError, match="is not one of"):
        parse_axis("0:1", str, choices)  # a choice setting has no ranges
    spec = SweepSpec(base=BASE, space={"precision": Axis(values=("fp32", "bf16")), "lr": Axis(values=(0.01, 0.05))})
    spec = SweepSpec(**{**spec.__dict__, "search": "grid"})
    assert spec.trial_count == 4 and spec.problems() == []
    assert spec.trial_config({"precision": "bf16", "lr": 0.05}).precision == "bf16"
    assert SweepSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_grid_counts_its_trials_without_listing_them() -> None:
    # 100^6 = 10^12 combinations: listing them would take hours and terabytes; counting takes nothing.
    axes = {name: Axis(values=tuple(range(1, 101))) for name in ("batch_size", "epochs", "train_limit")}
    axes |= {name: Axis(values=tuple(0.001 * i for i in range(1, 101))) for name in ("lr", "momentum")}
    spec = SweepSpec(base=BASE, space=axes, search="grid")
    tracemalloc.start()
    started = time.perf_counter()
    count = spec.trial_count
    problems = spec.problems()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 100**5
    assert any(f"at most {MAX_TRIALS}" in p for p in problems)
    assert peak < 5_000_000 and time.perf_counter() - started < 30


def test_random_and_optuna_run_the_number_of_samples() -> None:
    space = {"lr": Axis(low=0.001, high=0.5, log=True), "momentum": Axis(values=(0.5, 0.9))}
    assert SweepSpec(base=BASE, space=space, search="random", samples=16).trial_count == 16
    assert SweepSpec(base=BASE, space=space, search="optuna", samples=5).problems() == []


@pytest.mark.parametrize(
    ("space", "search", "expected"),
    [
        ({"lr": Axis(low=0.01, high=0.1)}, "grid", "grid search needs a list"),
        ({"lr": Axis(low=0.1, high=0.01)}, "random", "low < high"),
        ({"lr": Axis(low=0.0, high=0.1, log=True)}, "random", "log range must start above 0"),
        ({"lr": Axis(values=(0.01, -1.0))}, "random", "lr: must be greater than 0"),
        ({"momentum": Axis(low=0.5, high=1.5)}, "random", "momentum: must be in [0, 1)"),
        ({"batch_size": Axis(values=(64, 500))}, "grid", "batch_size: must be at most 300"),
        ({"epochs": Axis(values=())}, "grid", "give at least one value"),
        ({"seed": Axis(values=(1, 2))}, "grid", "cannot sweep seed"),
        ({"batch_size": Axis(values=(512,)), "train_limit": Axis(values=(256, 1000))}, "grid", "more than the 256"),
        ({"precision": Axis(values=("fp32", "fp16"))}, "grid", "precision: must be one of fp32, bf16, auto"),
        ({"precision": Axis(low=0, high=2)}, "random", "precision: list the choices to try"),
    ],
)
def test_bad_spaces_are_refused_naming_the_setting(space: dict, search: str, expected: str) -> None:
    spec = SweepSpec(base=BASE.with_changes(train_limit=None) if "train_limit" in space else BASE, space=space)
    spec = SweepSpec(**{**spec.__dict__, "search": search})
    problems = spec.problems()
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"search": "bayes"}, "search must be one of"),
        ({"scheduler": "pbt"}, "scheduler must be one of"),
        ({"samples": 0}, "samples must be"),
        ({"reduction_factor": 1}, "reduction factor"),
        ({"grace_period": 0}, "grace period"),
        ({"cpus_per_trial": 0.0}, "CPUs per trial"),
        ({"gpus_per_trial": -1.0}, "GPUs per trial"),
        ({"max_concurrent": -2}, "max concurrent"),
        ({"metric": "test_loss"}, "the metric is test_accuracy"),
    ],
)
def test_bad_choices_are_refused(changes: dict, expected: str) -> None:
    problems = SweepSpec(base=BASE, space={"lr": Axis(values=(0.01,))}, **changes).problems()
    assert any(expected in p for p in problems), problems


def test_to_dict_is_plain_json_and_round_trips() -> None:
    spec = SweepSpec(
        base=BASE,
        space={"lr": Axis(low=0.001, high=0.5, log=True), "batch_size": Axis(values=(32, 64))},
        search="optuna",
        samples=12,
        seed=3,
        scheduler="asha",
        grace_period=2,
        reduction_factor=4,
        cpus_per_trial=0.5,
        gpus_per_trial=0.25,
        max_concurrent=3,
        name="quick",
    )
    again = SweepSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec


def test_a_trial_config_is_the_base_with_the_drawn_values() -> None:
    spec = SweepSpec(base=BASE, space={"lr": Axis(low=0.001, high=0.1), "batch_size": Axis(low=16, high=64)})
    config = spec.trial_config({"lr": 0.02, "batch_size": 31.6})
    assert (config.lr, config.batch_size, config.train_limit, config.device) == (0.02, 32, 300, "cpu")
    assert isinstance(config.batch_size, int)
    gpu = SweepSpec(base=BASE, space=spec.space, gpus_per_trial=0.5).trial_config({"lr": 0.02})
    assert gpu.device == "cuda"


@pytest.mark.parametrize(("cpus", "threads"), [(1.0, 1), (2.0, 2), (0.5, 1), (3.7, 3)])
def test_a_trials_threads_are_its_cpus_not_every_idle_core(cpus: float, threads: int) -> None:
    # "auto" would count the idle cores, and the first trials of a sweep start on idle ones: each took them all.
    assert BASE.threads is None  # auto
    spec = SweepSpec(base=BASE, space={"lr": Axis(values=(0.01, 0.1))}, search="grid", cpus_per_trial=cpus)
    assert spec.trial_config({"lr": 0.01}).threads == threads


def test_a_thread_count_named_in_the_base_or_swept_is_kept() -> None:
    named = SweepSpec(base=BASE.with_changes(threads=2), space={"lr": Axis(values=(0.01,))}, cpus_per_trial=1.0)
    assert named.trial_config({"lr": 0.01}).threads == 2
    if SETTINGS["threads"].sweepable:
        swept = SweepSpec(base=BASE, space={"threads": Axis(values=(1, 2))}, cpus_per_trial=1.0)
        assert swept.trial_config({"threads": 2}).threads == 2


def test_the_estimate_scales_with_trials_and_parallel_slots() -> None:
    speed = MachineSpeed(3000.0, 12000.0, "test")
    space = {"lr": Axis(values=(0.01, 0.05, 0.1, 0.2))}
    base = TrainConfig(epochs=2, train_limit=6000, test_limit=1000, device="cpu")
    one_at_a_time = estimate_sweep(SweepSpec(base=base, space=space, search="grid", max_concurrent=1), speed, cpus=4)
    four_at_once = estimate_sweep(SweepSpec(base=base, space=space, search="grid"), speed, cpus=4)
    assert (one_at_a_time.trials, one_at_a_time.parallel, four_at_once.parallel) == (4, 1, 4)
    assert four_at_once.seconds < one_at_a_time.seconds
    asha = estimate_sweep(SweepSpec(base=base, space=space, search="grid", scheduler="asha"), speed, cpus=4)
    assert asha.upper_bound and not four_at_once.upper_bound


def test_the_estimate_says_what_testing_costs_per_epoch() -> None:
    """The Sweep form shows testing's share of an epoch (issue 25.9): all 10,000 test images cost ten times 1,000."""
    speed = MachineSpeed(2000.0, 10000.0, "test")
    space = {"lr": Axis(values=(0.01,))}
    base = TrainConfig(epochs=1, train_limit=6000)
    every_image = estimate_sweep(SweepSpec(base=base, space=space), speed, cpus=1)
    a_slice = estimate_sweep(SweepSpec(base=base.with_changes(test_limit=1000), space=space), speed, cpus=1)
    assert (every_image.test_images, a_slice.test_images) == (10_000, 1_000)
    share = min(1.0, 1.0 / (os.cpu_count() or 1))  # one CPU per trial, of this machine's cores
    assert every_image.test_seconds_per_epoch == pytest.approx(1.0 / share)
    assert a_slice.test_seconds_per_epoch == pytest.approx(0.1 / share)
    assert every_image.train_seconds_per_epoch == a_slice.train_seconds_per_epoch == pytest.approx(3.0 / share)
    saved = (every_image.test_seconds_per_epoch - a_slice.test_seconds_per_epoch) * every_image.trials
    assert every_image.seconds - a_slice.seconds == pytest.approx(saved)  # one epoch, one trial at a time


def test_sweep_error_lists_every_problem() -> None:
    error = SweepError(["a", "b"])
    assert error.problems == ["a", "b"] and str(error) == "a; b"
