"""The model is the seed's Net, layer for layer."""

from __future__ import annotations

import torch

from resnet_mnist import Net
from resnet_mnist.core.engine import build_model
from resnet_mnist.core.model import count_parameters

# The seed's layer names, in its declaration order (conv2_drop has no weights).
SEED_STATE_KEYS = [
    "conv1.weight",
    "conv1.bias",
    "conv2.weight",
    "conv2.bias",
    "res_block_1.conv1.weight",
    "res_block_1.conv1.bias",
    "res_block_1.conv2.weight",
    "res_block_1.conv2.bias",
    "res_block_2.conv1.weight",
    "res_block_2.conv1.bias",
    "res_block_2.conv2.weight",
    "res_block_2.conv2.bias",
    "fc1.weight",
    "fc1.bias",
]


def test_parameter_count_is_the_seeds() -> None:
    assert count_parameters(Net()) == 41_514


def test_state_dict_uses_the_seeds_layer_names_and_shapes() -> None:
    state = Net().state_dict()
    assert list(state) == SEED_STATE_KEYS
    assert state["conv1.weight"].shape == (16, 1, 5, 5)
    assert state["conv2.weight"].shape == (32, 16, 5, 5)
    assert state["res_block_1.conv1.weight"].shape == (16, 16, 3, 3)
    assert state["res_block_2.conv2.weight"].shape == (32, 32, 3, 3)
    assert state["fc1.weight"].shape == (10, 512)


def test_forward_gives_log_probabilities_per_image() -> None:
    model = Net().eval()
    with torch.no_grad():
        out = model(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10)
    torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(3))


def test_same_seed_same_weights_and_global_rng_untouched() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a, b = build_model(7), build_model(7)
    assert torch.rand(1) == expected_next  # build_model forks the RNG
    for key, tensor in a.state_dict().items():
        assert torch.equal(tensor, b.state_dict()[key]), key
    c = build_model(8)
    assert not torch.equal(a.state_dict()["fc1.weight"], c.state_dict()["fc1.weight"])


def test_channels_last_model_computes_the_same_outputs() -> None:
    images = torch.randn(4, 1, 28, 28)
    plain, fast = build_model(3).eval(), build_model(3, channels_last=True).eval()
    with torch.no_grad():
        expected = plain(images)
        got = fast(images.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
