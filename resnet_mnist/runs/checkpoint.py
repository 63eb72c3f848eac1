"""Checkpoint files: everything needed to rebuild a trained model from the file alone."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.files import atomic_write_bytes
from resnet_mnist.core.model import Net
from resnet_mnist.core.resume import StartingPoint
from resnet_mnist.runs.schema import SchemaError, parse_checkpoint_config, parse_checkpoint_metrics, record_dict

__all__ = [
    "CHECKPOINT_FORMAT",
    "MAX_CHECKPOINT_FILE_BYTES",
    "MAX_CHECKPOINT_UNPACKED_BYTES",
    "Checkpoint",
    "CheckpointError",
    "check_archive",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "resnet-mnist-studio/1"
# Bounds checked before any tensor is read. This network's checkpoints are ~0.2 MB in ~20 entries.
MAX_CHECKPOINT_FILE_BYTES = 20_000_000
MAX_CHECKPOINT_UNPACKED_BYTES = 20_000_000
MAX_CHECKPOINT_ENTRIES = 256
MAX_CHECKPOINT_PICKLE_BYTES = 4_000_000


class CheckpointError(ValueError):
    """A checkpoint could not be used; the message says why in plain words."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: config, weights, per-epoch metrics and the epoch it was taken at.

    An epoch's checkpoint (epochs/epoch-NNN.pt) also holds the SGD momentum buffers and the step count,
    so a branch continues from it exactly (`starting_point`); None in checkpoints written without them.
    """

    config: TrainConfig
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    epoch: int
    metrics: dict[str, Any] = field(default_factory=dict, repr=False)
    momentum: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    step: int = 0

    def starting_point(self) -> StartingPoint | None:
        """Where a branch from this checkpoint starts; None when it holds no momentum (not an epoch's checkpoint)."""
        if self.momentum is None:
            return None
        return StartingPoint(self.state_dict, self.momentum, self.epoch, self.step)

    @property
    def test_accuracy(self) -> float | None:
        """The test accuracy of these weights: their epoch's (a fine-tune may keep an earlier epoch than its last)."""
        epochs = self.metrics.get("epochs") or []
        own = [e for e in epochs if e.get("epoch") == self.epoch]
        return (own or epochs[-1:] or [{}])[-1].get("test_accuracy")

    def build_model(self, device: torch.device | str = "cpu") -> Net:
        """A Net with these weights, in eval mode."""
        model = Net()
        model.load_state_dict(self.state_dict)
        return model.to(device).eval()


def save_checkpoint(
    path: str | os.PathLike[str],
    config: TrainConfig,
    state_dict: dict[str, torch.Tensor],
    *,
    epoch: int,
    metrics: dict[str, Any] | None = None,
    momentum: dict[str, torch.Tensor] | None = None,
    step: int = 0,
) -> Path:
    """Save atomically; only plain types and tensors, so weights_only loading accepts it.

    `momentum` (SGD's buffers by parameter name) and `step` make it a point a branch can start from.
    """
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in state_dict.items()},
        "epoch": int(epoch),
        "metrics": metrics or {},
    }
    if momentum is not None:
        payload["momentum"] = {k: v.detach().cpu().contiguous() for k, v in momentum.items()}
        payload["step"] = int(step)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_checkpoint(source: str | os.PathLike[str] | IO[bytes], *, name: str | None = None) -> Checkpoint:
    """Load a checkpoint from a path or a binary file object, with weights_only=True.

    Accepts this project's files and a bare state_dict of the seed's Net. The work is bounded
    before any tensor is read: the file's size, its zip entries' declared sizes, then its keys,
    shapes and config from a pass that reads no tensor data (map_location="meta"). Anything
    else — missing, truncated, foreign, oversized, code-carrying or non-finite — raises
    CheckpointError.
    """
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "the uploaded file")
    data = _read_bytes(source, label)
    check_archive(data, label)
    structure = _interpret(_unpickle(data, label, "meta"), label)  # (N,…) meta tensors: shapes, no data
    _check_weights(structure.state_dict, label)
    _check_momentum(structure.momentum, label)
    loaded = _interpret(_unpickle(data, label, "cpu"), label)
    weights, momentum = loaded.state_dict, loaded.momentum
    _check_weights(weights, label)
    _check_momentum(momentum, label)
    _check_finite(weights, label)
    _check_finite(momentum or {}, label, what="momentum buffers")
    return Checkpoint(
        config=structure.config,
        state_dict=weights,
        epoch=structure.epoch,
        metrics=structure.metrics,
        momentum=momentum,
        step=structure.step,
    )


def _read_bytes(source: str | os.PathLike[str] | IO[bytes], label: str) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise CheckpointError(f"no checkpoint file at {label}")
        if path.stat().st_size > MAX_CHECKPOINT_FILE_BYTES:
            raise CheckpointError(_too_big(label, path.stat().st_size))
        with open(path, "rb") as handle:
            data = handle.read(MAX_CHECKPOINT_FILE_BYTES + 1)
    else:
        data = source.read(MAX_CHECKPOINT_FILE_BYTES + 1)
    if len(data) > MAX_CHECKPOINT_FILE_BYTES:
        raise CheckpointError(_too_big(label, len(data)))
    return data


def _too_big(label: str, size: int) -> str:
    return (
        f"{label} is {size / 1e6:.1f} MB; checkpoints of this network are about 0.2 MB, "
        f"so files over {MAX_CHECKPOINT_FILE_BYTES / 1e6:.0f} MB are refused"
    )


