"""The speed-ups must not change what the network computes or learns.

Each fast path is checked against a plain reference written here the seed's way: the seed's
forward order (ReLU before max-pool), contiguous NCHW tensors, PyTorch's for-loop SGD, and the
whole test batch in one forward pass.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from resnet_mnist.core.config import TrainConfig
from resnet_mnist.core.data import iterate_batches, load_split
from resnet_mnist.core.engine import TrainingControl, build_model, evaluate, make_optimizer, train_epoch
from resnet_mnist.core.model import Net


def seed_forward(model: Net, x: torch.Tensor) -> torch.Tensor:
    """The seed script's Net.forward, operation for operation."""

    def block(b: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(b.conv1(x))
        y = b.conv2(y)
        return F.relu(x + y)

    in_size = x.size(0)
    x = F.max_pool2d(F.relu(model.conv1(x)), 2)
    x = block(model.res_block_1, x)
    x = F.max_pool2d(F.relu(model.conv2(x)), 2)
    x = block(model.res_block_2, x)
    x = x.reshape(in_size, -1)
    x = model.fc1(x)
    return F.log_softmax(x, dim=1)


def _grads(model: Net) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters()]


def _loss_and_grads(model: Net, forward, images: torch.Tensor, labels: torch.Tensor):
    model.zero_grad(set_to_none=True)
    log_probs = forward(images)
    F.nll_loss(log_probs, labels).backward()
    return log_probs.detach(), _grads(model)


@pytest.fixture(scope="module")
def train_split(data_root):
    return load_split(data_root, train=True, limit=64 * 30)


@pytest.fixture(scope="module")
def test_split(data_root):
    return load_split(data_root, train=False, limit=2000)


@pytest.mark.parametrize("channels_last", [False, True])
def test_pooling_before_relu_is_bit_identical_to_the_seeds_order(train_split, channels_last: bool) -> None:
    model = build_model(3, channels_last=channels_last)
    images, labels = train_split.images[:64].clone(), train_split.labels[:64]
    # Ties inside pooling windows: a blank image and one of constant ink give equal values in
    # every 2×2 window, where the seed's ReLU-first order and ours could pick different maxima.
    images[0] = images[0].min()
    images[1] = images[1].max()
    ours = _loss_and_grads(model, model, images, labels)
    seeds = _loss_and_grads(model, lambda x: seed_forward(model, x), images, labels)
    assert torch.equal(ours[0], seeds[0])
    for mine, reference in zip(ours[1], seeds[1], strict=True):
        assert torch.equal(mine, reference)


def test_channels_last_gives_the_same_outputs_and_gradients_as_contiguous(train_split) -> None:
    images, labels = train_split.images[:64], train_split.labels[:64]
    plain = build_model(5, channels_last=False)
    fast = build_model(5, channels_last=True)
    assert fast.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    out_plain, grads_plain = _loss_and_grads(plain, plain, images, labels)
    out_fast, grads_fast = _loss_and_grads(fast, fast, images.contiguous(memory_format=torch.channels_last), labels)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-5, atol=1e-5)
    for mine, reference in zip(grads_fast, grads_plain, strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-4, atol=1e-6)


def test_the_engines_sgd_gives_the_same_weights_as_plain_sgd(train_split) -> None:
    config = TrainConfig(lr=0.05, momentum=0.9)
    ours, plain = build_model(1), build_model(1)
    optimizer = make_optimizer(ours, config)
    reference = torch.optim.SGD(plain.parameters(), lr=config.lr, momentum=config.momentum, foreach=False)
    for images, labels in iterate_batches(train_split, 64, shuffle=False):
        for model, opt in ((ours, optimizer), (plain, reference)):
            opt.zero_grad(set_to_none=True)
            F.nll_loss(model(images), labels).backward()
            opt.step()
    for mine, theirs in zip(ours.parameters(), plain.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def _seed_way_epoch(model: Net, split, generator: torch.Generator, config: TrainConfig) -> None:
    """One epoch the seed's way: its forward, NCHW tensors, for-loop SGD, the same batches."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, foreach=False)
    for images, labels in iterate_batches(split, config.batch_size, shuffle=True, generator=generator):
        optimizer.zero_grad()
        F.nll_loss(seed_forward(model, images), labels).backward()
        optimizer.step()


def _engine_epoch(model: Net, split, generator: torch.Generator, config: TrainConfig) -> None:
    train_epoch(
        model,
        make_optimizer(model, config),
        split,
        epoch=1,
        batch_size=config.batch_size,
        log_interval=config.log_interval,
        generator=generator,
        emit=lambda _event: None,
        channels_last=config.channels_last,
    )


def test_without_channels_last_the_engine_learns_exactly_what_the_seed_does(train_split) -> None:
    config = TrainConfig(lr=0.05, momentum=0.9, channels_last=False)
    ours, seeds = build_model(1), build_model(1)
    _engine_epoch(ours, train_split, torch.Generator().manual_seed(7), config)
    _seed_way_epoch(seeds, train_split, torch.Generator().manual_seed(7), config)
    for mine, theirs in zip(ours.parameters(), seeds.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_the_fast_path_reaches_the_seeds_accuracy_band(train_split, test_split) -> None:
    config = TrainConfig(lr=0.05, momentum=0.9, channels_last=True)
    ours, seeds = build_model(1, channels_last=True), build_model(1)
    _engine_epoch(ours, train_split, torch.Generator().manual_seed(7), config)
    _seed_way_epoch(seeds, train_split, torch.Generator().manual_seed(7), config)
    # Channels-last sums in another order, so the weights drift apart by rounding only.
    for mine, theirs in zip(ours.parameters(), seeds.parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-2, atol=1e-3)
    fast = evaluate(ours, test_split, 1000, channels_last=True)
    with torch.no_grad():
        seeds.eval()
        reference = seed_forward(seeds, test_split.images).argmax(dim=1)
    reference_accuracy = float((reference == test_split.labels).float().mean())
    assert fast is not None
    assert reference_accuracy > 0.8  # 30 batches are enough to learn, so the comparison means something
    assert abs(fast.accuracy - reference_accuracy) <= 0.01


@pytest.mark.parametrize("channels_last", [False, True])
def test_chunked_evaluation_matches_one_big_forward_pass(test_split, channels_last: bool) -> None:
    model = build_model(2, channels_last=channels_last)
    result = evaluate(model, test_split, batch_size=1000, channels_last=channels_last)
    with torch.no_grad():
        log_probs = seed_forward(model, test_split.images)  # all 2,000 at once, NCHW
    best, predicted = log_probs.max(dim=1)
    assert result is not None
    assert result.total == len(test_split)
    assert torch.equal(result.predictions, predicted)
    assert result.correct == int((predicted == test_split.labels).sum())
    torch.testing.assert_close(result.confidences, best.exp(), rtol=1e-5, atol=1e-6)
    expected_loss = float(F.nll_loss(log_probs, test_split.labels, reduction="sum")) / len(test_split)
    assert result.loss == pytest.approx(expected_loss, rel=1e-5)


def test_the_test_pass_stops_between_chunks_of_one_batch(test_split) -> None:
    model = build_model(2, channels_last=True)
    control = TrainingControl()
    forwards = []

    def stop_after_first_forward(_module, _inputs, output) -> None:
        forwards.append(output.shape[0])
        control.stop()

    model.register_forward_hook(stop_after_first_forward)
    result = evaluate(model, test_split, batch_size=1000, channels_last=True, control=control)
    assert result is None
    assert len(forwards) == 1  # the stop was seen before the rest of the first 1,000-image batch
    assert forwards[0] < 1000
