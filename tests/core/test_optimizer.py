"""Some layers can learn at a share of the lr (teach keeps the early layers slow), and live changes keep that share."""

from __future__ import annotations

from pathlib import Path

import torch

from resnet_mnist import TrainConfig, run_training
from resnet_mnist.core.engine import build_model
from resnet_mnist.core.optimizer import apply_hyperparams, make_optimizer


def test_scaled_layers_get_their_share_of_the_lr_in_their_own_group_and_keep_it_through_changes() -> None:
    model = build_model(1)
    config = TrainConfig(lr=0.02, momentum=0.5)
    plain = make_optimizer(model, config)
    assert len(plain.param_groups) == 1 and plain.param_groups[0]["lr"] == 0.02
    optimizer = make_optimizer(model, config, {"conv1": 0.1, "res_block_1": 0.5})
    rest, conv1, block = optimizer.param_groups  # the run's own lr first
    assert rest["lr"] == 0.02 and conv1["lr"] == 0.1 * 0.02 and block["lr"] == 0.5 * 0.02
    grouped = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # every weight, once
    assert {id(p) for p in conv1["params"]} == {id(p) for p in model.conv1.parameters()}
    apply_hyperparams(optimizer, {"lr": 0.05, "momentum": 0.9})
    assert [g["lr"] for g in optimizer.param_groups] == [0.05, 0.1 * 0.05, 0.5 * 0.05]
    assert all(g["momentum"] == 0.9 for g in optimizer.param_groups)


def test_a_layer_at_no_share_of_the_lr_does_not_move_while_the_rest_learns(data_root: Path) -> None:
    config = TrainConfig(epochs=1, train_limit=640, test_limit=1000, device="cpu", precision="fp32")
    start = {k: v.clone() for k, v in build_model(config.seed).state_dict().items()}
    outcome = run_training(config, lambda event: None, data_root=str(data_root), lr_scales={"conv1": 0.0})
    assert outcome.model is not None
    after = outcome.model.state_dict()
    assert torch.equal(after["conv1.weight"], start["conv1.weight"])
    assert not torch.equal(after["fc1.weight"], start["fc1.weight"])
