"""Ray's GCS and raylet die with the thread that started them (PDEATHSIG): that thread must outlive the
exit handlers of its process, where the local Ray is shut down (ray_runtime._OwnerThread says why)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_SCRIPT = """
import atexit, threading
from resnet_mnist.sweeps.ray_runtime import _owner
owner = _owner.call(threading.current_thread)
atexit.register(lambda: print("alive at exit:", owner.is_alive(), flush=True))
def refuse(reason):
    raise ValueError(reason)
try:
    _owner.call(refuse, reason="no")
except ValueError as error:
    print("raised here:", error)
"""


def test_the_thread_that_starts_ray_is_alive_when_the_exit_handlers_run() -> None:
    result = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["raised here: no", "alive at exit: True"]
