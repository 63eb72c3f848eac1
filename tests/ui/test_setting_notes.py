"""Notes under the Train settings: errors worded once, warnings for likely mistakes, the machine's pace."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_mnist import RunState, RunStore, TrainConfig, run_training
from resnet_mnist.core.events import EpochCompleted, StateChanged, fan_out
from resnet_mnist.runs.pace import Pace, estimate_seconds, measured_pace
from resnet_mnist.ui.setting_notes import (
    LONG_RUN_SECONDS,
    Severity,
    field_errors,
    notes_by_field,
    setting_notes,
    setting_warnings,
)

# Each field with a bad value, and the words naming it that its note must not repeat.
BAD_VALUES = {
    "epochs": (0, "epochs"),
    "lr": (0.0, "learning rate"),
    "momentum": (1.0, "momentum"),
    "batch_size": (0, "batch size"),
    "test_batch_size": (0, "test batch size"),
    "seed": (-1, "seed"),
    "log_interval": (0, "log interval"),
    "train_limit": (0, "train limit"),
    "test_limit": (0, "test limit"),
}


def _recorded_pace_run(store: RunStore, train_speed: float, test_seconds: float, device: str = "cpu") -> str:
    """A finished one-epoch run on disk, recorded by the real recorder, that trained at `train_speed`."""
    recorder = store.create(TrainConfig(epochs=1), device=device)
    recorder(StateChanged(RunState.RUNNING))
    recorder(
        EpochCompleted(
            epoch=1,
            train_loss=0.3,
            test_loss=0.1,
            test_accuracy=0.98,
            correct=9800,
            total=10_000,
            train_seconds=60_000 / train_speed,
            test_seconds=test_seconds,
            images_per_second=train_speed,
        )
    )
    recorder(StateChanged(RunState.FINISHED))
    return recorder.run_id


def test_every_error_is_worded_once_under_its_field() -> None:
    config = TrainConfig(**{field: value for field, (value, _) in BAD_VALUES.items()})
    notes = setting_notes(config, None, train_size=60_000, test_size=10_000)
    assert {n.field for n in notes} == set(BAD_VALUES)
    for note in notes:
        assert note.severity is Severity.ERROR
        assert note.text.startswith("Must ") and note.text.endswith(".")
        assert BAD_VALUES[note.field][1] not in note.text.lower(), note  # the label above says which field


def test_one_error_per_field_and_errors_hide_warnings() -> None:
    notes = setting_notes(TrainConfig(lr=float("nan"), epochs=10_000), None)
    assert {(n.field, n.text) for n in notes} == {
        ("epochs", "Must be at most 500 (got 10000)."),
        ("lr", "Must be a finite number (got nan)."),
    }
    assert field_errors([]) == []


def test_an_lr_above_one_is_allowed_with_a_warning() -> None:
    config = TrainConfig(lr=1000.0)
    assert config.problems() == []  # valid: the person may mean it
    notes = setting_notes(config, None)
    assert [(n.field, n.severity) for n in notes] == [("lr", Severity.WARNING)]
    assert "1000 is above 1" in notes[0].text
    assert setting_warnings(TrainConfig(lr=1.0), None) == []  # 1 itself is not flagged


def test_a_run_of_hours_at_the_measured_pace_is_flagged_on_epochs(runs_dir: Path) -> None:
    store = RunStore(runs_dir)
    run_id = _recorded_pace_run(store, train_speed=1000.0, test_seconds=2.0)  # 60 s + 2 s a full epoch
    pace = measured_pace(store, "cpu")
    assert pace == Pace(1000.0, 5000.0, "cpu", run_id)
    assert estimate_seconds(TrainConfig(epochs=10), pace) == pytest.approx(620)
    assert estimate_seconds(TrainConfig(epochs=10, train_limit=6000, test_limit=1000), pace) == pytest.approx(62)
    assert setting_warnings(TrainConfig(epochs=10), pace) == []
    long = setting_warnings(TrainConfig(epochs=100), pace)  # 6,200 s
    assert [n.field for n in long] == ["epochs"] and LONG_RUN_SECONDS <= 100 * 62
    assert "about 1 h 43 min" in long[0].text and run_id in long[0].text and "1,000 training images/s" in long[0].text
    assert setting_warnings(TrainConfig(epochs=100, train_limit=5000), pace) == []
    # Another device's pace is not this one's.
    assert measured_pace(store, "cuda") is None
    assert measured_pace(store, "cuda:0") is None


def test_the_pace_comes_from_a_real_run(runs_dir: Path, data_root: Path) -> None:
    store = RunStore(runs_dir)
    assert measured_pace(store, "cpu") is None  # no run yet: no guess
    config = TrainConfig(epochs=1, train_limit=640, test_limit=500, device="cpu")
    recorder = store.create(config, device="cpu")
    run_training(config, fan_out(recorder), data_root=data_root)
    pace = measured_pace(store, "cpu")
    assert pace is not None and pace.run_id == recorder.run_id
    assert pace.train_images_per_second > 0 and pace.test_images_per_second > 0
    one, ten = (estimate_seconds(TrainConfig(epochs=n), pace) for n in (1, 10))
    assert ten == pytest.approx(10 * one)


def test_notes_group_under_their_fields() -> None:
    notes = setting_notes(TrainConfig(epochs=0, momentum=2.0), None)
    grouped = notes_by_field(notes)
    assert sorted(grouped) == ["epochs", "momentum"] and all(len(v) == 1 for v in grouped.values())
