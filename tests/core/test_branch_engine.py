"""A branch continues its parent exactly: from epoch N's weights and momentum, the engine trains epoch N+1 to
the very weights the parent had (fp32, one thread: the run is deterministic), and without the momentum it does not."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resnet_mnist import TrainConfig, load_split, run_training
from resnet_mnist.core.events import EpochCompleted, Event
from resnet_mnist.core.resume import StartingPoint

CONFIG = TrainConfig(
    epochs=2, lr=0.05, momentum=0.9, train_limit=640, test_limit=200, precision="fp32", threads=1, device="cpu"
)


def _epochs(data_root: Path, start: StartingPoint | None = None) -> list[EpochCompleted]:
    seen: list[Event] = []
    run_training(
        CONFIG,
        seen.append,
        train_split=load_split(data_root, train=True, limit=640),
        test_split=load_split(data_root, train=False, limit=200),
        start=start,
    )
    return [e for e in seen if isinstance(e, EpochCompleted)]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_branch_with_its_parents_settings_trains_to_the_parents_weights(data_root: Path) -> None:
    first, second = _epochs(data_root)
    start = StartingPoint(first.model_state, first.momentum_state, first.epoch, first.step)
    [branch] = _epochs(data_root, start)
    assert branch.epoch == 2 and branch.step == second.step
    assert _same(branch.model_state, second.model_state)
    assert _same(branch.momentum_state, second.momentum_state)
    assert branch.test_accuracy == second.test_accuracy


def test_without_the_momentum_the_branch_is_another_run(data_root: Path) -> None:
    first, second = _epochs(data_root)
    [branch] = _epochs(data_root, StartingPoint(first.model_state, {}, first.epoch, first.step))
    assert not _same(branch.model_state, second.model_state)


def test_a_branch_needs_an_epoch_to_train(data_root: Path) -> None:
    second = _epochs(data_root)[-1]
    with pytest.raises(ValueError, match="needs more than 2 epochs"):
        _epochs(data_root, StartingPoint(second.model_state, second.momentum_state, 2, second.step))
