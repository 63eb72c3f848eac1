"""ResNet MNIST Studio: the seed's small ResNet, its data, training engine, runs and worker.

Importing this package never imports Streamlit; the pages in ../pages are thin layers over it.
The names below are what a user of the package needs; everything else is in its own module
(resnet_mnist.config, .data, .engine, .events, .figures, …).
"""

from .checkpoint import load_checkpoint
from .config import ConfigError, TrainConfig
from .data import load_split
from .engine import evaluate, run_training
from .events import RunState
from .inference import predict
from .model import Net
from .preprocess import preprocess_image
from .runs import RunStore
from .worker import TrainingWorker

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
