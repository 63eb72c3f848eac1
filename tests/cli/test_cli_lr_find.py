"""`python -m resnet_mnist lr-find` as a person runs it: a real process on a real MNIST slice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import cli_in_this_process

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str | int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "resnet_mnist", "lr-find", *map(str, args)]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)


def test_json_gives_the_suggestion_its_range_the_curve_and_the_blow_up(data_root: Path) -> None:
    result = _run("--train-limit", 1000, "--momentum", 0.5, "--seed", 2, "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert {"suggested_lr", "low", "high", "lrs", "losses", "diverged_at"} <= set(found)
    assert found["low"] <= found["suggested_lr"] <= found["high"]
    assert len(found["lrs"]) == len(found["losses"]) >= 10
    assert found["lrs"] == sorted(found["lrs"])  # an lr that only rises
    assert found["diverged_at"] is None or found["high"] < found["diverged_at"]


def test_text_output_says_the_lr_to_train_with(data_root: Path) -> None:
    result = _run("--train-limit", 500, "--batch-size", 32)
    assert result.returncode == 0, result.stderr
    assert "Suggested lr:" in result.stdout and "Train with: --lr " in result.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--momentum", "1.5"), "momentum must be at least 0 and below 1"),
        (("--train-limit", "0"), "--train-limit must be between 1 and 60,000"),
        (("--batch-size", "0"), "batch size must be between 1"),
        (("--batch-size", "600", "--train-limit", "500"), "batch size must be between 1 and the 500 images"),
        (("--seed", "x"), "'x' is not a whole number"),
    ],
)
def test_bad_input_is_one_line(args: tuple[str, ...], says: str) -> None:
    returncode, stdout, stderr = cli_in_this_process(["lr-find", *args])
    assert returncode == 2
    assert says in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert stdout == ""


def test_it_is_refused_in_one_line_while_other_work_holds_the_cores() -> None:
    """A dashboard's job (here: a claim on the same lock file, $RESNET_MNIST_CORES_LOCK) has the cores."""
    from resnet_mnist.jobs.cores import CoreClaim, default_lock_path

    claim = CoreClaim(default_lock_path())
    claim.claim("dashboard", "A training run from the Train page is using this machine's cores.")
    try:
        result = _run("--train-limit", 500)
    finally:
        claim.release("dashboard")
    assert result.returncode == 1 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: the cores are busy: A training run from the Train page is using this machine's")
