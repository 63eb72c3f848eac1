"""ResNet MNIST Studio: the seed's small ResNet, its data, training engine, runs and worker.

Importing this package never imports Streamlit; the pages in ../pages are thin layers over it.
The names below are what a user of the package needs; everything else is in its own module
(resnet_mnist.core.config, .data, .engine, .events, .figures, …).
"""

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
