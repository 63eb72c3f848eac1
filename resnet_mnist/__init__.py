"""ResNet MNIST Studio: the seed's small ResNet, its data, training engine, runs and worker.

Importing this package never imports Streamlit; the pages in ../pages are thin layers over it.
"""

from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .config import ConfigError, ConfigProblem, TrainConfig
from .data import MNIST_MEAN, MNIST_STD, DatasetError, MnistSplit, dataset_status, load_split
from .devices import DeviceOption, available_devices
from .engine import Evaluation, TrainingControl, TrainingOutcome, build_model, evaluate, run_training
from .events import BatchLogged, EpochCompleted, EvaluationStarted, HyperparamsChanged, RunState, StateChanged
from .inference import Prediction, predict
from .model import Net, ResidualBlock, count_parameters
from .preprocess import ImageError, PreprocessedDigit, load_image, preprocess_image
from .runs import RunInfo, RunStore, UnreadableRun, resolve_runs_dir
from .worker import TrainingWorker, WorkerBusyError, WorkerIdleError, WorkerSnapshot

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "BatchLogged",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "ConfigProblem",
    "DatasetError",
    "DeviceOption",
    "EpochCompleted",
    "Evaluation",
    "EvaluationStarted",
    "HyperparamsChanged",
    "ImageError",
    "MnistSplit",
    "Net",
    "Prediction",
    "PreprocessedDigit",
    "ResidualBlock",
    "RunInfo",
    "RunState",
    "RunStore",
    "StateChanged",
    "TrainConfig",
    "TrainingControl",
    "TrainingOutcome",
    "TrainingWorker",
    "UnreadableRun",
    "WorkerBusyError",
    "WorkerIdleError",
    "WorkerSnapshot",
    "available_devices",
    "build_model",
    "count_parameters",
    "dataset_status",
    "evaluate",
    "load_checkpoint",
    "load_image",
    "load_split",
    "predict",
    "preprocess_image",
    "resolve_runs_dir",
    "run_training",
    "save_checkpoint",
]
