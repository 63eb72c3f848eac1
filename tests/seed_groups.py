"""Seed groups for the tests: a recipe really trained over seeds on a small slice of MNIST, recorded as a group."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from resnet_mnist import RunState, RunStore, TrainConfig, run_training
from resnet_mnist.runs.groups import new_group_id

# Measured on this network: lr 0.1 reads ~70% of 500 test images after one epoch on 1,000, lr 0.01 ~45%;
# the seeds of one recipe spread by about 10 points.
SLOW = TrainConfig(epochs=1, lr=0.01, momentum=0.5, train_limit=1000, test_limit=500, device="cpu")
FAST = SLOW.with_changes(lr=0.1)


def train_group(store: RunStore, config: TrainConfig, seeds: Sequence[int], data_root: Path, name: str = "") -> str:
    """Train `config` once per seed as the CLI's `train --seeds` does; the group's id."""
    group = new_group_id()
    for seed in seeds:
        seeded = config.with_changes(seed=seed)
        recorder = store.create(seeded, device="cpu", name=f"{name or group} · seed {seed}", extra={"group": group})
        assert run_training(seeded, recorder, data_root=str(data_root)).state is RunState.FINISHED
    return group
