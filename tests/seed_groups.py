"""Seed groups for the tests: a recipe really trained over seeds on a small slice of MNIST, recorded as a group."""

from __future__ import annotations

import shutil
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


def three_groups(store: RunStore, data_root: Path) -> dict[str, str]:
    """lr 0.01 over seeds 1-3 and over 4-6, lr 0.1 over 1-3 ("fast"): name → group id."""
    return {
        "slow": train_group(store, SLOW, (1, 2, 3), data_root),
        "slow again": train_group(store, SLOW, (4, 5, 6), data_root),
        "fast": train_group(store, FAST, (1, 2, 3), data_root, name="fast"),
    }


def copy_of(trained: tuple[Path, dict[str, str]], folder: Path) -> tuple[Path, dict[str, str]]:
    """The session's seed groups (conftest `seed_group_runs`) copied into `folder`, for a test to add to."""
    root, groups = trained
    return Path(shutil.copytree(root, folder)), groups