def check_archive(
    data: bytes,
    label: str,
    *,
    max_unpacked: int = MAX_CHECKPOINT_UNPACKED_BYTES,
    usual: str = "checkpoints of this network hold about 0.2 MB",
) -> None:
    """Refuse torch.save'd bytes by their zip directory alone: entry count and declared sizes.

    Call it before any torch.load: a deflated entry can unpack to ~1,000 times its size on the wire,
    and torch reads whole entries (it refuses an entry that inflates past its declared size).
    `usual` says how big such a file normally is, for the message.
    """
    try:
        entries = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        if _calls_code(data):
            raise CheckpointError(_CODE_REFUSAL.format(label=label)) from None
        raise CheckpointError(
            f"{label} is not a readable checkpoint (it may be truncated or corrupt; torch.save writes a zip archive)"
        ) from None
    if len(entries) > MAX_CHECKPOINT_ENTRIES:
        raise CheckpointError(f"{label} holds {len(entries)} entries; a checkpoint of this network has about 20")
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > max_unpacked:
        raise CheckpointError(
            f"{label} would unpack to {unpacked / 1e6:,.0f} MB; {usual}, "
            f"so anything over {max_unpacked / 1e6:,.0f} MB is refused before unpacking"
        )
    pickles = [e for e in entries if e.filename.endswith(".pkl")]
    if any(e.file_size > MAX_CHECKPOINT_PICKLE_BYTES for e in pickles):
        raise CheckpointError(f"{label} describes its contents in more than {MAX_CHECKPOINT_PICKLE_BYTES:,} bytes")


_CODE_REFUSAL = (
    "{label} was refused: it holds Python objects other than weights, which could run code when loaded. "
    "Only load checkpoints you trust, saved by this app or as a plain state_dict."
)
_CODE_OPCODES = {"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD"}


def _calls_code(data: bytes) -> bool:
    """Whether bytes that are not a zip checkpoint are a pickle that imports or calls anything.

    pickletools only reads the opcodes; nothing is built or run.
    """
    try:
        return any(opcode.name in _CODE_OPCODES for opcode, _, _ in pickletools.genops(data))
    except Exception:  # not a pickle at all, or a truncated one
        return False


def _unpickle(data: bytes, label: str, map_location: str) -> Any:
    try:
        return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # Every weights_only refusal mentions "weights_only"; only one naming a global (a class or
        # function to call) means the file carries code. Other bytes are just not a pickle.
        if "Unsupported global" in str(exc) or "GLOBAL " in str(exc):
            raise CheckpointError(_CODE_REFUSAL.format(label=label)) from None
        raise CheckpointError(f"{label} is not a readable checkpoint (it may be truncated or corrupt)") from None
    except Exception as exc:  # arbitrary bytes fail in arbitrary ways (IndexError, KeyError, …)
        raise CheckpointError(
            f"{label} is not a readable checkpoint (it may be truncated or corrupt: {type(exc).__name__})"
        ) from None


def _interpret(payload: Any, label: str) -> Checkpoint:
    """The payload's parts, validated (schema.py): config, weights, epoch and metrics."""
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        try:
            config = parse_checkpoint_config(payload.get("config"), label)
            metrics = parse_checkpoint_metrics(payload.get("metrics"), label)
        except SchemaError as exc:
            raise CheckpointError(f"{exc}") from None
        epoch = payload.get("epoch", 0)
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise CheckpointError(f"{label}'s epoch must be a whole number of at least 0 (got {epoch!r:.40})")
        step = payload.get("step", 0)
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise CheckpointError(f"{label}'s step must be a whole number of at least 0 (got {step!r:.40})")
        state_dict = payload.get("state_dict")
        records = {"epochs": [record_dict(e) for e in metrics.epochs]}
        momentum = payload.get("momentum")
        return Checkpoint(config, state_dict, epoch, records, momentum, step)  # type: ignore[arg-type]
    if isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        return Checkpoint(config=TrainConfig(), state_dict=payload, epoch=0, metrics={})
    raise CheckpointError(f"{label} is not a ResNet MNIST Studio checkpoint")


def _check_weights(state_dict: Any, label: str) -> None:
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{label} holds no model weights")
    expected = Net().to("meta").state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(map(str, set(state_dict) - set(expected)))
    if missing or unexpected:
        raise CheckpointError(
            f"{label} holds weights for a different network "
            f"(missing: {', '.join(missing[:3]) or 'none'}; unexpected: {', '.join(unexpected[:3])[:120] or 'none'})"
        )
    for key, tensor in expected.items():
        value = state_dict[key]
        if not isinstance(value, torch.Tensor) or value.shape != tensor.shape:
            raise CheckpointError(f"{label} holds weights of the wrong shape for {key}")
        if not value.dtype.is_floating_point:
            raise CheckpointError(f"{label} holds {value.dtype} values for {key}, not floating-point weights")


def _check_momentum(momentum: Any, label: str) -> None:
    """Momentum buffers, when present: some of the network's parameters (none at momentum 0), each its shape."""
    if momentum is None:
        return
    if not isinstance(momentum, dict):
        raise CheckpointError(f"{label}'s momentum buffers are not a mapping of parameter names to tensors")
    expected = dict(Net().to("meta").named_parameters())
    for key, value in momentum.items():
        if key not in expected:
            raise CheckpointError(
                f"{label} holds a momentum buffer for {str(key)[:60]!r}, not a parameter of this network"
            )
        if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape:
            raise CheckpointError(f"{label} holds a momentum buffer of the wrong shape for {key}")
        if not value.dtype.is_floating_point:
            raise CheckpointError(f"{label} holds {value.dtype} values in the momentum buffer for {key}")


def _check_finite(state_dict: dict[str, torch.Tensor], label: str, what: str = "weights") -> None:
    for key, tensor in state_dict.items():
        if not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{label} holds non-finite {what} (NaN or infinity) in {key}: the run it came from diverged"
            )
