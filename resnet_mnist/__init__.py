"""ResNet MNIST Studio: the seed's small ResNet, its data, training engine, runs and worker.

Importing this package never imports Streamlit; the pages in ../pages are thin layers over it.
The names below are what a user of the package needs; everything else is in its own module
(resnet_mnist.core.config, .data, .engine, .events, .figures, …).

The names are loaded on first use (PEP 562), so importing one light module of the package (a sweep's
stop flag in its own Ray worker, say) does not import torch with it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resnet_mnist.core.config import ConfigError, TrainConfig
    from resnet_mnist.core.data import load_split
    from resnet_mnist.core.engine import evaluate, run_training
    from resnet_mnist.core.events import RunState
    from resnet_mnist.core.model import Net
    from resnet_mnist.jobs.worker import TrainingWorker
    from resnet_mnist.predict.inference import predict
    from resnet_mnist.predict.preprocess import preprocess_image
    from resnet_mnist.runs.checkpoint import load_checkpoint
    from resnet_mnist.runs.store import RunStore

_HOMES = {
    "ConfigError": "resnet_mnist.core.config",
    "Net": "resnet_mnist.core.model",
    "RunState": "resnet_mnist.core.events",
    "RunStore": "resnet_mnist.runs.store",
    "TrainConfig": "resnet_mnist.core.config",
    "TrainingWorker": "resnet_mnist.jobs.worker",
    "evaluate": "resnet_mnist.core.engine",
    "load_checkpoint": "resnet_mnist.runs.checkpoint",
    "load_split": "resnet_mnist.core.data",
    "predict": "resnet_mnist.predict.inference",
    "preprocess_image": "resnet_mnist.predict.preprocess",
    "run_training": "resnet_mnist.core.engine",
}
__all__ = [
    "ConfigError",
    "Net",
    "RunState",
    "RunStore",
    "TrainConfig",
    "TrainingWorker",
    "evaluate",
    "load_checkpoint",
    "load_split",
    "predict",
    "preprocess_image",
    "run_training",
]


def __getattr__(name: str) -> Any:
    """`resnet_mnist.Name`: imported from its module the first time it is asked for, then kept."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'resnet_mnist' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


class _Package(types.ModuleType):
    """This package's module object: `resnet_mnist.predict` stays the function when the subpackage of the same
    name is imported (Python sets a subpackage as an attribute of its parent, which would hide the function)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _HOMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
