"""Checkpoint files: everything needed to rebuild a trained model from the file alone."""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import torch

from .config import TrainConfig
from .model import Net

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "CheckpointError",
    "atomic_write_bytes",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "resnet-mnist-studio/1"


class CheckpointError(ValueError):
    """A checkpoint could not be used; the message says why in plain words."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: config, weights, per-epoch metrics and the epoch it was taken at."""

    config: TrainConfig
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    epoch: int
    metrics: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def test_accuracy(self) -> float | None:
        epochs = self.metrics.get("epochs") or []
        return epochs[-1].get("test_accuracy") if epochs else None

    def build_model(self, device: torch.device | str = "cpu") -> Net:
        """A Net with these weights, in eval mode."""
        model = Net()
        model.load_state_dict(self.state_dict)
        return model.to(device).eval()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: str | os.PathLike[str],
    config: TrainConfig,
    state_dict: dict[str, torch.Tensor],
    *,
    epoch: int,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Save atomically; only plain types and tensors, so weights_only loading accepts it."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in state_dict.items()},
        "epoch": int(epoch),
        "metrics": metrics or {},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_checkpoint(source: str | os.PathLike[str] | IO[bytes], *, name: str | None = None) -> Checkpoint:
    """Load a checkpoint from a path or a binary file object, with weights_only=True.

    Accepts this project's files and a bare state_dict of the seed's Net. Anything else — a
    missing, truncated, foreign or code-carrying file — raises CheckpointError.
    """
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else "the uploaded file")
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise CheckpointError(f"no checkpoint file at {label}")
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # Every weights_only refusal mentions "weights_only"; only one naming a global (a class or
        # function to call) means the file carries code. Other bytes are just not a pickle.
        if "Unsupported global" in str(exc) or "GLOBAL " in str(exc):
            raise CheckpointError(
                f"{label} was refused: it holds Python objects other than weights, which could run code "
                f"when loaded. Only load checkpoints you trust, saved by this app or as a plain state_dict."
            ) from None
        raise CheckpointError(f"{label} is not a readable checkpoint (it may be truncated or corrupt)") from None
    except Exception as exc:  # arbitrary bytes fail in arbitrary ways (IndexError, KeyError, …)
        raise CheckpointError(
            f"{label} is not a readable checkpoint (it may be truncated or corrupt: {type(exc).__name__})"
        ) from None
    return _interpret(payload, label)


def _interpret(payload: Any, label: str) -> Checkpoint:
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        try:
            config = TrainConfig.from_dict(payload["config"])
            state_dict = payload["state_dict"]
            epoch = int(payload.get("epoch", 0))
            metrics = payload.get("metrics") or {}
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{label} is damaged: its {exc} entry is missing or malformed") from None
    elif isinstance(payload, dict) and payload and all(isinstance(v, torch.Tensor) for v in payload.values()):
        config, state_dict, epoch, metrics = TrainConfig(), payload, 0, {}
    else:
        raise CheckpointError(f"{label} is not a ResNet MNIST Studio checkpoint")
    _check_weights(state_dict, label)
    return Checkpoint(config=config, state_dict=state_dict, epoch=epoch, metrics=metrics)


def _check_weights(state_dict: Any, label: str) -> None:
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"{label} holds no model weights")
    expected = Net().state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{label} holds weights for a different network "
            f"(missing: {', '.join(missing[:3]) or 'none'}; unexpected: {', '.join(unexpected[:3]) or 'none'})"
        )
    for key, tensor in expected.items():
        if not isinstance(state_dict[key], torch.Tensor) or state_dict[key].shape != tensor.shape:
            raise CheckpointError(f"{label} holds weights of the wrong shape for {key}")
