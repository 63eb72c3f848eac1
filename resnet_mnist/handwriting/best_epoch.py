"""Keep the epoch that reads held-out MNIST best: early stopping for a fine-tune.

A teach run's later epochs forget MNIST in some runs and not in others: on the seed's 1-epoch model and
the styled set, one run in four lost about a point by its third epoch (1.01–1.25, as the mix was drawn)
where the rest lost 0.01–0.14 (README:
Teach without forgetting). Each epoch's weights are scored on MNIST training images that neither the mix
nor the replay ever draws (the watch slice), so the test set that reports the result stays unseen.
"""

from __future__ import annotations

import torch

from resnet_mnist.core.data import MnistSplit
from resnet_mnist.core.engine import evaluate
from resnet_mnist.core.events import EpochCompleted, Event
from resnet_mnist.core.model import Net
from resnet_mnist.core.precision import resolve_precision

__all__ = ["WATCH_IMAGES", "BestEpoch"]

WATCH_IMAGES = 1_000  # MNIST's last training images: the slice each epoch is judged on, never trained on


class BestEpoch:
    """A listener that scores each completed epoch's weights on `watch` and keeps the best (the earliest on a tie)."""

    def __init__(self, watch: MnistSplit, precision: str) -> None:
        self._watch, self._precision = watch, precision
        self.epoch: int | None = None
        self.accuracy: float | None = None
        self.state: dict[str, torch.Tensor] | None = None
        self.scores: list[float] = []  # each epoch's, in order

    def __call__(self, event: Event) -> None:
        if not isinstance(event, EpochCompleted) or event.model_state is None:
            return
        accuracy = self.score(event.model_state)
        self.scores.append(accuracy)
        if self.accuracy is None or accuracy > self.accuracy:
            self.epoch, self.accuracy, self.state = event.epoch, accuracy, event.model_state

    def score(self, state: dict[str, torch.Tensor]) -> float:
        """Accuracy of the weights `state` on the watch slice, on the CPU, in the fine-tune's precision."""
        precision = resolve_precision(self._precision, torch.device("cpu"))
        result = evaluate(_net(state), self._watch, batch_size=1000, precision=precision)
        assert result is not None  # no control given, so it cannot be stopped midway
        return result.accuracy

    def model(self) -> Net | None:
        """The kept epoch's model (CPU), or None before any epoch ended."""
        return None if self.state is None else _net(self.state)


def _net(state: dict[str, torch.Tensor]) -> Net:
    """A Net holding `state`, in eval mode."""
    model = Net()
    model.load_state_dict(state)
    return model.eval()
