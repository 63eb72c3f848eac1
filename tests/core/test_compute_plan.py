"""The plan the Train page shows is what the engine will do: the same device, precision and thread choice."""

from __future__ import annotations

import pytest
import torch

from resnet_mnist.core.compute_plan import plan_compute
from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.precision import resolve_precision
from resnet_mnist.core.threads import usable_cpus


def test_auto_precision_and_threads_say_what_they_chose_and_why() -> None:
    plan = plan_compute(TrainConfig(device="cpu", precision="auto", threads=None))
    assert plan is not None
    assert plan.device.type == "cpu"
    assert plan.precision == resolve_precision("auto", "cpu")
    assert 1 <= plan.threads.count <= usable_cpus()
    precision_line, threads_line = plan.lines()
    assert precision_line == f"Precision {plan.precision.name}: {plan.precision.reason}."
    assert threads_line.startswith(f"Threads {plan.threads.count}: auto: {usable_cpus()} usable CPUs")


def test_asked_for_values_are_kept() -> None:
    plan = plan_compute(TrainConfig(device="cpu", precision="bf16", threads=1))
    assert plan is not None
    assert (plan.precision.name, plan.threads.count) == ("bf16", 1)
    assert plan.lines()[1] == "Threads 1: 1 asked for."


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="needs a machine without MPS")
def test_an_unusable_device_or_precision_has_no_plan() -> None:
    assert plan_compute(TrainConfig(device="cpu", precision="fp8")) is None
    assert plan_compute(TrainConfig(device="mps")) is None
