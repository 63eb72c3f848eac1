"""Imported by every worker process of a local Ray that a sweep's process starts, before it takes work.

Ray's `preload_python_modules` setting (process.connect_for) names this module, so torch, the
trainable and the parsed MNIST splits (core/data.py's per-process cache) are in place before the
first trial's actor lands on the worker: with Ray started ahead of need, a trial starts in well
under a second instead of the ~5 s a fresh process takes. Best effort: a worker whose warm-up fails
is only a cold one, never a broken one. Each leaves a mark (its pid) where the standby looks for it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from resnet_mnist.sweeps.stop_flag import NO_WARM_UP_ENV_VAR  # Ray only: the stop flag's worker stays light


def _warm_up() -> None:
    import resnet_mnist.sweeps.trainable  # noqa: F401  (torch, Ray Tune and the engine)
    from resnet_mnist.core.data import dataset_status, load_split

    if dataset_status().found:  # $RESNET_MNIST_DATA, as the sweep's process was given it
        load_split(train=True, download=False)
        load_split(train=False, download=False)


if not os.environ.get(NO_WARM_UP_ENV_VAR):
    with contextlib.suppress(Exception):
        _warm_up()
    with contextlib.suppress(Exception):
        from resnet_mnist.sweeps.standby import WARM_MARKS_ENV_VAR

        marks = os.environ.get(WARM_MARKS_ENV_VAR)
        if marks:
            (Path(marks) / str(os.getpid())).touch()
