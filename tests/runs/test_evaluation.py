"""A run's cached test-set evaluation, checked against the engine and an independent pass of the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import MNIST

from resnet_mnist import RunStore, TrainConfig, evaluate, load_checkpoint, load_split
from resnet_mnist.core.engine import run_training
from resnet_mnist.runs.checkpoint import CheckpointError, save_checkpoint
from resnet_mnist.runs.evaluation import (
    EVALUATION_FILE,
    PREDICTIONS_FILE,
    cached_predictions,
    digit_images,
    evaluate_run,
)
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.ui.figures import confusion_figure, per_class_figure

TEST_LIMIT = 300


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> RunInfo:
    """A model trained one epoch on 1000 training images and tested on the first 300 test images."""
    store = RunStore(tmp_path_factory.mktemp("evaluation") / "runs")
    config = TrainConfig(
        epochs=1,
        lr=0.05,
        momentum=0.9,
        train_limit=1000,
        test_limit=TEST_LIMIT,
        device="cpu",
        precision="fp32",  # the references below are plain fp32 forward passes; evaluate_run uses the run's
    )
    recorder = store.create(config, device="cpu")
    outcome = run_training(config, recorder, data_root=str(data_root))
    assert outcome.state.value == "finished", outcome.reason
    return store.get(recorder.run_id)


@pytest.fixture
def run(small_run: RunInfo, tmp_path: Path) -> RunInfo:
    """A private copy of the run, so cache files and checkpoint changes stay in one test."""
    import shutil

    folder = tmp_path / "runs" / small_run.id
    shutil.copytree(small_run.path, folder)
    return RunStore(folder.parent).get(small_run.id)


def _independent_predictions(
    run: RunInfo, data_root: Path, limit: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Predictions straight from the model, without the engine: (N,) predicted, (N,) probability, (N,) labels."""
    model = load_checkpoint(run.checkpoint_path).build_model()
    split = load_split(data_root, train=False, limit=limit)
    with torch.no_grad():
        probabilities = model(split.images).exp()  # (N, 10)
    confidence, predicted = probabilities.max(dim=1)
    return predicted, confidence, split.labels


def test_confusion_matrix_counts_every_test_image_and_its_diagonal_is_the_accuracy(
    run: RunInfo, data_root: Path
) -> None:
    evaluation = evaluate_run(run, data_root=data_root, test_limit=TEST_LIMIT)
    confusion = np.array(evaluation.confusion)
    assert confusion.shape == (10, 10)
    assert confusion.sum() == evaluation.total == TEST_LIMIT
    reference = evaluate(
        load_checkpoint(run.checkpoint_path).build_model(), load_split(data_root, train=False, limit=TEST_LIMIT)
    )
    assert np.trace(confusion) == reference.correct == evaluation.correct
    assert np.trace(confusion) / confusion.sum() == pytest.approx(reference.accuracy)
    assert evaluation.accuracy == pytest.approx(run.final_accuracy)  # what the run recorded at its last epoch
    assert 0.5 < evaluation.accuracy < 1.0  # a real, imperfect model: the tests below see mistakes
    # Rows are true classes: their sums are how many test images of each digit there are.
    labels = load_split(data_root, train=False, limit=TEST_LIMIT).labels
    assert list(evaluation.class_counts) == torch.bincount(labels, minlength=10).tolist()
    # Columns are predicted classes.
    assert confusion.sum(axis=0).tolist() == torch.bincount(reference.predictions, minlength=10).tolist()


def test_per_class_accuracy_agrees_with_the_confusion_matrix(run: RunInfo, data_root: Path) -> None:
    evaluation = evaluate_run(run, data_root=data_root, test_limit=TEST_LIMIT)
    predicted, _, labels = _independent_predictions(run, data_root, TEST_LIMIT)
    for digit, accuracy in enumerate(evaluation.per_class_accuracy):
        mask = labels == digit
        assert accuracy == pytest.approx(float((predicted[mask] == digit).float().mean()))
    weighted = sum(a * n for a, n in zip(evaluation.per_class_accuracy, evaluation.class_counts, strict=True))
    assert weighted / evaluation.total == pytest.approx(evaluation.accuracy)
    for row in evaluation.normalised_confusion:
        assert sum(row) == pytest.approx(1.0)


