"""What each speed-up buys: switched on one after another, timed in one process, interleaved.

Run through `bench/speed.py --ablation` (which prints the machine and the load around it). The
variants start from the seed's way (its DataLoader, NCHW, ReLU before each max-pool) and add the
project's: in-memory batches, channels-last, pool before ReLU, 256-image test chunks, bf16 autocast.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from resnet_mnist.core.data import MNIST_TEST_SIZE as TEST_IMAGES
from resnet_mnist.core.data import MnistSplit, iterate_batches, load_split
from resnet_mnist.core.engine import build_model, evaluate
from resnet_mnist.core.precision import FP32, resolve_precision

__all__ = ["BATCH_SIZE", "TEST_BATCH_SIZE", "ablation"]

BATCH_SIZE = 64  # the seed's batch sizes: the side-by-side run in speed.py uses them too
TEST_BATCH_SIZE = 1000


def ablation(data_root: Path, batches: int, repeats: int, clock: Callable[[], float]) -> None:
    """Each speed-up switched on one after another, timed in this process, interleaved.

    Training: `batches` steps per variant, taken 10 at a time in turn so load drift hits all alike.
    Test: the full test pass per variant, `repeats` times in turn; medians are shown.
    """
    train_split, test_split = load_split(data_root, train=True), load_split(data_root, train=False)
    _training_ablation(data_root, train_split, batches, clock)
    _test_ablation(data_root, test_split, repeats, clock)


def _training_ablation(data_root: Path, train_split: MnistSplit, batches: int, clock: Callable[[], float]) -> None:
    # name, seed's DataLoader?, channels-last?, the project's forward (pool before ReLU)?
    train_variants = [
        ("seed: DataLoader, NCHW", True, False, False),
        ("+ in-memory batches", False, False, False),
        ("+ channels-last", False, True, False),
        ("+ pool before ReLU", False, True, True),
        ("+ bf16 autocast", False, True, True),
    ]
    steps = []
    for index, (_name, loader, channels_last, ours) in enumerate(train_variants):
        model = build_model(1, channels_last=channels_last)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.5)
        source = _seed_loader(data_root, True, BATCH_SIZE) if loader else None
        batches_of = iter(source) if source is not None else None
        if batches_of is None:
            generator = torch.Generator().manual_seed(1)
            batches_of = iterate_batches(train_split, BATCH_SIZE, shuffle=True, generator=generator)
        forward = model if ours else partial(_seed_order_forward, model)
        if index == len(train_variants) - 1:
            forward = _in_bf16(forward)
        steps.append(_train_steps(model, optimizer, batches_of, forward, channels_last, clock))
    for run in steps:  # first steps build oneDNN's kernels; not what we compare
        run(3)
    spent = [0.0] * len(train_variants)
    for _ in range(math.ceil(batches / 10)):
        for i, run in enumerate(steps):
            spent[i] += run(10)
    print(f"\nablation, training ({math.ceil(batches / 10) * 10} steps of {BATCH_SIZE} each):")
    _ablation_table([name for name, *_ in train_variants], spent)


def _test_ablation(data_root: Path, test_split: MnistSplit, repeats: int, clock: Callable[[], float]) -> None:
    def seed_style(loader: bool, channels_last: bool, ours: bool) -> Callable[[], None]:
        return _seed_style_test(data_root, test_split, loader=loader, channels_last=channels_last, ours=ours)

    project_model = build_model(1, channels_last=True)
    bf16 = resolve_precision("bf16", "cpu")
    for precision in (FP32, bf16):  # build oneDNN's kernels for both
        warm = MnistSplit(test_split.images[:256], test_split.labels[:256])
        evaluate(project_model, warm, channels_last=True, precision=precision)
    test_variants = [
        ("seed: DataLoader, NCHW", seed_style(True, False, False)),
        ("+ in-memory batches", seed_style(False, False, False)),
        ("+ channels-last", seed_style(False, True, False)),
        ("+ pool before ReLU", seed_style(False, True, True)),
        ("+ 256-image chunks", partial(evaluate, project_model, test_split, TEST_BATCH_SIZE, channels_last=True)),
        (
            "+ bf16 autocast",
            partial(evaluate, project_model, test_split, TEST_BATCH_SIZE, channels_last=True, precision=bf16),
        ),
    ]
    times: list[list[float]] = [[] for _ in test_variants]
    for _ in range(repeats):
        for i, (_name, run) in enumerate(test_variants):
            started = clock()
            run()
            times[i].append(clock() - started)
    print(f"ablation, test pass ({TEST_IMAGES:,} images at batch {TEST_BATCH_SIZE}, median of {repeats}):")
    _ablation_table([name for name, _ in test_variants], [statistics.median(t) for t in times])


def _seed_style_test(
    data_root: Path, test_split: MnistSplit, *, loader: bool, channels_last: bool, ours: bool
) -> Callable[[], None]:
    """A test pass done the seed's way, with the given speed-ups on: the seed's loop, not evaluate()."""
    model = build_model(1, channels_last=channels_last).eval()
    forward = model if ours else partial(_seed_order_forward, model)
    source = _seed_loader(data_root, False, TEST_BATCH_SIZE) if loader else None

    with torch.no_grad():  # build oneDNN's kernels for this shape before timing
        forward(_in_format(test_split.images[:TEST_BATCH_SIZE], channels_last))

    @torch.no_grad()
    def run() -> None:
        pairs = source if source is not None else iterate_batches(test_split, TEST_BATCH_SIZE, shuffle=False)
        for images, labels in pairs:
            log_probs = forward(_in_format(images, channels_last))
            F.nll_loss(log_probs, labels, reduction="sum").item()
            log_probs.max(dim=1)

    return run


def _seed_order_forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The seed script's forward: ReLU before each max-pool, over the full-size maps."""

    def block(b: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + b.conv2(F.relu(b.conv1(x))))

    x = block(model.res_block_1, F.max_pool2d(F.relu(model.conv1(x)), 2))
    x = block(model.res_block_2, F.max_pool2d(F.relu(model.conv2(x)), 2))
    return F.log_softmax(model.fc1(x.reshape(x.size(0), -1)), dim=1)


def _seed_loader(data_root: Path, train: bool, batch_size: int) -> torch.utils.data.DataLoader:
    """The seed's data path: PIL images through ToTensor + Normalize, one at a time, in a DataLoader."""
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    dataset = datasets.MNIST(root=str(data_root), train=train, transform=transform, download=False)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=train)


def _train_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterator,
    forward: Callable,
    channels_last: bool,
    clock: Callable[[], float],
) -> Callable[[int], float]:
    """A function that runs the next n training steps and returns the seconds they took."""

    def run(n: int) -> float:
        started = clock()
        for _ in range(n):
            images, labels = next(batches)
            optimizer.zero_grad(set_to_none=True)
            loss = F.nll_loss(forward(_in_format(images, channels_last)), labels)
            loss.backward()
            optimizer.step()
        return clock() - started

    return run


def _in_bf16(forward: Callable) -> Callable:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return forward(x)

    return run


def _in_format(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def _ablation_table(names: list[str], seconds: list[float]) -> None:
    print(f"  {'':<26} {'seconds':>8} {'vs seed':>8} {'vs previous':>12}")
    for i, (name, value) in enumerate(zip(names, seconds, strict=True)):
        previous = f"{value / seconds[i - 1]:.2f}" if i else ""
        print(f"  {name:<26} {value:>8.2f} {value / seconds[0]:>8.2f} {previous:>12}")
