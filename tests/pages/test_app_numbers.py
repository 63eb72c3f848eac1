"""Numbers as people read them (issue 25.5, 25.9): settings to three significant digits in the Runs table
and the Train form, "—" with a column's help for a missing value, and the epochs in the line under Start.

A sweep's trial samples lr and momentum on a log scale: 0.034123456789012345, not 0.05. Through AppTest,
with runs written by the real recorder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import open_app_page, record_run

from resnet_mnist import RunState, RunStore, TrainConfig
from resnet_mnist.ui.formatting import format_lr, format_number, hyperparams_label

SAMPLED_LR = 0.034123456789012345  # as Ray Tune's loguniform draws it
SAMPLED_MOMENTUM = 0.9123456789012345


def _columns(dataframe) -> dict[str, dict]:
    """The table's column settings as the browser gets them: header → its config."""
    return json.loads(dataframe.proto.columns)


def test_the_runs_table_shows_settings_to_three_digits_and_a_dash_with_its_reason(runs_dir: Path) -> None:
    store = RunStore(runs_dir)  # the app's runs folder (conftest points it here)
    config = TrainConfig(epochs=2, lr=SAMPLED_LR, momentum=SAMPLED_MOMENTUM)
    trial = record_run(store, [0.9612], RunState.FINISHED, name="trial", config=config)
    pending = record_run(store, [], RunState.STOPPED, name="stopped before its first epoch ended")
    at = open_app_page("pages/runs.py")
    table = at.dataframe[0]
    rows = table.value.set_index("id")
    assert rows.loc[trial.id, "lr"] == SAMPLED_LR  # the value itself, so sorting stays exact
    assert rows.loc[[pending.id], "best acc %"].isna().all()  # shown as the placeholder
    columns = _columns(table)
    for name in ("lr", "momentum"):
        assert columns[name]["type_config"]["format"] == "%.3g", columns[name]  # sprintf-js: 0.0341, 0.912
    assert table.proto.placeholder == "—"  # not "None"
    for name in ("best acc %", "final acc %", "handwriting acc %", "threads"):
        assert "—:" in columns[name]["help"], (name, columns[name].get("help"))


def test_the_train_form_shows_a_sampled_lr_to_three_digits_and_says_it_is_between_stops() -> None:
    at = open_app_page("pages/train.py")
    at.query_params.update({"lr": str(SAMPLED_LR), "use": "0a1b2c3d"})  # "Use these settings" on the trial
    at.run()
    assert not at.exception, at.exception
    box = at.number_input(key="train_lr")
    assert box.value == SAMPLED_LR and box.proto.format == "%.3g"  # the box shows 0.0341, not 0.0341234567…
    assert at.number_input(key="train_momentum").proto.format == "%.3g"
    assert at.select_slider(key="train_lr_scale").value == 0.05  # the nearest stop…
    captions = [c.value for c in at.sidebar.caption]
    assert "Between the slider's steps 0.02 and 0.05: the run uses 0.0341." in captions  # …and which value counts
    at.number_input(key="train_lr").set_value(0.05).run()
    assert not [c for c in at.sidebar.caption if "the run uses" in c.value]


def test_the_line_under_start_names_the_epochs() -> None:
    at = open_app_page("pages/train.py")
    line = next(c.value for c in at.caption if c.value.startswith("Start trains with"))
    assert line.startswith("Start trains with 10 epochs · lr 0.01 · momentum 0.5 · batch 64 · seed 1 · "), line
    at.number_input(key="train_epochs").set_value(1).run()
    line = next(c.value for c in at.caption if c.value.startswith("Start trains with"))
    assert re.match(r"Start trains with 1 epoch · lr 0\.01 ", line), line


def test_one_number_format() -> None:
    assert [format_lr(v) for v in (0.01, 0.05, 0.0005, 1e-5, SAMPLED_LR, 0.9, SAMPLED_MOMENTUM)] == [
        "0.01",
        "0.05",
        "0.0005",
        "1e-05",
        "0.0341",
        "0.9",
        "0.912",
    ]
    assert format_number(None) == format_number(float("nan")) == "—"
    label = hyperparams_label(TrainConfig(lr=SAMPLED_LR, momentum=SAMPLED_MOMENTUM))
    assert label.startswith("lr 0.0341 · momentum 0.912 · "), label
