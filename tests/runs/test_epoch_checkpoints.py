"""Epoch checkpoints' momentum buffers are checked like weights: a wrong name, shape, type or a NaN is refused
in one sentence, and a good one gives back the starting point it was saved with."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resnet_mnist import TrainConfig
from resnet_mnist.core.engine import build_model
from resnet_mnist.runs.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def _momentum() -> dict[str, torch.Tensor]:
    return {name: torch.randn_like(p) for name, p in build_model(1).named_parameters()}


def test_an_epoch_checkpoint_gives_back_its_starting_point(tmp_path: Path) -> None:
    model, momentum = build_model(3), _momentum()
    path = save_checkpoint(tmp_path / "e.pt", TrainConfig(), model.state_dict(), epoch=4, momentum=momentum, step=376)
    start = load_checkpoint(path).starting_point()
    assert start is not None and start.epoch == 4 and start.step == 376
    assert all(torch.equal(start.momentum[k], v) for k, v in momentum.items())
    assert all(torch.equal(start.model_state[k], v) for k, v in model.state_dict().items())
    plain = save_checkpoint(tmp_path / "c.pt", TrainConfig(), model.state_dict(), epoch=4)
    assert load_checkpoint(plain).starting_point() is None  # checkpoint.pt: no momentum, no branch from it


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        (lambda m: m.update({"fc9.weight": torch.zeros(3)}), "not a parameter of this network"),
        (lambda m: m.update({"conv1.weight": torch.zeros(2, 2)}), "wrong shape for conv1.weight"),
        (lambda m: m.update({"conv1.bias": torch.zeros_like(m["conv1.bias"], dtype=torch.int64)}), "torch.int64"),
        (lambda m: m["fc1.weight"].__setitem__((0, 0), float("nan")), "non-finite momentum buffers"),
    ],
)
def test_a_spoilt_momentum_buffer_is_refused_in_one_sentence(tmp_path: Path, spoil, says: str) -> None:
    momentum = _momentum()
    spoil(momentum)
    path = save_checkpoint(tmp_path / "e.pt", TrainConfig(), build_model(1).state_dict(), epoch=1, momentum=momentum)
    with pytest.raises(CheckpointError, match=says):
        load_checkpoint(path)
