"""What the training worker runs: a job, with one interface whatever it trains on and measures.

A plain run (`TrainingJob`, a TrainConfig on MNIST) and a fine-tune (resnet_mnist.handwriting.teach.TeachJob)
are both `Job`s. The worker validates one, records it as a run, executes it with the run's listener and
control, and keeps what `execute` returns (its outcome) in its snapshot for the page; it never asks
which kind it has. The protocol is structural, not a base class: handwriting/ sits below jobs/ and must
not import it, and a class Streamlit reloaded after an edit is another class object that still fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
from resnet_mnist.core.engine import TrainingControl, run_training
from resnet_mnist.core.events import Listener
from resnet_mnist.runs.branch import BranchPlan

__all__ = ["Annotate", "Job", "TrainingJob", "as_job", "branch_job"]

Annotate = Callable[[str, Any], None]  # records one more field in the run's run.json (RunRecorder.annotate)


@runtime_checkable
class Job(Protocol):
    """One piece of training the worker can run: its settings, its run's name and record, and the work."""

    config: TrainConfig  # what the page shows and retunes (lr, momentum), and the run records
    name: str

    def validate(self) -> TrainConfig:
        """The config checked against the data this job trains and tests on; ConfigError when it cannot run."""
        ...

    def run_fields(self) -> dict[str, Any] | None:
        """What run.json records from the start beside the config (a fine-tune's parent and split), or None."""
        ...

    def describe(self) -> str | None:
        """One line for the page on what the job is beyond its settings (a fine-tune names its parent), or None."""
        ...

    def execute(self, emit: Listener, *, control: TrainingControl, annotate: Annotate, device: torch.device) -> object:
        """Do the work on `device`, reporting through `emit` and steered by `control`.

        Returns the job's outcome for the page beyond its events (a fine-tune's TeachReport), or None.
        """
        ...


@dataclass(frozen=True)
class TrainingJob:
    """A plain training run on MNIST, as the Train page starts it: the seed's model from scratch, or a
    branch (`branch`: another run's epoch to continue from, with its momentum)."""

    config: TrainConfig
    name: str = ""
    data_root: str | Path | None = None
    branch: BranchPlan | None = None
    group: str | None = None  # the seed group it trains in (TrainingWorker.start_group), recorded in run.json
    place: str = ""  # where in its group ("2 of 3"), for the page

    def validate(self) -> TrainConfig:
        return self.config.validate(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE)

    def run_fields(self) -> dict[str, Any] | None:
        fields = {**(self.branch.run_fields() or {} if self.branch is not None else {})}
        if self.group:
            fields["group"] = self.group
        return fields or None

    def describe(self) -> str | None:
        if self.group:
            return f"Seed {self.config.seed} ({self.place}) of seed group {self.group}"
        return self.branch.describe() if self.branch is not None else None

    def execute(self, emit: Listener, *, control: TrainingControl, annotate: Annotate, device: torch.device) -> object:
        """Train; what it learned is in its events and its run folder, so there is no further outcome."""
        start = self.branch.start if self.branch is not None else None
        run_training(self.config, emit, control=control, device=device, data_root=self.data_root, start=start)
        return None


def branch_job(plan: BranchPlan, *, name: str = "", data_root: str | Path | None = None) -> TrainingJob:
    """The job that trains `plan` (runs/branch.py): its config from the parent's epoch on."""
    return TrainingJob(plan.config, name=name or plan.name, data_root=data_root, branch=plan)


def as_job(work: Job | TrainConfig, *, name: str = "", data_root: str | Path | None = None) -> Job:
    """`work` as a Job: a TrainConfig becomes a TrainingJob (named `name`, reading MNIST from `data_root`)."""
    if isinstance(work, Job):
        return work
    return TrainingJob(work, name=name, data_root=data_root)
