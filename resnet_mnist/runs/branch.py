"""A branch: a new run that continues an ended (or running) run from one of its epochs, with changed settings.

`plan_branch` checks everything before anything is created (the parent run, the epoch, the epoch's
checkpoint and its momentum, the branch's epochs), each problem one BranchError sentence. The plan
holds what the engine needs (run_training's `start`) and what the branch's run.json records
(`parent`: the run, the checkpoint file and the epoch). The parent's folder is only read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.resume import StartingPoint
from resnet_mnist.runs.checkpoint import CheckpointError, load_checkpoint
from resnet_mnist.runs.recorder import epoch_checkpoint_name
from resnet_mnist.runs.store import RunInfo, RunNotFoundError, RunStore

__all__ = ["BranchError", "BranchPlan", "plan_branch"]


class BranchError(ValueError):
    """A branch that cannot be made; the message says why in one line."""


@dataclass(frozen=True)
class BranchPlan:
    """What a branch trains: its config, its starting point (None from epoch 0: fresh weights) and its parent."""

    parent: RunInfo
    from_epoch: int
    config: TrainConfig
    start: StartingPoint | None = field(repr=False)

    def run_fields(self) -> dict[str, Any]:
        """The branch's run.json `parent`: the run, the checkpoint it started from and that epoch."""
        checkpoint = epoch_checkpoint_name(self.from_epoch) if self.from_epoch else ""
        return {"parent": {"run": self.parent.id, "checkpoint": checkpoint, "epoch": self.from_epoch}}

    def describe(self) -> str:
        return f"Branched from run {self.parent.label} at epoch {self.from_epoch}."

    @property
    def name(self) -> str:
        """The branch's name unless given one: 'my run · from epoch 2'."""
        return f"{self.parent.label} · from epoch {self.from_epoch}"


def plan_branch(store: RunStore, run_id: str, from_epoch: int, changes: dict[str, Any] | None = None) -> BranchPlan:
    """The branch of run `run_id` from the end of epoch `from_epoch` (0: its seed's fresh weights), with
    `changes` to its settings; BranchError for an unknown run, an epoch out of range, a missing or bad
    epoch checkpoint, or a branch with no epoch to train. The config itself is validated by the caller."""
    try:
        parent = store.get(run_id)
    except RunNotFoundError as exc:
        raise BranchError(f"unknown run: {exc}") from None
    except ValueError as exc:
        raise BranchError(str(exc)) from None
    if not 0 <= from_epoch <= parent.epochs_done:
        done = f"epochs 0 to {parent.epochs_done}" if parent.epochs_done else "only epoch 0 (it ended no epoch)"
        raise BranchError(f"epoch {from_epoch} is out of range: run {parent.id} has {done}")
    config = parent.config.with_changes(**(changes or {}))
    if config.epochs <= from_epoch:
        raise BranchError(
            f"a branch from epoch {from_epoch} trains epochs {from_epoch + 1} and on, so it needs more than "
            f"{from_epoch} epochs (got {config.epochs})"
        )
    return BranchPlan(parent, from_epoch, config, _starting_point(parent, from_epoch))


def _starting_point(parent: RunInfo, epoch: int) -> StartingPoint | None:
    if epoch == 0:
        return None
    path = parent.epoch_checkpoint_path(epoch)
    if path.is_symlink() or not path.is_file():
        raise BranchError(
            f"run {parent.id} has no checkpoint for epoch {epoch} ({epoch_checkpoint_name(epoch)}; "
            "runs recorded before every epoch was kept have none)"
        )
    try:
        start = load_checkpoint(path).starting_point()
    except CheckpointError as exc:
        raise BranchError(f"run {parent.id}'s epoch {epoch} cannot be used: {exc}") from None
    if start is None or start.epoch != epoch:
        raise BranchError(
            f"run {parent.id}'s {epoch_checkpoint_name(epoch)} is not a checkpoint a branch can start from"
        )
    return start
