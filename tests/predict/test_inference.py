"""Looking inside the trained model: feature map shapes, and saliency that points at the digit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from resnet_mnist import load_checkpoint, load_split
from resnet_mnist.core.data import MNIST_MEAN, MNIST_STD
from resnet_mnist.predict.inference import (
    FEATURE_STAGES,
    SALIENCY_METHODS,
    Prediction,
    feature_maps,
    predict,
    saliency_map,
)

BLANK = -MNIST_MEAN / MNIST_STD  # a pixel with no ink, normalised
SAMPLE = 40


@pytest.fixture(scope="module")
def model(trained_run):
    return load_checkpoint(trained_run.checkpoint_path).build_model()


@pytest.fixture(scope="module")
def digits(data_root: Path) -> torch.Tensor:
    return load_split(data_root, train=False, limit=SAMPLE).images  # (N, 1, 28, 28)


def _ink(digit: torch.Tensor) -> np.ndarray:
    """(1, 1, 28, 28) → boolean (28, 28): pixels at least half inked."""
    return (digit[0, 0] > BLANK + 0.5 / MNIST_STD).numpy()


def test_feature_maps_have_each_stage_shape(model, digits) -> None:
    maps = feature_maps(model, digits[:1])
    assert list(maps) == ["conv1", "res_block_1", "conv2", "res_block_2"]
    assert {name: m.shape for name, m in maps.items()} == {
        "conv1": (16, 12, 12),
        "res_block_1": (16, 12, 12),
        "conv2": (32, 4, 4),
        "res_block_2": (32, 4, 4),
    }
    assert {name: m.shape for name, m in maps.items()} == FEATURE_STAGES
    # After ReLU every stage is non-negative, and a real digit makes some channels fire.
    assert all(m.min() >= 0 and m.max() > 0 for m in maps.values())


def test_the_last_stage_is_what_the_classifier_reads(model, digits) -> None:
    """Feeding res_block_2's maps through fc1 gives the model's own output: the maps are the real ones."""
    maps = feature_maps(model, digits[:1])
    logits = model.fc1(torch.from_numpy(maps["res_block_2"]).reshape(1, -1))
    with torch.no_grad():
        torch.testing.assert_close(torch.log_softmax(logits, dim=1), model(digits[:1]))


@pytest.mark.parametrize("method", SALIENCY_METHODS)
def test_saliency_is_a_normalised_map_that_concentrates_on_the_ink(model, digits, method: str) -> None:
    ratios = []
    for digit in digits:
        saliency = saliency_map(model, digit[None], method=method)
        assert saliency.shape == (28, 28) and saliency.dtype == np.float32
        assert saliency.min() >= 0 and saliency.max() == pytest.approx(1.0)
        ink = _ink(digit[None])
        ratios.append(saliency[ink].mean() / saliency[~ink].mean())
    # Per pixel, ink draws more saliency than background for every digit, on average by far.
    assert min(ratios) > 1.0
    assert np.median(ratios) > 1.5


def test_smoothgrad_points_at_the_pixels_the_answer_depends_on(model, digits) -> None:
    """Deletion check: erasing the 20% most salient ink costs far more confidence than erasing 20% at random."""
    rng = np.random.default_rng(0)
    salient_drop, random_drop = [], []
    for digit in digits:
        digit = digit[None]
        prediction = predict(model, digit)[0]
        saliency = saliency_map(model, digit)
        ink = np.flatnonzero(_ink(digit))
        count = len(ink) // 5
        chosen = {
            "salient": ink[np.argsort(-saliency.ravel()[ink])[:count]],
            "random": rng.choice(ink, count, replace=False),
        }
        for kind, pixels in chosen.items():
            erased = digit.clone().view(-1)
            erased[torch.from_numpy(pixels)] = BLANK
            after = predict(model, erased.view(1, 1, 28, 28))[0].probabilities[prediction.digit]
            (salient_drop if kind == "salient" else random_drop).append(prediction.confidence - after)
    assert np.mean(salient_drop) > 3 * np.mean(random_drop) + 0.02


def test_saliency_follows_the_requested_class(model, digits) -> None:
    digit = digits[:1]
    predicted = predict(model, digit)[0].digit
    other = (predicted + 1) % 10
    assert np.array_equal(saliency_map(model, digit), saliency_map(model, digit, target=predicted))
    assert not np.allclose(saliency_map(model, digit, target=other), saliency_map(model, digit))


def test_saliency_leaves_the_model_untouched(model, digits) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    saliency_map(model, digits[:1], method="integrated_gradients")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_unknown_saliency_method_is_refused(model, digits) -> None:
    with pytest.raises(ValueError, match="smoothgrad"):
        saliency_map(model, digits[:1], method="occlusion")


def test_runner_up_is_the_second_most_likely_digit() -> None:
    prediction = Prediction(4, (0.01, 0.0, 0.0, 0.0, 0.55, 0.0, 0.0, 0.0, 0.0, 0.44))
    assert prediction.confidence == 0.55 and prediction.runner_up == 9
