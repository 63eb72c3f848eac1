"""The precision and threads settings: validated with the others, used by the engine, kept in the run's record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnet_mnist import ConfigError, TrainConfig, run_training
from resnet_mnist.core.events import EpochCompleted
from resnet_mnist.core.precision import resolve_precision
from resnet_mnist.core.threads import usable_cpus

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"precision": "fp8"}, "precision", "fp8"),
        ({"precision": "bf16", "device": "cpu", "threads": 0}, "threads", "at least 1"),
        ({"threads": 2.5}, "threads", "whole number"),
    ],
)
def test_bad_precision_or_threads_are_refused_naming_the_field(changes: dict, field: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**changes).validate()
    [problem] = caught.value.problems
    assert problem.field == field
    assert expected in problem.message


def test_the_defaults_are_valid_and_threads_default_to_auto() -> None:
    config = TrainConfig()
    assert config.problems() == []
    assert config.threads is None
    assert config.precision in ("fp32", "bf16", "auto")
    assert TrainConfig.from_dict(TrainConfig(precision="bf16", threads=1).to_dict()) == TrainConfig(
        precision="bf16", threads=1
    )


def _epochs(config: TrainConfig, data_root: Path) -> list[EpochCompleted]:
    events: list = []
    outcome = run_training(config, events.append, data_root=str(data_root))
    assert outcome.final_accuracy is not None, outcome.reason
    return [e for e in events if isinstance(e, EpochCompleted)]


def test_a_bf16_run_on_one_thread_says_so_and_leaves_the_callers_threads_alone(data_root: Path) -> None:
    before = torch.get_num_threads()
    config = TrainConfig(epochs=2, train_limit=640, test_limit=200, device="cpu", precision="bf16", threads=1)
    epochs = _epochs(config, data_root)
    assert [(e.precision, e.threads) for e in epochs] == [("bf16", 1), ("bf16", 1)]
    assert epochs[-1].test_accuracy > 0.5  # 20 steps learn something; chance is 10%
    assert torch.get_num_threads() == before


def test_auto_uses_what_the_machine_has(data_root: Path) -> None:
    config = TrainConfig(epochs=1, train_limit=320, test_limit=100, device="cpu", precision="auto")
    [epoch] = _epochs(config, data_root)
    assert epoch.precision == resolve_precision("auto", "cpu").name
    assert 1 <= epoch.threads <= usable_cpus()


def test_the_cli_takes_both_and_the_run_records_them(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "resnet_mnist", "train", "--train-limit", "320", "--test-limit", "100"]
    command += ["--epochs", "1", "--device", "cpu", "--precision", "bf16", "--threads", "1", "--runs-dir", str(runs)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr
    [folder] = runs.iterdir()
    config = json.loads((folder / "run.json").read_text())["config"]
    assert (config["precision"], config["threads"]) == ("bf16", 1)
    [epoch] = json.loads((folder / "metrics.json").read_text())["epochs"]
    assert (epoch["precision"], epoch["threads"]) == ("bf16", 1)


def test_a_run_recorded_before_the_choice_existed_reads_as_fp32() -> None:
    old = TrainConfig().to_dict()
    del old["precision"], old["threads"]
    assert TrainConfig.from_dict(old).precision == "fp32"
    assert TrainConfig.from_dict(old).threads is None
    assert TrainConfig.from_dict(TrainConfig().to_dict()).precision == TrainConfig().precision == "auto"
