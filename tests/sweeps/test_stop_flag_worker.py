"""The sweep's stop-flag worker stays light: it imports Ray, not torch (a CPU-second and a process's worth
of memory per sweep). It gets its flag module through the package's lazily loaded top-level names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import resnet_mnist

REPO = Path(__file__).resolve().parents[2]


def test_the_stop_flags_worker_imports_ray_but_not_torch() -> None:
    # What a Ray worker for the flag imports: Ray's preload module (warm_worker, told not to warm up), then the
    # actor's module. Run in a fresh interpreter: this test process has torch already.
    code = (
        "import sys; import resnet_mnist.sweeps.warm_worker, resnet_mnist.sweeps.stop_flag; "
        "print(sorted(m for m in ('torch', 'ray', 'ray.tune', 'pandas') if m in sys.modules))"
    )
    env = {"RESNET_MNIST_NO_WARM_UP": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "['ray']"


def test_every_top_level_name_loads_on_first_use() -> None:
    for name in resnet_mnist.__all__:
        assert getattr(resnet_mnist, name).__name__ == name
    assert set(dir(resnet_mnist)) >= set(resnet_mnist.__all__)