def test_misclassified_are_exactly_the_wrong_predictions_most_confident_first(run: RunInfo, data_root: Path) -> None:
    evaluation = evaluate_run(run, data_root=data_root, test_limit=TEST_LIMIT)
    predicted, confidence, labels = _independent_predictions(run, data_root, TEST_LIMIT)
    wrong = set(torch.nonzero(predicted != labels).flatten().tolist())
    assert wrong and {m.index for m in evaluation.misclassified} == wrong
    assert len(evaluation.misclassified) == len(wrong) == evaluation.total - evaluation.correct
    for item in evaluation.misclassified:
        assert item.true == int(labels[item.index]) != item.predicted == int(predicted[item.index])
        assert item.confidence == pytest.approx(float(confidence[item.index]), abs=1e-5)
    confidences = [m.confidence for m in evaluation.misclassified]
    assert confidences == sorted(confidences, reverse=True)


def test_the_evaluation_is_cached_and_recomputed_when_the_checkpoint_changes(run: RunInfo, data_root: Path) -> None:
    cache = run.path / EVALUATION_FILE
    assert not cache.exists()
    first = evaluate_run(run, data_root=data_root, test_limit=TEST_LIMIT)
    assert not first.from_cache and cache.is_file() and (run.path / PREDICTIONS_FILE).is_file()
    written = cache.stat().st_mtime_ns

    second = evaluate_run(run, data_root=data_root, test_limit=TEST_LIMIT)
    assert second.from_cache and cache.stat().st_mtime_ns == written
    assert (second.confusion, second.misclassified, second.correct) == (
        first.confusion,
        first.misclassified,
        first.correct,
    )
    predictions, _ = cached_predictions(run)
    assert int((predictions == load_split(data_root, train=False, limit=TEST_LIMIT).labels).sum()) == first.correct

    other_slice = evaluate_run(run, data_root=data_root, test_limit=100)  # a different question: not the cached answer
    assert not other_slice.from_cache and other_slice.total == 100

    # New weights in the checkpoint file: the old answer must not be served.
    checkpoint = load_checkpoint(run.checkpoint_path)
    state = dict(checkpoint.state_dict)
    state["fc1.bias"] = state["fc1.bias"] + torch.tensor([0.0, 0.0, 0.0, 50.0, 0, 0, 0, 0, 0, 0])  # always say 3
    save_checkpoint(run.checkpoint_path, checkpoint.config, state, epoch=checkpoint.epoch, metrics=checkpoint.metrics)
    changed = evaluate_run(run, data_root=data_root, test_limit=TEST_LIMIT)
    assert not changed.from_cache
    assert [sum(row[c] for row in changed.confusion) for c in range(10)] == [0, 0, 0, TEST_LIMIT, 0, 0, 0, 0, 0, 0]
    assert evaluate_run(run, data_root=data_root, test_limit=TEST_LIMIT).from_cache


def test_a_damaged_cache_is_recomputed_not_trusted(run: RunInfo, data_root: Path) -> None:
    first = evaluate_run(run, data_root=data_root, test_limit=TEST_LIMIT)
    (run.path / EVALUATION_FILE).write_text("{not json")
    again = evaluate_run(run, data_root=data_root, test_limit=TEST_LIMIT)
    assert not again.from_cache and again.confusion == first.confusion


def test_a_run_without_a_checkpoint_says_so(run: RunInfo, data_root: Path) -> None:
    run.checkpoint_path.unlink()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        evaluate_run(run, data_root=data_root, test_limit=TEST_LIMIT)


def test_digit_images_are_the_raw_mnist_pixels(data_root: Path) -> None:
    indices = [0, 7, 123, 9999]
    raw = MNIST(str(data_root), train=False, download=False).data[indices].numpy()  # (4, 28, 28) uint8
    assert np.array_equal(digit_images(indices, data_root=data_root), raw)
    big = digit_images(indices[:1], data_root=data_root, scale=3)
    assert big.shape == (1, 84, 84) and np.array_equal(big[0, ::3, ::3], raw[0])


def test_figures_show_the_evaluation(run: RunInfo, data_root: Path) -> None:
    evaluation = evaluate_run(run, data_root=data_root, test_limit=TEST_LIMIT)
    counts = confusion_figure(evaluation)
    assert np.array_equal(np.array(counts.data[0].z), np.array(evaluation.confusion))
    shares = confusion_figure(evaluation, normalised=True)
    assert np.allclose(np.array(shares.data[0].z).sum(axis=1), 1.0)
    bars = per_class_figure(evaluation)
    assert list(bars.data[0].y) == pytest.approx(list(evaluation.per_class_accuracy))
