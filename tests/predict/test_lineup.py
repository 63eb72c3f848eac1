"""The line-up counts only sure answers as votes (issue 25.4): a real trained model and untrained ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.datasets import MNIST

from resnet_mnist import Net, load_checkpoint, predict
from resnet_mnist.core.data import MNIST_MEAN, MNIST_STD
from resnet_mnist.predict.lineup import CONFIDENT, line_up


@pytest.fixture(scope="module")
def seven(data_root: Path) -> torch.Tensor:
    dataset = MNIST(str(data_root), train=False)
    assert int(dataset.targets[0]) == 7
    pixels = dataset.data[0].float() / 255.0
    return ((pixels - MNIST_MEAN) / MNIST_STD).reshape(1, 1, 28, 28)


def _untrained(seed: int) -> Net:
    torch.manual_seed(seed)
    return Net()


def test_an_unsure_answer_is_shown_but_never_a_vote(trained_run, seven: torch.Tensor) -> None:
    good = load_checkpoint(trained_run.checkpoint_path).build_model()
    guess = _untrained(0)
    assert predict(guess, seven)[0].confidence < CONFIDENT  # random weights: close to 10% for every digit
    result = line_up({"good": good, "again": good, "guess": guess}, seven)
    assert result.majority == 7 and result.unanimous
    assert [e.confident for e in result.entries] == [True, True, False]
    assert all(e.agrees for e in result.entries)  # the guess does not disagree, whatever it says
    assert result.summary() == "2 of 3 are confident: both say 7; the other, under 50%, is not counted."
    assert [e.label for e in result.votes] == ["good", "again"]


def test_all_sure_and_agreeing_says_all(trained_run, seven: torch.Tensor) -> None:
    good = load_checkpoint(trained_run.checkpoint_path).build_model()
    assert line_up({"a": good, "b": good}, seven).summary() == "All 2 say 7."
    assert line_up({"a": good}, seven).summary() == ""  # one model: nothing to agree on


def test_no_sure_answer_means_no_majority(seven: torch.Tensor) -> None:
    result = line_up({"x": _untrained(1), "y": _untrained(2)}, seven)
    assert result.majority is None and result.unanimous and not result.votes
    assert result.summary() == "None of the 2 is at least 50% confident."


def test_with_no_threshold_every_answer_votes(trained_run, seven: torch.Tensor) -> None:
    """confident=0 is the old count: the untrained guess then votes, and disagrees unless it guessed 7."""
    good = load_checkpoint(trained_run.checkpoint_path).build_model()
    guess = _untrained(0)
    result = line_up({"good": good, "guess": guess}, seven, confident=0.0)
    assert all(e.confident for e in result.entries)
    assert result.unanimous == (predict(guess, seven)[0].digit == 7)
