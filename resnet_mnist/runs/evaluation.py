"""A run's checkpoint tested on the MNIST test set: confusion matrix, per-class accuracy, mistakes.

The result is cached in the run's folder (evaluation.json + evaluation.pt), keyed by the
checkpoint file's size and mtime, so a page rerun reads it back instead of recomputing it
(verdict_cache.py: the same rules as the handwriting score's cache).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from resnet_mnist.core.data import MNIST_MEAN, MNIST_STD, load_split
from resnet_mnist.core.engine import evaluate
from resnet_mnist.core.files import FileRefused, read_bounded, write_cache_file
from resnet_mnist.core.precision import resolve_precision
from resnet_mnist.runs.checkpoint import CheckpointError, check_archive, load_checkpoint
from resnet_mnist.runs.schema import (
    EVALUATION_FORMAT,
    EvaluationKey,
    Misclassified,
    VerdictRecord,
    parse_evaluation,
    record_dict,
)
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.runs.verdict_cache import VerdictCache, checkpoint_stamp

__all__ = [
    "EVALUATION_CACHE",
    "EVALUATION_FILE",
    "NUM_CLASSES",
    "PREDICTIONS_FILE",
    "Misclassified",
    "RunEvaluation",
    "cached_evaluation",
    "cached_predictions",
    "digit_images",
    "evaluate_run",
]

EVALUATION_FILE = "evaluation.json"
PREDICTIONS_FILE = "evaluation.pt"
NUM_CLASSES = 10
_MAX_PREDICTIONS_BYTES = 1_000_000  # two tensors of 10,000 values: ~0.1 MB, stored or deflated
EVALUATION_CACHE = VerdictCache(EVALUATION_FILE, EVALUATION_FORMAT)


@dataclass(frozen=True)
class RunEvaluation:
    """The test-set verdict on one checkpoint; `confusion[true][predicted]` counts images."""

    run_id: str
    total: int
    correct: int
    loss: float
    confusion: tuple[tuple[int, ...], ...]  # (10, 10)
    misclassified: tuple[Misclassified, ...]  # most confident mistakes first
    test_limit: int | None
    checkpoint_epoch: int
    computed_at: str
    from_cache: bool = False

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def class_counts(self) -> tuple[int, ...]:
        """Test images per true class (the confusion matrix's row sums)."""
        return tuple(sum(row) for row in self.confusion)

    @property
    def per_class_accuracy(self) -> tuple[float | None, ...]:
        """Fraction of each true class predicted right; None for a class absent from the test slice."""
        return tuple(row[c] / sum(row) if sum(row) else None for c, row in enumerate(self.confusion))

    @property
    def normalised_confusion(self) -> tuple[tuple[float, ...], ...]:
        """Each row divided by its sum: where the images of one true class went."""
        return tuple(tuple(v / sum(row) if sum(row) else 0.0 for v in row) for row in self.confusion)


def _checkpoint_key(path: Path, test_limit: int | None) -> EvaluationKey:
    size, mtime_ns = checkpoint_stamp(path)
    return EvaluationKey(size=size, mtime_ns=mtime_ns, test_limit=test_limit)


def _read_cache(folder: Path, key: EvaluationKey) -> RunEvaluation | None:
    """The cached evaluation if it is valid and belongs to this checkpoint and slice; None means compute afresh."""
    record = EVALUATION_CACHE.read(folder, key, lambda raw: parse_evaluation(raw, EVALUATION_FILE, classes=NUM_CLASSES))
    return None if record is None else cached_evaluation(record, folder.name, test_limit=record.key.test_limit)


def cached_evaluation(record: VerdictRecord, run_id: str, *, test_limit: int | None) -> RunEvaluation:
    """A verdict read back from a cache file (MNIST's evaluation.json, the handwriting's score) as a RunEvaluation."""
    return RunEvaluation(
        run_id=run_id,
        total=record.total,
        correct=record.correct,
        loss=record.loss,
        confusion=record.confusion,
        misclassified=record.misclassified,
        test_limit=test_limit,
        checkpoint_epoch=record.checkpoint_epoch,
        computed_at=record.computed_at,
        from_cache=True,
    )


def evaluate_run(
    run: RunInfo,
    *,
    data_root: str | os.PathLike[str] | None = None,
    test_limit: int | None = None,
    device: str = "cpu",
    batch_size: int = 1000,
    epoch: int | None = None,
) -> RunEvaluation:
    """Evaluate the run's checkpoint on the first `test_limit` test images (all when None), cached.

    `epoch` tests that epoch's checkpoint (epochs/epoch-NNN.pt) instead of the last, uncached: the run's
    cache file holds one verdict, its last checkpoint's, which the Runs table and the line-up read.
    Raises CheckpointError when the run has no usable checkpoint, DatasetError without MNIST.
    """
    checkpoint_path = run.checkpoint_path if epoch is None else run.epoch_checkpoint_path(epoch)
    if checkpoint_path.is_symlink():
        raise CheckpointError(f"{checkpoint_path} is a symbolic link; only a real file in the run folder is used")
    key = _checkpoint_key(checkpoint_path, test_limit) if checkpoint_path.is_file() and epoch is None else None
    if key is not None:
        cached = _read_cache(run.path, key)
        if cached is not None:
            return cached
    checkpoint = load_checkpoint(checkpoint_path)  # CheckpointError says why it cannot be used
    model = checkpoint.build_model(device)
    split = load_split(data_root, train=False, limit=test_limit)
    # In the run's own precision, so the accuracy is the one the run recorded (on this machine).
    precision = resolve_precision(checkpoint.config.precision, torch.device(device))
    result = evaluate(model, split.to(device), batch_size, precision=precision)
    assert result is not None  # no control given, so it cannot be stopped midway
    labels = split.labels.cpu()  # (N,)
    predictions, confidences = result.predictions, result.confidences  # (N,), (N,)
    # Row = true class, column = predicted class.
    confusion = torch.bincount(labels * NUM_CLASSES + predictions, minlength=NUM_CLASSES**2).reshape(
        NUM_CLASSES, NUM_CLASSES
    )
    wrong = torch.nonzero(predictions != labels).flatten()
    order = torch.argsort(confidences[wrong], descending=True, stable=True)
    misclassified = tuple(
        Misclassified(int(i), int(labels[i]), int(predictions[i]), float(confidences[i])) for i in wrong[order]
    )
    evaluation = RunEvaluation(
        run_id=run.id,
        total=result.total,
        correct=result.correct,
        loss=result.loss,
        confusion=tuple(tuple(int(v) for v in row) for row in confusion.tolist()),
        misclassified=misclassified,
        test_limit=test_limit,
        checkpoint_epoch=checkpoint.epoch,
        computed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    # Cache only if the checkpoint did not change while we read it (a run may still be writing it).
    if key is not None and run.path.is_dir() and _checkpoint_key(checkpoint_path, test_limit) == key:
        _write_cache(run.path, key, evaluation, predictions, confidences)
    return evaluation


def _write_cache(
    folder: Path, key: EvaluationKey, evaluation: RunEvaluation, predictions: torch.Tensor, confidences: torch.Tensor
) -> None:
    buffer = io.BytesIO()
    torch.save({"predictions": predictions, "confidences": confidences, "key": record_dict(key)}, buffer)
    if write_cache_file(folder / PREDICTIONS_FILE, buffer.getvalue()):  # not when the run was deleted meanwhile
        EVALUATION_CACHE.write(folder, key, evaluation)


def cached_predictions(run: RunInfo) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Every test image's prediction (N,) and confidence (N,) from the cached evaluation, or None.

    A file refused by its size on disk or by its zip's declared sizes (a deflated entry can unpack to
    ~1,000 times its size) is no cache: the evaluation is computed afresh.
    """
    try:
        raw = read_bounded(run.path / PREDICTIONS_FILE, _MAX_PREDICTIONS_BYTES)
        check_archive(raw, PREDICTIONS_FILE, max_unpacked=_MAX_PREDICTIONS_BYTES, usual="it holds about 0.1 MB")
        data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        predictions, confidences = data["predictions"], data["confidences"]
    except (FileRefused, CheckpointError, OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError, IndexError):
        return None
    shapes_match = (
        isinstance(predictions, torch.Tensor)
        and isinstance(confidences, torch.Tensor)
        and predictions.dim() == 1
        and predictions.shape == confidences.shape
        and not predictions.is_floating_point()
    )
    if not shapes_match or not bool(((predictions >= 0) & (predictions < NUM_CLASSES)).all()):
        return None
    return predictions, confidences


def digit_images(indices: list[int], *, data_root: str | os.PathLike[str] | None = None, scale: int = 1) -> np.ndarray:
    """The test images at `indices` as uint8 pixels (K, 28·scale, 28·scale), white digit on black.

    `scale` repeats each pixel, so a browser shows them crisp instead of blurred when enlarged.
    """
    split = load_split(data_root, train=False)
    images = split.images[torch.as_tensor(indices, dtype=torch.long)].cpu()  # (K, 1, 28, 28) normalised
    pixels = (images * MNIST_STD + MNIST_MEAN) * 255  # back to 0..255
    digits = pixels.round().clamp(0, 255).to(torch.uint8)[:, 0]  # (K, 28, 28)
    if scale > 1:
        digits = digits.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    return digits.numpy()
