"""A sweep's process started ahead of need: it starts its Ray, then waits for the request.

The dashboard starts `python -m resnet_mnist.sweeps.process --standby SECONDS FOLDER` when the Sweep
tab opens; Start then writes request.json into that folder instead of starting a process cold, and
the first trial trains seconds later (each worker of that Ray has imported torch and parsed MNIST
first: warm_worker.py). Who gets the folder is settled by one file made with O_EXCL
(`claim`): the dashboard makes it before writing the request, the standby makes it before giving up
(idle too long, its dashboard gone, or asked to stop), so a request never lands in a folder whose
process is leaving. Ray-free: the runner (jobs/) and the process (process.py) both use it.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from resnet_mnist.sweeps.status import REQUEST_FILE

__all__ = [
    "CLAIM_FILE",
    "READY_FILE",
    "STANDBY_ENV_VAR",
    "STANDBY_SECONDS",
    "WARM_MARKS_ENV_VAR",
    "claim",
    "forget",
    "mark_ready",
    "standby_seconds",
    "wait_for_request",
]

STANDBY_ENV_VAR = "RESNET_MNIST_SWEEP_STANDBY"  # seconds a standby waits for its request; 0 turns it off
STANDBY_SECONDS = 600.0  # a dashboard left open on the Sweep tab keeps a Ray up 10 minutes, no longer
CLAIM_FILE = "claim"
READY_FILE = "ready"  # written by the standby once its Ray and its warmed-up workers are up
WARM_MARKS_ENV_VAR = "RESNET_MNIST_WARM_MARKS"  # a folder where each warmed-up Ray worker leaves a file, its pid
_POLL_S = 0.05
_HANDOVER_S = 60.0  # how long a claimed standby waits for the request the claimer writes next


def standby_seconds() -> float:
    """$RESNET_MNIST_SWEEP_STANDBY (seconds; 0 or less: no standby), else 600; a bad value means the default."""
    try:
        return float(os.environ.get(STANDBY_ENV_VAR, STANDBY_SECONDS))
    except ValueError:
        return STANDBY_SECONDS


def claim(folder: Path) -> bool:
    """Take the standby's folder, once: True for the first caller, False for anyone after (or no folder)."""
    try:
        os.close(os.open(folder / CLAIM_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:  # FileExistsError, or FileNotFoundError once the standby has gone and removed it
        return False
    return True


def mark_ready(folder: Path) -> None:
    (folder / READY_FILE).touch()


def wait_for_request(folder: Path, seconds: float, stop: threading.Event, parent: int) -> bool:
    """Wait until the dashboard hands over a request (True) or the standby should go (False).

    The standby goes after `seconds` idle, when `stop` is set (SIGTERM), when the process that
    started it (`parent`) is gone, or when its folder is; it claims the folder first, so a dashboard
    that claimed it a moment earlier still gets its sweep run.
    """
    deadline = time.monotonic() + seconds
    while True:
        if (folder / REQUEST_FILE).exists():
            return True
        if not folder.is_dir():  # removed under it (a test's folder, a runs folder deleted)
            return False
        # its parent gone, this process is someone else's child now (init's, or a subreaper's)
        done = stop.is_set() or time.monotonic() > deadline or os.getppid() != parent
        if done and claim(folder):
            return False
        if done or (folder / CLAIM_FILE).exists():  # claimed by the dashboard: its request comes next
            return _wait_for_handover(folder)
        stop.wait(_POLL_S)


def _wait_for_handover(folder: Path) -> bool:
    deadline = time.monotonic() + _HANDOVER_S
    while time.monotonic() < deadline:
        if (folder / REQUEST_FILE).exists():
            return True
        time.sleep(_POLL_S)
    return False


def forget(folder: Path) -> None:
    """Remove an unused standby's folder (it never held a request, a run or a status)."""
    if not (folder / REQUEST_FILE).exists():
        shutil.rmtree(folder, ignore_errors=True)
