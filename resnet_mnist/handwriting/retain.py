"""Keep what the parent knew while teaching it a new hand: the loss term teach adds to the engine's (a LossTerm).

Learning without forgetting, on replayed MNIST: every step draws a fresh batch of MNIST training images
and pulls the new model's answers on them (softened by a temperature) toward the parent's, so its MNIST
stays as it was while the handwriting and the mixed-in MNIST images teach through their labels alone.
Distilling on the step's own batch too (where the parent read it right) held back the new hand on a
well-trained parent (bench/teach_methods.py; figures in the README). An L2 pull toward the parent's
weights (L2-SP) is here too; it was measured, and is off by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from resnet_mnist.core.data import MnistSplit
from resnet_mnist.core.model import Net

__all__ = ["ParentPull"]


class ParentPull:
    """`distill`·T²·KL(parent ‖ model) on `replay_batch` MNIST images drawn from `replay` each step,
    plus `weight_pull`·Σ(w − w_parent)²/2.

    T is Hinton's temperature (T² keeps the gradient's size whatever T). The parent, and the replay images,
    move to the training device on first use; `seed` fixes which images are drawn.
    """

    def __init__(
        self,
        parent_state: dict[str, torch.Tensor],
        *,
        distill: float,
        replay: MnistSplit | None = None,
        replay_batch: int = 0,
        weight_pull: float = 0.0,
        temperature: float = 2.0,
        seed: int = 0,
    ) -> None:
        self.distill, self.weight_pull, self.temperature = distill, weight_pull, temperature
        self._replay, self._replay_batch = replay, replay_batch
        self._draws = torch.Generator().manual_seed(seed)
        self._parent = Net()
        self._parent.load_state_dict(parent_state)
        self._parent.eval().requires_grad_(False)
        self._anchors: list[torch.Tensor] | None = None

    def __call__(self, model: Net, images: torch.Tensor, labels: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
        total = log_probs.new_zeros(())
        if self.distill > 0 and self._replay is not None and self._replay_batch > 0:
            total = total + self.distill * self._replayed(model, images.device)
        if self.weight_pull > 0:
            total = total + self.weight_pull / 2 * self._distance(model)
        return total

    def _replayed(self, model: Net, device: torch.device) -> torch.Tensor:
        """T²·KL(parent ‖ model), batch mean, on `replay_batch` MNIST images drawn afresh."""
        assert self._replay is not None
        if self._replay.images.device != device:
            self._replay = self._replay.to(device)
            self._parent.to(device)
        pick = torch.randint(len(self._replay), (self._replay_batch,), generator=self._draws).to(device)
        images = self._replay.images.index_select(0, pick)  # (B, 1, 28, 28)
        with torch.no_grad():
            parent = self._parent(images)  # (B, 10) log-probabilities, in the step's precision
        # log_softmax(log p / T) = log_softmax(z / T): the logits' shift cancels, so softening needs no logits.
        t = self.temperature
        soft_model = F.log_softmax(model(images).float() / t, dim=1)
        soft_parent = F.log_softmax(parent.float() / t, dim=1)
        return F.kl_div(soft_model, soft_parent, log_target=True, reduction="batchmean") * t * t

    def _distance(self, model: Net) -> torch.Tensor:
        """Σ over every weight of (w − w_parent)², the parent's weights taken on the model's device."""
        params = list(model.parameters())
        if self._anchors is None:
            self._anchors = [p.detach().to(params[0].device, copy=True) for p in self._parent.parameters()]
        return sum(((p.float() - a) ** 2).sum() for p, a in zip(params, self._anchors, strict=True))
