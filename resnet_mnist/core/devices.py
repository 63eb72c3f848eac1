"""Which compute devices exist on this machine, and the choice of one."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["DEVICE_CHOICES", "DeviceOption", "available_devices", "default_device", "device_problem", "resolve_device"]

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class DeviceOption:
    """One device the user may pick, and if it cannot be used, why not."""

    name: str
    label: str
    available: bool
    reason: str = ""


def _cuda_option() -> DeviceOption:
    if torch.cuda.is_available():
        return DeviceOption("cuda", f"CUDA ({torch.cuda.get_device_name(0)})", True)
    if torch.version.cuda is None:
        reason = "this PyTorch build has no CUDA support"
    else:
        reason = "no CUDA GPU or driver was found"
    return DeviceOption("cuda", "CUDA", False, reason)


def _mps_option() -> DeviceOption:
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return DeviceOption("mps", "MPS (Apple GPU)", True)
    return DeviceOption("mps", "MPS", False, "Apple's Metal GPU backend exists only on Apple silicon Macs")


def available_devices() -> list[DeviceOption]:
    """CPU, CUDA and MPS, each marked available or not with the reason."""
    return [DeviceOption("cpu", "CPU", True), _cuda_option(), _mps_option()]


def default_device() -> str:
    """What 'auto' means here, and the Train page's first pick: the fastest device this machine has
    (an accelerator when there is one, else the CPU)."""
    usable = [option.name for option in available_devices() if option.available]
    return next((name for name in usable if name != "cpu"), "cpu")


def device_problem(name: str) -> str | None:
    """Why `name` cannot be used here, or None when it can."""
    if name == "auto":
        return None
    for option in available_devices():
        if option.name == name:
            return None if option.available else f"{option.label} is not available: {option.reason}"
    return f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}"


def resolve_device(name: str) -> torch.device:
    """Turn a device choice into a torch.device; 'auto' takes the fastest one that exists."""
    if name == "auto":
        return torch.device(default_device())
    problem = device_problem(name)
    if problem:
        raise ValueError(problem)
    return torch.device(name)
