"""The claim on the cores holds across processes: a dashboard's job and a command-line run never train at once.

Real processes: the CLI is `python -m resnet_mnist train` in a subprocess, the dashboard's side a
TrainingWorker here with the lock file the pages use (each test its own, $RESNET_MNIST_CORES_LOCK).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resnet_mnist import RunStore, TrainConfig, TrainingWorker
from resnet_mnist.jobs.cores import CoreClaim, default_lock_path, other_process_holder
from resnet_mnist.jobs.worker import TRAINING_HOLDS_THE_CORES, WorkerBusyError

REPO = Path(__file__).resolve().parents[2]
LONG = TrainConfig(epochs=20, train_limit=6000, test_limit=500, log_interval=1, device="cpu")
TINY_TRAIN = ["--epochs", "1", "--train-limit", "64", "--test-limit", "64", "--quiet"]


def cli(*args: str, runs_dir: Path, data_root: Path) -> list[str]:
    return [sys.executable, "-m", "resnet_mnist", *args, "--runs-dir", str(runs_dir), "--data-root", str(data_root)]


def wait_for_lock_held(process: subprocess.Popen, timeout_s: float = 60) -> str:
    """The CLI's refusal sentence once it holds the lock; fails fast, saying why, if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the CLI run exited with code {process.returncode} before it claimed the cores")
        held = other_process_holder(default_lock_path())
        if held is not None:
            return held
        time.sleep(0.05)
    pytest.fail(f"the CLI run did not claim the cores within {timeout_s:.0f} s")


def test_a_cli_run_is_refused_in_one_line_while_a_dashboard_job_trains(runs_dir: Path, data_root: Path) -> None:
    worker = TrainingWorker(RunStore(runs_dir), data_root=data_root, cores=CoreClaim(default_lock_path()))
    worker.start(LONG)
    try:
        result = subprocess.run(
            cli("train", *TINY_TRAIN, runs_dir=runs_dir, data_root=data_root),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
    finally:
        assert worker.stop(timeout=60)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: the cores are busy: {TRAINING_HOLDS_THE_CORES} (process {os.getpid()})"]
    assert len(RunStore(runs_dir).list_runs()) == 1  # the refused command made no run folder


def test_a_dashboard_job_is_refused_while_a_cli_run_trains_and_free_once_it_is_killed(
    runs_dir: Path, data_root: Path
) -> None:
    process = subprocess.Popen(
        cli("train", "--epochs", "20", "--train-limit", "6000", "--quiet", runs_dir=runs_dir, data_root=data_root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    worker = TrainingWorker(RunStore(runs_dir), data_root=data_root, cores=CoreClaim(default_lock_path()))
    try:
        held = wait_for_lock_held(process)
        assert held.startswith("A command-line `train`") and held.endswith(f"(process {process.pid})")
        with pytest.raises(WorkerBusyError, match=r"A command-line `train` .* \(process \d+\)"):
            worker.start(LONG)
        assert not worker.is_alive()
    finally:
        process.send_signal(signal.SIGKILL)  # no clean-up runs: the kernel lifts the lock with the process
        process.wait(timeout=30)
    assert other_process_holder(default_lock_path()) is None
    worker.start(LONG)
    assert worker.stop(timeout=60)


def test_a_lock_file_holding_anything_but_a_note_gives_a_plain_refusal(tmp_path: Path) -> None:
    lock = tmp_path / "cores.lock"
    holder = subprocess.Popen(  # another program holding the file with junk in it (or a huge one)
        [sys.executable, "-c", HOLD_WITH_JUNK, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        claim = CoreClaim(lock)
        with pytest.raises(WorkerBusyError, match=r"^Another process on this machine is training on its cores"):
            claim.claim("training job 1", TRAINING_HOLDS_THE_CORES, busy=WorkerBusyError)
        assert claim.holder == claim.elsewhere() and claim.elsewhere().startswith("Another process")
    finally:
        holder.kill()
        holder.wait(timeout=30)
    claim.claim("training job 2", TRAINING_HOLDS_THE_CORES)  # free again
    assert claim.elsewhere() is None and claim.holder == "training job 2"
    claim.release("training job 2")


HOLD_WITH_JUNK = """
import fcntl, sys, time
f = open(sys.argv[1], "w")
fcntl.flock(f, fcntl.LOCK_EX)
f.write('{"refusal": ' + '"x' * 100000)
f.flush()
print("held", flush=True)
time.sleep(600)
"""
