"""The test pass: loss and accuracy of a model over a split, in the run's precision, stoppable between chunks."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from resnet_mnist.core.control import TrainingControl
from resnet_mnist.core.data import MnistSplit, iterate_batches
from resnet_mnist.core.model import Net
from resnet_mnist.core.precision import FP32, Precision

__all__ = ["Evaluation", "evaluate", "evaluation_of", "prepare_images"]


@dataclass(frozen=True)
class Evaluation:
    """Test-pass results: loss summed over images then averaged (the seed's way), accuracy 0..1."""

    loss: float
    accuracy: float
    correct: int
    total: int
    predictions: torch.Tensor  # (N,) int64, on the CPU
    confidences: torch.Tensor  # (N,) float32 probability of the predicted class


def prepare_images(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """`images` in the memory format the run's model expects."""
    # For MNIST's one channel this is free: a (N, 1, H, W) tensor is already channels-last.
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


# On a CPU, 1,000 test images at once give the first conv 37 MB of activations, more than the
# caches hold; 256 at a time stay in cache and the test pass runs about 30% faster. Each image's
# output does not depend on its neighbours, so the results are the same. GPUs want big batches.
_CPU_EVAL_CHUNK = 256


def _eval_chunk(device: torch.device, batch_size: int) -> int:
    return min(batch_size, _CPU_EVAL_CHUNK) if device.type == "cpu" else batch_size


@torch.no_grad()
def evaluate(
    model: Net,
    split: MnistSplit,
    batch_size: int = 1000,
    *,
    channels_last: bool = False,
    control: TrainingControl | None = None,
    precision: Precision = FP32,
) -> Evaluation | None:
    """Test loss and accuracy over `split`; None when a stop was asked for midway.

    `batch_size` images are taken at a time (the seed's test batch); on a CPU each batch goes
    through the network in cache-sized chunks. A stop is noticed between chunks. The forward
    pass runs in `precision` (the run's own), the loss and confidences in fp32.
    """
    model.eval()
    device = next(model.parameters()).device
    chunk = _eval_chunk(device, batch_size)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    predictions, confidences = [], []
    for batch_images, batch_labels in iterate_batches(split, batch_size, shuffle=False):
        for images, labels in zip(batch_images.split(chunk), batch_labels.split(chunk), strict=True):
            if control is not None and control.stop_requested:
                return None
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with precision.autocast():
                log_probs = model(prepare_images(images, channels_last))  # (n, 10), fp32
            loss_sum += F.nll_loss(log_probs, labels, reduction="sum").double()
            best, predicted = log_probs.max(dim=1)
            predictions.append(predicted)
            confidences.append(best.exp())
    prediction = torch.cat(predictions).cpu()
    total = len(split)
    correct = int((prediction == split.labels.cpu()).sum())
    return Evaluation(
        loss=float(loss_sum) / total,
        accuracy=correct / total,
        correct=correct,
        total=total,
        predictions=prediction,
        confidences=torch.cat(confidences).float().cpu(),
    )


def evaluation_of(log_probs: torch.Tensor, labels: torch.Tensor) -> Evaluation:
    """The test pass's figures from log-probabilities already computed (N, 10) and the labels (N,): what
    `evaluate` gives for the same outputs, for answers cached per image and labels that changed since."""
    total = len(labels)
    best, predicted = log_probs.max(dim=1) if total else (torch.empty(0), torch.empty(0, dtype=torch.int64))
    loss = float(F.nll_loss(log_probs.double(), labels, reduction="sum")) / total if total else 0.0
    correct = int((predicted == labels).sum())
    return Evaluation(
        loss=loss,
        accuracy=correct / total if total else 0.0,
        correct=correct,
        total=total,
        predictions=predicted.cpu(),
        confidences=best.exp().float().cpu(),
    )
