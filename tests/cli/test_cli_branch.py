"""Branches from the command line: every epoch kept, `train --branch-from RUN --from-epoch N`, its errors.

Real runs on small slices of MNIST through the CLI's own entry point (main), as a person types them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from resnet_mnist import load_checkpoint
from resnet_mnist.cli.main import main
from resnet_mnist.core.model import Net
from resnet_mnist.runs.store import RunStore

SMALL = ["--train-limit", "1000", "--test-limit", "500"]


def _train(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["train", *args, "--json", "--quiet"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def parent(tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, dict]:
    """A finished 2-epoch run (lr 0.05, momentum 0.9) in this test's runs folder, and its --json summary."""
    runs = tmp_path / "runs"
    summary = _train(capsys, "--epochs", "2", "--lr", "0.05", "--momentum", "0.9", *SMALL, "--runs-dir", str(runs))
    return runs, summary


def test_every_epoch_is_kept_with_its_momentum(parent: tuple[Path, dict]) -> None:
    runs, summary = parent
    folder = Path(summary["run_dir"])
    metrics = json.loads((folder / "metrics.json").read_text())
    for record in metrics["epochs"]:
        saved = load_checkpoint(folder / "epochs" / f"epoch-{record['epoch']:03d}.pt")
        assert saved.epoch == record["epoch"] and saved.step == record["step"] > 0
        assert saved.test_accuracy == pytest.approx(record["test_accuracy"])
        assert set(saved.momentum) == {name for name, _ in Net().named_parameters()}  # every buffer, momentum 0.9
        assert any(float(b.abs().sum()) > 0 for b in saved.momentum.values())
    assert RunStore(runs).get(summary["run_id"]).saved_epochs == [1, 2]
    last = load_checkpoint(folder / "checkpoint.pt")
    assert last.epoch == 2 and last.momentum is None  # checkpoint.pt is as it was: weights, config, metrics


def test_a_branch_at_a_tiny_lr_keeps_its_parents_epoch_accuracy(
    parent: tuple[Path, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    runs, summary = parent
    before = _folder_digest(Path(summary["run_dir"]))
    branch = _train(
        capsys, "--branch-from", summary["run_id"], "--from-epoch", "1", "--lr", "1e-9", "--runs-dir", str(runs)
    )
    parent_epochs = json.loads((Path(summary["run_dir"]) / "metrics.json").read_text())["epochs"]
    assert branch["parent"] == summary["run_id"] and branch["parent_epoch"] == 1
    assert abs(branch["final_accuracy"] - parent_epochs[0]["test_accuracy"]) <= 0.003  # within 0.3 point
    record = RunStore(runs).get(branch["run_id"])
    assert record.branched_from == (summary["run_id"], 1)
    assert record.config.lr == 1e-9 and record.config.momentum == 0.9 and record.config.train_limit == 1000
    branch_epochs = json.loads((Path(branch["run_dir"]) / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in branch_epochs] == [2]  # epochs N+1..epochs only
    assert branch_epochs[0]["step"] == 2 * parent_epochs[0]["step"]  # the step count goes on from the parent's
    assert _folder_digest(Path(summary["run_dir"])) == before  # the parent's folder is never written


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--branch-from", "20990101-000000-abcdef", "--from-epoch", "1"], "unknown run"),
        (["--branch-from", "{parent}", "--from-epoch", "3"], "epoch 3 is out of range"),
        (["--branch-from", "{parent}", "--from-epoch", "2"], "needs more than 2 epochs (got 2)"),
        (["--branch-from", "{parent}", "--from-epoch", "1", "--epochs", "1"], "needs more than 1 epochs (got 1)"),
        (["--branch-from", "{parent}", "--from-epoch", "1", "--missing"], "has no checkpoint for epoch 1"),
        (["--from-epoch", "1"], "go together"),
    ],
)
def test_a_branch_that_cannot_be_made_says_why_in_one_line(
    parent: tuple[Path, dict], capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    runs, summary = parent
    if "--missing" in args:
        args = [a for a in args if a != "--missing"]
        (Path(summary["run_dir"]) / "epochs" / "epoch-001.pt").unlink()
    argv = ["train", *[a.replace("{parent}", summary["run_id"]) for a in args], "--runs-dir", str(runs)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert says in err and err.startswith("error: ") and err.count("\n") == 1, err
    assert len(RunStore(runs).runs()) == 1  # no run folder made
