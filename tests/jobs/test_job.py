"""The worker runs any Job through one interface: a kind of job it never heard of runs, records and reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import WAIT

from resnet_mnist import ConfigError, RunState, RunStore, TrainConfig, TrainingWorker, load_split
from resnet_mnist.core.data import MnistSplit
from resnet_mnist.core.engine import TrainingControl, run_training
from resnet_mnist.core.events import Listener
from resnet_mnist.jobs.cores import CoreClaim
from resnet_mnist.jobs.job import Annotate, Job


@dataclass(frozen=True)
class ShiftedAnswer:
    """What a ShiftedLabelsJob returns: its accuracy at naming each digit's successor."""

    accuracy: float | None


@dataclass
class ShiftedLabelsJob:
    """Learn to answer d + 1 (mod 10) for a digit d: its own data and measure, unknown to jobs/ and to the worker."""

    config: TrainConfig
    train: MnistSplit
    test: MnistSplit
    name: str = "successor digits"
    devices: list[torch.device] = field(default_factory=list)  # what the worker handed to execute

    def validate(self) -> TrainConfig:
        return self.config.validate(len(self.train), len(self.test))

    def run_fields(self) -> dict[str, Any] | None:
        return {"shifted": {"by": 1, "train": len(self.train)}}

    def describe(self) -> str | None:
        return f"Digits answered by their successor, from {len(self.train):,} images"

    def execute(
        self, emit: Listener, *, control: TrainingControl, annotate: Annotate, device: torch.device
    ) -> ShiftedAnswer:
        self.devices.append(device)
        outcome = run_training(
            self.config, emit, control=control, device=device, train_split=self.train, test_split=self.test
        )
        annotate("shifted", {**self.run_fields()["shifted"], "accuracy": outcome.final_accuracy})
        return ShiftedAnswer(outcome.final_accuracy)


def _shifted(split: MnistSplit) -> MnistSplit:
    return MnistSplit(split.images, (split.labels + 1) % 10)


@pytest.fixture
def shifted_job(data_root: Path) -> ShiftedLabelsJob:
    config = TrainConfig(epochs=2, train_limit=None, test_limit=None, log_interval=5, device="cpu")
    train = _shifted(load_split(data_root, train=True).head(1500))
    return ShiftedLabelsJob(config, train, _shifted(load_split(data_root, train=False).head(500)))


def test_a_job_the_worker_never_heard_of_runs_through_it_and_its_outcome_comes_back(
    worker: TrainingWorker, shifted_job: ShiftedLabelsJob
) -> None:
    assert isinstance(shifted_job, Job)  # structurally: it subclasses nothing of ours
    worker.start(shifted_job)
    assert worker.snapshot().about == "Digits answered by their successor, from 1,500 images"
    assert worker.join(WAIT)
    snap = worker.snapshot()
    assert snap.state is RunState.FINISHED, snap.reason
    assert [e.epoch for e in snap.epochs] == [1, 2] and snap.batches  # the same live metrics as any run
    assert shifted_job.devices == [torch.device("cpu")]  # the device the worker resolved, once, for run and work
    assert snap.outcome == ShiftedAnswer(snap.epochs[-1].test_accuracy)  # its result, from the job, not a file
    assert snap.outcome.accuracy > 0.5  # it learned the successor of each digit from 3,000 images seen

    run = worker.store.get(snap.run_id)
    assert run.name == "successor digits" and run.state is RunState.FINISHED
    recorded = json.loads((run.path / "run.json").read_text())
    assert recorded["shifted"] == {"by": 1, "train": 1500, "accuracy": snap.outcome.accuracy}

    # The next job starts clean: a plain run has no line of its own and no outcome beyond its events.
    worker.start(TrainConfig(epochs=1, train_limit=320, test_limit=100, log_interval=1, device="cpu"))
    assert worker.join(WAIT)
    plain = worker.snapshot()
    assert plain.state is RunState.FINISHED and plain.about is None and plain.outcome is None


def test_a_job_that_does_not_fit_its_own_data_is_refused_before_it_claims_anything(
    runs_dir: Path, data_root: Path, shifted_job: ShiftedLabelsJob
) -> None:
    cores = CoreClaim()
    worker = TrainingWorker(RunStore(runs_dir), data_root=data_root, cores=cores)
    too_many = ShiftedLabelsJob(shifted_job.config.with_changes(train_limit=2000), shifted_job.train, shifted_job.test)
    with pytest.raises(ConfigError, match="must be at most 1500"):
        worker.start(too_many)  # 2,000 asked of its 1,500 images; MNIST's 60,000 would have let it pass
    assert not worker.is_alive() and cores.holder is None and too_many.devices == []
    assert worker.snapshot().state is RunState.IDLE and worker.store.runs() == []
