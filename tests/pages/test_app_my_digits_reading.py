"""My digits with a model to read them (issue 25.7): the digits the chosen run misreads are marked in the
gallery, Teach starts from the ★ best run, and each MNIST accuracy says which test images it is on.

Real models (the session's one-epoch run; an untrained one recorded as a newer, stopped 38.5% trial),
real MNIST digits saved as the Draw page saves them, two of them labelled with what the person meant
rather than what they drew.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from helpers import open_app_page, record_run
from test_app_draw import drawn
from torchvision.datasets import MNIST

from resnet_mnist import RunState, RunStore, TrainConfig, preprocess_image
from resnet_mnist.handwriting.digits import delete_digit, read_set, save_drawing
from resnet_mnist.handwriting.scores import score_run


@pytest.fixture
def model_runs(trained_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "app" / "runs"
    shutil.copytree(trained_run.path, root / trained_run.id)
    monkeypatch.setenv("RESNET_MNIST_RUNS", str(root))
    return root


@pytest.fixture(autouse=True)
def _fresh_resources() -> Iterator[None]:
    yield
    st.cache_resource.clear()


@pytest.fixture
def hw_dir(data_root: Path) -> Path:
    """Eight MNIST test digits saved as drawings; the 2nd and 5th labelled 1, whatever they show."""
    root = Path(os.environ["RESNET_MNIST_HANDWRITING"])  # this test's own folder (conftest)
    mnist = MNIST(str(data_root), train=False)
    for index in range(8):
        image = drawn(mnist.data[index].numpy())
        label = 1 if index in (1, 4) else int(mnist.targets[index])
        assert int(mnist.targets[index]) != 1 or index not in (1, 4)
        save_drawing(root, image, preprocess_image(image).pixels, label)
    return root


def _badges(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith(":red-badge[read as")]


def test_the_digits_the_chosen_run_misreads_are_marked_and_teach_starts_from_the_best(
    model_runs: Path, trained_run, hw_dir: Path
) -> None:
    time.sleep(1.1)  # run ids carry the creation time to the second: the trial is the newest run
    trial = record_run(RunStore(model_runs), [0.385], RunState.STOPPED, name="stopped trial")
    at = open_app_page("pages/my_digits.py")
    picker = at.selectbox(key="teach_run")
    assert picker.value == trained_run.id  # the ★ best, not the newest
    assert picker.format_func(trained_run.id).startswith("★ ") and not picker.format_func(trial.id).startswith("★")

    score = score_run(RunStore(model_runs).get(trained_run.id), read_set(hw_dir))
    misread = {m.index: m.predicted for m in score.misclassified}
    assert set(misread) >= {1, 4} and score.total == 8  # the two it cannot read as 1
    assert sorted(_badges(at)) == sorted(f":red-badge[read as {digit}]" for digit in misread.values())
    line = next(c.value for c in at.caption if c.value.startswith("It reads"))
    assert line == (
        f"It reads {score.correct} of your 8 digits right now ({score.accuracy:.1%}); "
        f"the {len(misread)} it misreads are marked in the gallery above."
    )
    assert any(
        c.value == f"Its {100 * trained_run.final_accuracy:.2f}% is on all 10,000 MNIST test images, "
        "like teaching's before and after."
        for c in at.caption
    )

    at.segmented_control(key="my_digits_filter").set_value("misread").run()  # only the misread ones
    assert not at.exception, at.exception
    assert len(at.image) == len(misread) and len(_badges(at)) == len(misread)

    at.selectbox(key="teach_run").set_value(trial.id).run()  # another reader: its own marks
    assert not at.exception, at.exception
    trial_score = score_run(RunStore(model_runs).get(trial.id), read_set(hw_dir))
    assert len(_badges(at)) == len(trial_score.misclassified)


def test_an_accuracy_on_fewer_test_images_says_so_beside_teachings_10000(model_runs: Path, hw_dir: Path) -> None:
    sweep_trial = record_run(
        RunStore(model_runs), [0.99], RunState.FINISHED, name="on 2,000", config=TrainConfig(epochs=1, test_limit=2000)
    )
    at = open_app_page("pages/my_digits.py", teach_run=sweep_trial.id)
    assert at.selectbox(key="teach_run").value == sweep_trial.id
    assert any(
        c.value == "Its 99.00% is on its own test set, the first 2,000 of MNIST's 10,000 test images; "
        "teaching measures MNIST before and after on 10,000, so its 'before' differs a little."
        for c in at.caption
    )


def test_a_run_that_reads_every_digit_right_marks_none_and_says_so(
    model_runs: Path, trained_run, data_root: Path
) -> None:
    root = Path(os.environ["RESNET_MNIST_HANDWRITING"])
    mnist = MNIST(str(data_root), train=False)
    for index in range(8):
        image = drawn(mnist.data[index].numpy())
        save_drawing(root, image, preprocess_image(image).pixels, int(mnist.targets[index]))
    run = RunStore(model_runs).get(trained_run.id)
    hset = read_set(root)
    for wrong in score_run(run, hset).misclassified:  # keep only what this run reads right
        delete_digit(root, hset.digits[wrong.index].file)
    score = score_run(run, read_set(root))
    assert score.total >= 6 and not score.misclassified
    at = open_app_page("pages/my_digits.py")
    assert not _badges(at)
    captions = [c.value for c in at.caption]
    assert not any("the 0 digit" in c for c in captions), captions
    assert (
        f"Nothing is marked: **{trained_run.label}** (the run chosen under Teach, below) "
        "reads every digit it is scored on right." in captions
    )
