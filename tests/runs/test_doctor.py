"""The run doctor on real small runs: each label from a run that really behaves so, and its remedy runs.

Runs are trained through the CLI's entry point on slices of MNIST; the doctor reads what they recorded.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from pathlib import Path

import pytest

from resnet_mnist.cli.main import main
from resnet_mnist.core.events import RunState
from resnet_mnist.runs.doctor import diagnose
from resnet_mnist.runs.store import RunStore


def _train(capsys: pytest.CaptureFixture[str], runs: Path, *args: str) -> str:
    assert main(["train", *args, "--runs-dir", str(runs), "--json", "--quiet"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)["run_id"]


def _doctor(capsys: pytest.CaptureFixture[str], runs: Path, run_id: str) -> dict:
    assert main(["doctor", run_id, "--runs-dir", str(runs), "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("label", "settings"),
    [
        ("diverged", ["--lr", "5", "--momentum", "0.9", "--epochs", "2", "--train-limit", "1000"]),
        ("stalled", ["--lr", "1e-5", "--momentum", "0", "--epochs", "2", "--train-limit", "1000"]),
        ("healthy", ["--lr", "0.05", "--momentum", "0.9", "--epochs", "2", "--train-limit", "2000"]),
        ("overfitting", ["--lr", "0.05", "--momentum", "0.9", "--epochs", "10", "--train-limit", "300"]),
    ],
)
def test_the_doctor_names_what_a_real_run_did(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str], label: str, settings: list[str]
) -> None:
    runs = tmp_path / "runs"
    run_id = _train(capsys, runs, *settings, "--test-limit", "1000")
    verdict = _doctor(capsys, runs, run_id)
    assert verdict["diagnosis"] == label, verdict["evidence"]
    assert verdict["evidence"].count(". ") == 0 and verdict["evidence"].endswith(".")  # one sentence
    if label == "healthy":
        assert verdict["remedy"] is None and verdict["command"] is None
        return
    remedy = verdict["remedy"]
    lr = float(settings[settings.index("--lr") + 1])
    factor = {"diverged": 1 / 3, "stalled": 10, "overfitting": 0.1}[label]
    assert remedy["changes"]["lr"] == pytest.approx(lr * factor, rel=0.01)
    epochs = json.loads((runs / run_id / "metrics.json").read_text())["epochs"]
    if label == "overfitting":  # from the epoch with the lowest test loss
        assert remedy["from_epoch"] == min(epochs, key=lambda e: e["test_loss"])["epoch"] < len(epochs)
    if label == "stalled":  # from the last epoch, for as many epochs again
        assert remedy["from_epoch"] == 2 and remedy["changes"]["epochs"] == 4
    # The remedy is a branch that runs: its command, as printed (smaller, to keep the test short).
    command = shlex.split(verdict["command"])[3:]
    assert command[:4] == ["train", "--branch-from", run_id, "--from-epoch"]
    branch = _train(capsys, runs, *command[1:])
    record = RunStore(runs).get(branch)
    assert record.branched_from == (run_id, remedy["from_epoch"])
    assert record.config.lr == pytest.approx(remedy["changes"]["lr"])


def test_a_running_run_gets_no_diagnosis(tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    run_id = _train(capsys, runs, "--epochs", "1", "--train-limit", "300", "--test-limit", "300")
    store = RunStore(runs)
    run = store.get(run_id)
    assert diagnose(run, store.run_metrics(run_id)) is not None
    assert diagnose(replace(run, state=RunState.RUNNING), store.run_metrics(run_id)) is None
