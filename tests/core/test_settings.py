"""Every TrainConfig field is described once and shows up everywhere a setting belongs.

Walking the fields (not a list of names) is what makes a new field a one-place change: a field
added to TrainConfig without a description, or one the page, the CLI or the table misses, fails here.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
from helpers import open_app_page

from resnet_mnist import RunStore, TrainConfig
from resnet_mnist.cli.main import main
from resnet_mnist.core.config import SETTINGS
from resnet_mnist.core.settings import Setting, describe, settings_of, value_problem
from resnet_mnist.runs.comparison import run_table_rows, table_columns
from resnet_mnist.sweeps.spec import SWEPT_FIELDS

# A value each field refuses, to see the field named in its message.
REFUSED = {
    "lr": 0.0,
    "momentum": 1.0,
    "batch_size": 0,
    "epochs": 0,
    "seed": -1,
    "test_batch_size": 0,
    "train_limit": 0,
    "test_limit": 0,
    "log_interval": 0,
    "channels_last": "yes",
    "device": "tpu",
    "precision": "fp8",
    "threads": 0,
}


def test_every_field_is_described() -> None:
    assert list(SETTINGS) == [f.name for f in fields(TrainConfig)]
    for name, setting in SETTINGS.items():
        assert setting.label and setting.help.endswith(".") and setting.short, name
        assert setting.kind in (int, float, bool, str), name


def test_every_field_has_a_widget_with_its_label_and_help() -> None:
    at = open_app_page("pages/train.py")
    widgets = {
        w.key: w for kind in ("slider", "select_slider", "number_input", "checkbox", "radio") for w in at.get(kind)
    }
    for name, setting in SETTINGS.items():
        widget = widgets[f"train_{name}"]
        assert widget.value == at.session_state[f"train_{name}"]
        if widget.label == f"{setting.widget_label}, typed":  # a box beside a slider: the slider is labelled
            widget = widgets[f"train_{name}_scale"]
        assert widget.label == setting.widget_label
        assert widget.help == setting.help


def test_every_field_is_a_cli_flag_with_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for setting in SETTINGS.values():
        assert re.search(rf"{re.escape(setting.flag)}\b.*? {re.escape(setting.help)}", text), setting.flag


def test_every_field_is_a_runs_table_column(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.create(TrainConfig(train_limit=100), device="cpu")
    [row] = run_table_rows(store.runs(), None)
    for setting in SETTINGS.values():
        assert setting.table_column in row and setting.table_column in table_columns()
    assert set(row) == set(table_columns())


def test_every_refused_value_is_named_by_its_field_once() -> None:
    assert set(REFUSED) == set(SETTINGS)
    for name, value in REFUSED.items():
        [problem] = TrainConfig(**{name: value}).problems()
        assert problem.field == name and problem.label == SETTINGS[name].label
        assert not problem.message.lower().startswith(problem.label.lower())


def test_the_sweep_space_is_the_sweepable_fields() -> None:
    assert tuple(name for name, s in SETTINGS.items() if s.sweepable) == SWEPT_FIELDS
    assert set(SWEPT_FIELDS) == {"lr", "momentum", "batch_size", "epochs", "train_limit", "precision"}


def test_a_new_described_field_is_read_back_with_its_kind_and_checked_by_its_bounds() -> None:
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class WithThreads:
        threads: int | None = field(
            default=None, metadata=describe(label="Threads", help="CPU threads.", short="threads", minimum=1)
        )

    [(name, setting)] = settings_of(WithThreads).items()
    assert (name, setting.kind, setting.optional, setting.flag) == ("threads", int, True, "--threads")
    assert value_problem(setting, None) is None
    assert value_problem(setting, 0) == "must be at least 1 (got 0)"
    assert value_problem(setting, 2.5) == "must be a whole number (got 2.5)"


def test_a_description_with_an_unknown_widget_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown widget"):
        describe(label="X", help="X.", short="x", widget="dial")
    assert Setting(label="X", help="X.", short="x", unit="ms").widget_label == "X (ms)"
