"""The number format a run computes in: fp32, or bfloat16/float16 mixed precision where the hardware has it.

Mixed precision here is PyTorch's autocast: the weights, their gradients and the optimizer stay
in fp32 ("master weights"); convolutions and the linear layer run in 16 bits. bfloat16 keeps
fp32's exponent range, so it needs no loss scaling; float16 (older CUDA GPUs) does, through a
GradScaler. 'auto' asks torch what the device does natively and never picks an emulated format,
which would be slower than fp32.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from resnet_mnist.core.devices import resolve_device

__all__ = [
    "FP32",
    "PRECISION_CHOICES",
    "Precision",
    "cpu_native_bf16",
    "precision_problem",
    "resolve_precision",
]

PRECISION_CHOICES = ("fp32", "bf16", "auto")

_DTYPE_NAMES = {torch.bfloat16: "bf16", torch.float16: "fp16"}
# The capability flags (torch.cpu.get_capabilities) under which oneDNN runs bf16 convolutions natively.
_CPU_BF16_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16", "sve_bf16": "SVE-BF16", "bf16": "Arm BF16"}


@dataclass(frozen=True)
class Precision:
    """How a run computes on one device: `dtype` None is plain fp32; `reason` says why it was chosen."""

    device_type: str
    dtype: torch.dtype | None
    reason: str

    @property
    def name(self) -> str:
        """'fp32', 'bf16' or 'fp16', for records and labels."""
        return "fp32" if self.dtype is None else _DTYPE_NAMES[self.dtype]

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context to run forward passes (and the loss) in; a no-op for fp32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A loss scaler for float16, whose narrow range lets small gradients underflow; None otherwise."""
        if self.dtype is torch.float16:
            return torch.amp.GradScaler(self.device_type)
        return None


FP32 = Precision("cpu", None, "fp32 was asked for")


def cpu_native_bf16() -> str | None:
    """The name of the CPU feature that computes bfloat16 natively, or None when there is none."""
    if not torch.backends.mkldnn.is_available():
        return None
    capabilities = torch.cpu.get_capabilities()
    for flag, label in _CPU_BF16_FLAGS.items():
        if capabilities.get(flag):
            return label
    return None


def _cuda_native_bf16() -> bool:
    # Without emulation: Ampere (sm_80) and later. Emulated bf16 on older GPUs is slower than fp16.
    return torch.cuda.is_bf16_supported(including_emulation=False)


def precision_problem(choice: str, device: torch.device | str) -> str | None:
    """Why `choice` cannot be used on `device` (a torch.device or a device choice such as 'auto'), or None."""
    if choice not in PRECISION_CHOICES:
        return f"unknown precision {choice!r}; choose one of {', '.join(PRECISION_CHOICES)}"
    try:
        device_type = resolve_device(device).type if isinstance(device, str) else device.type
    except ValueError:
        return None  # an unusable device is the device's own problem
    if choice != "bf16" or device_type == "cpu":
        return None  # a CPU without native bf16 still computes it (slowly); auto would not pick it
    if device_type == "cuda" and (not torch.cuda.is_available() or _cuda_native_bf16()):
        return None  # without a GPU, the device's own problem says so
    if device_type == "cuda":
        return "this GPU has no native bfloat16; choose auto (float16 mixed precision) or fp32"
    return f"bf16 runs on the CPU and CUDA only, not on {device_type}; choose auto or fp32"


def resolve_precision(choice: str, device: torch.device | str) -> Precision:
    """Turn a precision choice into what the run will do on `device`; raises ValueError for an impossible one."""
    device_type = torch.device(device).type
    problem = precision_problem(choice, torch.device(device_type))
    if problem:
        raise ValueError(problem)
    if choice == "fp32":
        return Precision(device_type, None, "fp32 was asked for")
    if choice == "bf16":
        native = cpu_native_bf16() if device_type == "cpu" else "the GPU"
        why = f"bf16 was asked for; {native} computes it natively" if native else "bf16 was asked for (emulated: slow)"
        return Precision(device_type, torch.bfloat16, why)
    return _auto(device_type)


def _auto(device_type: str) -> Precision:
    if device_type == "cpu":
        native = cpu_native_bf16()
        if native:
            return Precision("cpu", torch.bfloat16, f"auto: this CPU computes bfloat16 natively ({native})")
        return Precision("cpu", None, "auto: this CPU has no native bfloat16 (AVX512-BF16 or AMX), so fp32")
    if device_type == "cuda":
        if _cuda_native_bf16():
            return Precision("cuda", torch.bfloat16, "auto: this GPU computes bfloat16 natively")
        return Precision("cuda", torch.float16, "auto: this GPU has no native bfloat16, so float16 with loss scaling")
    return Precision(device_type, None, f"auto: mixed precision is not used on {device_type}, so fp32")
