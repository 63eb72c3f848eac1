"""TrainConfig: the seed's defaults, and every bad value refused with a message naming its field."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from resnet_mnist import ConfigError, TrainConfig
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE


def test_defaults_are_the_seeds_recipe() -> None:
    config = TrainConfig()
    assert (config.epochs, config.lr, config.momentum) == (10, 0.01, 0.5)
    assert (config.batch_size, config.test_batch_size, config.seed) == (64, 1000, 1)
    assert config.validate(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE) is config
    assert config.problems() == []


def test_round_trips_through_json() -> None:
    config = TrainConfig(epochs=3, lr=0.05, momentum=0.9, train_limit=100, device="cpu")
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    # Keys written by a newer version are ignored rather than refused.
    assert TrainConfig.from_dict({**config.to_dict(), "from_the_future": 1}) == config


BAD_VALUES: list[tuple[str, Any, int | None, str]] = [
    ("lr", 0, None, "must be greater than 0"),
    ("lr", -1, None, "must be greater than 0"),
    ("lr", float("nan"), None, "must be a finite number"),
    ("lr", float("inf"), None, "must be a finite number"),
    ("lr", "abc", None, "must be a number"),
    ("momentum", -0.1, None, "must be in [0, 1)"),
    ("momentum", 1.0, None, "must be in [0, 1)"),
    ("momentum", "x", None, "must be a number"),
    ("epochs", 0, None, "must be at least 1"),
    ("epochs", 2.5, None, "must be a whole number"),
    ("batch_size", 0, None, "must be at least 1"),
    ("batch_size", MNIST_TRAIN_SIZE + 1, MNIST_TRAIN_SIZE, f"must be at most {MNIST_TRAIN_SIZE}"),
    ("test_batch_size", 0, None, "must be at least 1"),
    ("seed", -1, None, "must be at least 0"),
    ("seed", 1.5, None, "must be a whole number"),
    ("train_limit", 0, None, "must be at least 1"),
    ("device", "tpu", None, "must be one of auto, cpu, cuda, mps (got 'tpu')"),
    ("channels_last", "yes", None, "must be true or false"),
]


@pytest.mark.parametrize(("field", "value", "train_size", "expected"), BAD_VALUES)
def test_bad_value_is_refused_naming_its_field(field: str, value: Any, train_size: int | None, expected: str) -> None:
    config = TrainConfig(**{field: value})
    with pytest.raises(ConfigError) as caught:
        config.validate(train_size=train_size)
    assert [p.field for p in caught.value.problems] == [field]
    problem = caught.value.problems[0]
    assert problem.message.startswith(expected)
    assert str(caught.value).startswith(f"{field}: ")
    # The message is worded once: the field's label goes in front of it, never inside it too.
    assert problem.label.lower() not in problem.message.lower()


def test_batch_size_is_bounded_by_the_limited_train_size() -> None:
    with pytest.raises(ConfigError, match="batch_size: must be at most 500"):
        TrainConfig(batch_size=501, train_limit=500).validate(train_size=MNIST_TRAIN_SIZE)
    TrainConfig(batch_size=500, train_limit=500).validate(train_size=MNIST_TRAIN_SIZE)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_is_refused_where_there_is_none() -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig(device="cuda").validate()
    [problem] = caught.value.problems
    assert problem.field == "device"
    assert "CUDA is not available" in problem.message


def test_every_problem_is_reported_at_once() -> None:
    problems = TrainConfig(lr=0, momentum=2, epochs=0).problems()
    assert {p.field for p in problems} == {"lr", "momentum", "epochs"}
