"""Devices: out of memory mid-run fails the run with the reason; a device that is not there is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import (
    LONG,
    REPO,
    SHORT,
    WAIT,
    assert_run_folder_complete,
    wait_for,
)
from torch.nn.modules.module import register_module_forward_hook

from resnet_mnist import RunState, TrainingWorker


def test_out_of_memory_during_a_run_fails_it_with_that_reason_and_the_next_run_works(
    worker: TrainingWorker,
) -> None:
    """torch raises its OutOfMemoryError from inside a forward pass, as an exhausted GPU would."""
    calls = 0

    def exhaust_memory(module, inputs, output):
        nonlocal calls
        calls += 1
        if calls > 200:  # some batches train first
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total)")

    handle = register_module_forward_hook(exhaust_memory)
    try:
        worker.start(LONG)
        snap = wait_for(worker, lambda s: s.state.is_final)
    finally:
        handle.remove()
    assert snap.state is RunState.FAILED
    assert "out of memory" in snap.reason and "Tried to allocate 2.00 GiB" in snap.reason
    assert "Lower the batch size" in snap.reason and "\n" not in snap.reason
    assert len(snap.batches) >= 1
    info = worker.store.get(snap.run_id)
    assert info.state is RunState.FAILED and info.reason == snap.reason
    assert_run_folder_complete(info.path)

    worker.start(SHORT.with_changes(epochs=1))
    assert worker.join(WAIT)
    assert worker.snapshot().state is RunState.FINISHED


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_the_cli_refuses_a_device_that_does_not_exist(device: str, tmp_path: Path) -> None:
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    env = {**os.environ, "RESNET_MNIST_RUNS": str(tmp_path / "runs"), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "resnet_mnist", "train", "--device", device, "--epochs", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert device.upper() in lines[0] and "not available" in lines[0]
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []
