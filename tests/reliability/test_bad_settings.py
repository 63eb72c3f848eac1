"""Bad settings on the Train page and the command line: refused before anything starts, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import (
    open_app,
    the_page_worker,
)

from resnet_mnist import RunState
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE

# (widget key, bad value, the field's label on the page, words of the message). The page's other
# controls cannot hold a bad value at all: the sliders are bounded (epochs and momentum can be typed
# past them, in the box beside), batch size is a list of choices, and the number inputs for whole
# numbers take no fractions.
BAD_WIDGET_VALUES = [
    ("train_epochs", 0, "Epochs", "at least 1"),
    ("train_epochs", 501, "Epochs", "at most 500"),
    ("train_momentum", 1.0, "Momentum", "in [0, 1)"),
    ("train_lr", -0.01, "Learning rate", "greater than 0"),
    ("train_lr", 0.0, "Learning rate", "greater than 0"),
    ("train_seed", -1, "Seed", "at least 0"),
    ("train_test_batch_size", 0, "Test batch size", "at least 1"),
    ("train_train_limit", 0, "Training images", "at least 1"),
    ("train_train_limit", MNIST_TRAIN_SIZE + 1, "Training images", f"at most {MNIST_TRAIN_SIZE}"),
    ("train_test_limit", MNIST_TEST_SIZE + 1, "Test images", f"at most {MNIST_TEST_SIZE}"),
    ("train_log_interval", 0, "Log interval", "at least 1"),
    ("train_train_limit", 10, "Batch size", "at most 10"),  # a batch of 64 beyond a 10-image dataset
]


def test_every_bad_value_on_the_train_page_is_refused_naming_its_field_and_nothing_starts(
    app_sessions: None,
) -> None:
    at = open_app("pages/train.py")
    for key, value, label, words in BAD_WIDGET_VALUES:
        at.button(key="train_reset").click().run()
        at.number_input(key=key).set_value(value).run()
        at.button(key="train_start").click().run()
        assert not at.exception, at.exception
        errors = [e.value for e in at.main.error]
        assert errors == [f"Not started: fix {label} first (marked in the sidebar)."], f"{key}={value}: {errors}"
        field_errors = [e.value for e in at.sidebar.error]  # on the field itself (tests/pages/test_app_settings.py)
        assert any(words in e and label not in e for e in field_errors), f"{key}={value}: {field_errors}"
        assert not the_page_worker().is_alive() and the_page_worker().snapshot().state is RunState.IDLE
    assert the_page_worker().store.runs() == []


# (arguments, the flag the one-line message names); the CLI test file covers lr 0/abc/nan,
# momentum 1, epochs 0/abc and a batch larger than the training slice.
BAD_CLI_VALUES = [
    (["--lr", "-1"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--momentum", "-0.1"], "--momentum"),
    (["--momentum", "1.5"], "--momentum"),
    (["--epochs", "-3"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "60001"], "--batch-size"),
    (["--test-batch-size", "0"], "--test-batch-size"),
    (["--seed", "-1"], "--seed"),
    (["--seed", "1.5"], "--seed"),
    (["--seed", "one"], "--seed"),
]


@pytest.mark.parametrize(("arguments", "field"), BAD_CLI_VALUES, ids=[" ".join(a) for a, _ in BAD_CLI_VALUES])
def test_every_bad_value_on_the_command_line_is_refused_naming_its_field(
    arguments: list[str], field: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from resnet_mnist.cli.main import main

    runs = tmp_path / "runs"
    try:
        code = main(["train", *arguments, "--runs-dir", str(runs)])
    except SystemExit as exit_:  # argparse refuses what is not a number at all
        code = exit_.code
    out, err = capsys.readouterr()
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert field in lines[0] and not out
    assert not runs.exists(), "a run folder was created for a refused command"
