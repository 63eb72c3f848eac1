"""The seed's small residual network, layer for layer (see ../shared/seed/)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Net", "ResidualBlock", "count_parameters"]


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions whose output is added back onto the input before the last ReLU."""

    def __init__(self, channel: int) -> None:
        super().__init__()
        # padding=1 keeps the spatial size, so the skip connection adds like with like.
        self.conv1 = nn.Conv2d(channel, channel, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channel, channel, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv1(x))
        y = self.conv2(y)
        return F.relu(x + y)


class Net(nn.Module):
    """conv 1→16 → pool → ResidualBlock(16) → conv 16→32 → pool → ResidualBlock(32) → fc 512→10."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)
        self.res_block_1 = ResidualBlock(16)
        self.res_block_2 = ResidualBlock(32)
        # Declared but never used by the seed's forward; it has no weights. Kept so the
        # module prints as the seed's does.
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(512, 10)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The activations after each stage, for looking inside the network."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 16, 12, 12)
        conv1 = x
        x = self.res_block_1(x)  # (N, 16, 12, 12)
        res1 = x
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 32, 4, 4)
        conv2 = x
        x = self.res_block_2(x)  # (N, 32, 4, 4)
        return {"conv1": conv1, "res_block_1": res1, "conv2": conv2, "res_block_2": x}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_size = x.size(0)
        # The seed computes max_pool(relu(conv)). ReLU is monotonic, so pooling first and then
        # applying ReLU gives bit-identical outputs and gradients (the max sits at the same place,
        # ties included) while ReLU and its backward touch a quarter of the values. The ReLU works
        # in place on max_pool's fresh output, which no one else holds.
        x = F.relu(F.max_pool2d(self.conv1(x), 2), inplace=True)  # (N, 16, 24, 24) → (N, 16, 12, 12)
        x = self.res_block_1(x)
        x = F.relu(F.max_pool2d(self.conv2(x), 2), inplace=True)  # (N, 32, 8, 8) → (N, 32, 4, 4)
        x = self.res_block_2(x)
        # reshape, not view: a channels-last tensor is not contiguous in NCHW order.
        x = x.reshape(in_size, -1)  # (N, 512)
        x = self.fc1(x)
        # Under mixed precision fc1 gives 16-bit scores; the log-probabilities (and so the loss, its
        # gradient and the confidences) are taken in fp32, as CUDA's autocast does by itself.
        # For fp32 scores .float() returns the same tensor: nothing changes.
        return F.log_softmax(x.float(), dim=1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (the seed's Net has 41,514)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
