"""Train settings in a URL: written short, read back exactly, and anything wrong in a link refused by name."""

from __future__ import annotations

import pytest

from resnet_mnist import TrainConfig
from resnet_mnist.ui.settings_url import SETTINGS_KEYS, settings_from_query, settings_query

CONFIGS = [
    TrainConfig(),
    TrainConfig(epochs=2, lr=0.05, momentum=0.9, train_limit=3000, test_limit=500, channels_last=False),
    TrainConfig(lr=1e-5, batch_size=8, test_batch_size=250, seed=1234567, log_interval=1, device="cpu"),
    TrainConfig(lr=0.1 + 0.2, momentum=0.0),  # a float that needs all its digits
]


@pytest.mark.parametrize("config", CONFIGS)
def test_every_config_survives_the_round_trip(config: TrainConfig) -> None:
    query = settings_query(config)
    assert all(isinstance(v, str) for v in query.values())
    read = settings_from_query(query)
    assert read.ignored == {}
    assert TrainConfig(**read.values) == config


def test_only_what_differs_from_the_seed_goes_into_the_link() -> None:
    assert settings_query(TrainConfig()) == {}
    assert settings_query(TrainConfig(epochs=2, lr=0.05)) == {"epochs": "2", "lr": "0.05"}
    # Back to "all images" from a limit is written out, since the base may have a limit.
    assert settings_query(TrainConfig(), base=TrainConfig(train_limit=100)) == {"train_limit": "all"}
    assert set(SETTINGS_KEYS) >= {"epochs", "lr", "momentum", "batch_size", "seed", "train_limit", "device"}


def test_wrong_values_are_refused_one_by_one_and_the_rest_are_used() -> None:
    read = settings_from_query(
        {
            "epochs": "0",
            "lr": "abc",
            "momentum": "0.95",
            "batch_size": "1.5",
            "seed": "9" * 100,
            "device": "tpu",
            "channels_last": "maybe",
            "train_limit": "all",
            "test_limit": "nan",
            "utm_source": "mail",  # not a setting: not read, not reported
        }
    )
    assert read.values == {"momentum": 0.95, "train_limit": None}
    assert set(read.ignored) == {"epochs", "lr", "batch_size", "seed", "device", "channels_last", "test_limit"}
    assert "at least 1" in read.ignored["epochs"] and "'abc'" in read.ignored["lr"]
    assert "100 characters" in read.ignored["seed"]  # refused before being parsed
    assert read.ignored["device"] == "the link's value 'tpu' must be one of auto, cpu, cuda, mps (got 'tpu')"


def test_a_repeated_key_takes_its_last_value() -> None:
    assert settings_from_query({"epochs": ["3", "4"]}).values == {"epochs": 4}
    assert settings_from_query({"epochs": []}).ignored  # present but empty: not a whole number
