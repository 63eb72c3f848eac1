"""The default device: one rule for 'auto' and the Train page's first pick, checked against torch's own view."""

from __future__ import annotations

import torch

from resnet_mnist.core.devices import available_devices, default_device, device_problem, resolve_device


def _torch_says() -> str:
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def test_the_default_is_the_accelerator_torch_sees_else_the_cpu() -> None:
    assert default_device() == _torch_says()
    assert device_problem(default_device()) is None
    assert default_device() in {option.name for option in available_devices() if option.available}


def test_auto_resolves_to_the_default() -> None:
    assert resolve_device("auto") == torch.device(default_device())
