"""The Train page's settings through AppTest: notes on the field they concern (errors worded once,
warnings for likely mistakes), settings read from and written to the URL, "Use these settings"."""

from __future__ import annotations

import os
import re
from pathlib import Path

from helpers import open_app_page, record_run, the_page_worker
from streamlit.testing.v1 import AppTest

from resnet_mnist import RunState, RunStore, TrainConfig


def _flat(node) -> list:
    """Every element under `node`, in page order (containers opened)."""
    found = []
    for child in getattr(node, "children", {}).values():
        found.append(child)
        found.extend(_flat(child))
    return found


def notes_under(at: AppTest, widget_key: str) -> list[tuple[str, str]]:
    """(type, text) of the errors and warnings right under the widget with `widget_key`, in the sidebar."""
    elements = _flat(at.sidebar)
    keys = [getattr(e, "key", None) for e in elements]
    start = keys.index(widget_key) + 1
    notes = []
    for element in elements[start:]:
        if element.type in ("error", "warning"):
            notes.append((element.type, element.value))
        elif getattr(element, "key", None) is not None or element.type == "header":
            break
    return notes


def all_notes(at: AppTest) -> list[tuple[str, str]]:
    return [(e.type, e.value) for e in _flat(at.sidebar) if e.type in ("error", "warning")]


def test_a_fresh_page_has_no_notes_and_an_empty_url() -> None:
    at = open_app_page("pages/train.py")
    assert all_notes(at) == []
    assert dict(at.query_params) == {} or all(k == "device" for k in at.query_params)


def test_an_lr_above_one_gets_a_warning_under_the_lr_and_can_still_start() -> None:
    at = open_app_page("pages/train.py")
    at.number_input(key="train_lr").set_value(1000.0).run()
    assert notes_under(at, "train_lr") == [
        ("warning", "1000 is above 1: steps this large make the loss blow up within a few batches. The seed uses 0.01.")
    ]
    assert all_notes(at) == notes_under(at, "train_lr")  # on that field only
    assert not at.error
    at.number_input(key="train_lr").set_value(0.5).run()
    assert all_notes(at) == []


def test_an_error_is_shown_on_its_field_worded_once_and_start_names_the_field() -> None:
    at = open_app_page("pages/train.py")
    at.number_input(key="train_lr").set_value(0.0).run()
    assert notes_under(at, "train_lr") == [("error", "Must be greater than 0 (got 0.0).")]
    at.button(key="train_start").click().run()
    main_errors = [e.value for e in at.main.error]
    assert main_errors == ["Not started: fix Learning rate first (marked in the sidebar)."]
    assert not the_page_worker().is_alive() and the_page_worker().store.runs() == []


def test_an_advanced_fields_error_opens_its_section_and_sits_under_it() -> None:
    at = open_app_page("pages/train.py")
    at.number_input(key="train_test_limit").set_value(0).run()
    assert notes_under(at, "train_test_limit") == [("error", "Must be at least 1 (got 0).")]
    (advanced,) = [e for e in _flat(at.sidebar) if e.type == "expander"]
    assert advanced.proto.expanded  # opened, so the note is in view


def test_epochs_that_would_take_hours_at_this_machines_pace_are_flagged_on_epochs() -> None:
    # A run on disk that trained at 1,000 images/s: a full epoch here takes about a minute.
    run = record_run(RunStore(Path(os.environ["RESNET_MNIST_RUNS"])), [0.97], RunState.FINISHED)
    at = open_app_page("pages/train.py")
    assert all_notes(at) == []  # the seed's 10 epochs: about 10 minutes
    at.number_input(key="train_epochs").set_value(100).run()  # typed past the slider's end
    (note,) = notes_under(at, "train_epochs")
    assert note[0] == "warning" and note[1].startswith("This run would take about 1 h 4")
    assert f"measured in run {run.id}" in note[1]
    assert at.slider(key="train_epochs_scale").value == 100
    at.number_input(key="train_epochs").set_value(300).run()
    assert at.slider(key="train_epochs_scale").value == 100  # the slider stops at its end; the box holds 300
    assert at.number_input(key="train_epochs").value == 300 and dict(at.query_params)["epochs"] == "300"


def test_settings_in_the_url_fill_the_form_and_the_form_writes_the_url() -> None:
    at = open_app_page("pages/train.py")
    at.query_params.update({"epochs": "3", "lr": "0.05", "momentum": "0.9", "train_limit": "2000"})
    at.run()
    assert at.number_input(key="train_epochs").value == 3 and at.slider(key="train_epochs_scale").value == 3
    assert at.number_input(key="train_lr").value == 0.05 and at.select_slider(key="train_lr_scale").value == 0.05
    assert at.number_input(key="train_momentum").value == 0.9
    assert at.number_input(key="train_train_limit").value == 2000
    assert at.number_input(key="train_seed").value == 1  # not in the URL: the seed's value
    at.number_input(key="train_seed").set_value(7).run()  # a change goes into the URL
    assert dict(at.query_params) == {"epochs": "3", "lr": "0.05", "momentum": "0.9", "train_limit": "2000", "seed": "7"}
    at.button(key="train_reset").click().run()
    assert dict(at.query_params) == {}


def test_a_lagging_url_from_this_session_never_undoes_a_newer_value() -> None:
    """Every rerun carries the browser's URL, which lags the server's writes on a busy machine."""
    at = open_app_page("pages/train.py")
    at.number_input(key="train_epochs").set_value(3).run()
    at.number_input(key="train_epochs").set_value(5).run()
    assert dict(at.query_params) == {"epochs": "5"}
    at.query_params.update({"epochs": "3"})  # the URL of a value ago, brought by the next rerun
    at.number_input(key="train_seed").set_value(7).run()
    assert at.number_input(key="train_epochs").value == 5 and at.slider(key="train_epochs_scale").value == 5
    assert dict(at.query_params) == {"epochs": "5", "seed": "7"}


def test_a_followed_link_is_read_even_to_settings_this_session_had_before() -> None:
    at = open_app_page("pages/train.py")
    at.number_input(key="train_epochs").set_value(3).run()
    at.number_input(key="train_epochs").set_value(5).run()
    at.query_params.update({"epochs": "3", "use": "0a1b2c3d"})  # "Use these settings" on a 3-epoch run
    at.run()
    assert at.number_input(key="train_epochs").value == 3
    assert dict(at.query_params) == {"epochs": "3"}  # the token is dropped once read
    at.number_input(key="train_epochs").set_value(8).run()
    at.query_params.update({"epochs": "3", "use": "0a1b2c3d"})  # that click's URL again, lagging
    at.run()
    assert at.number_input(key="train_epochs").value == 8
    at.query_params.clear()
    at.query_params.update({"use": "4e5f6a7b"})  # a link to a run with the seed's own recipe
    at.run()
    assert at.number_input(key="train_epochs").value == 10 and dict(at.query_params) == {}


def test_a_links_bad_values_are_left_out_and_said_so_under_their_fields() -> None:
    at = open_app_page("pages/train.py")
    at.query_params.update({"epochs": "0", "lr": "fast", "batch_size": "100", "momentum": "0.8"})
    at.run()
    assert not at.exception
    assert at.number_input(key="train_momentum").value == 0.8  # the good one is used
    assert at.number_input(key="train_epochs").value == 10 and at.number_input(key="train_lr").value == 0.01
    left_out = "Not taken from the link: the link's value"
    assert notes_under(at, "train_epochs") == [("warning", f"{left_out} '0' must be at least 1 (got 0).")]
    assert notes_under(at, "train_lr") == [("warning", f"{left_out} 'fast' is not a number.")]
    (batch,) = notes_under(at, "train_batch_size")
    assert batch[1].startswith("Not taken from the link: the link's 100 is not one of the slider's values (8, 16")
    assert dict(at.query_params) == {"momentum": "0.8"}  # the URL now says what the form says
    at.number_input(key="train_seed").set_value(2).run()
    assert all_notes(at) == []  # said once


def test_use_these_settings_links_to_train_with_the_runs_settings() -> None:
    store = RunStore(Path(os.environ["RESNET_MNIST_RUNS"]))
    config = TrainConfig(epochs=2, lr=0.05, momentum=0.9, batch_size=32, train_limit=3000, device="cpu")
    recorder = store.create(config, device="cpu", name="to copy")
    from resnet_mnist.core.events import StateChanged

    recorder(StateChanged(RunState.STOPPED, "stopped by the user"))
    at = open_app_page("pages/runs.py", runs_tab="Manage")
    links = [link.proto for link in at.get("page_link") if link.proto.label == "Use these settings"]
    assert links, "no 'Use these settings' link on the Manage tab"
    assert links[0].page.endswith("train")
    query = dict(pair.split("=") for pair in links[0].query_string.split("&"))
    assert re.fullmatch(r"[0-9a-f]{8}", query.pop("use"))  # the token that marks a followed link
    assert query == {"epochs": "2", "lr": "0.05", "momentum": "0.9", "batch_size": "32", "train_limit": "3000"}
    # Following it: the Train page opens with those settings.
    train = open_app_page("pages/train.py")
    train.query_params.update(query)
    train.run()
    got = {name: train.number_input(key=f"train_{name}").value for name in ("epochs", "lr", "momentum", "train_limit")}
    assert got == {"epochs": 2, "lr": 0.05, "momentum": 0.9, "train_limit": 3000}
    assert train.select_slider(key="train_batch_size").value == 32


def test_a_link_keeps_the_precision_radio_and_leaves_advanced_closed() -> None:
    """Precision is a radio too, but not a device: a link's precision is taken, and no link makes it a
    device "that cannot be used on this machine" (which also opened Advanced)."""
    at = open_app_page("pages/train.py")
    at.query_params.update({"epochs": "3", "precision": "fp32"})
    at.run()
    assert not at.exception
    assert all_notes(at) == []
    assert at.radio(key="train_precision").value == "fp32"
    (advanced,) = [e for e in _flat(at.sidebar) if e.type == "expander"]
    assert not advanced.proto.expanded
    assert dict(at.query_params) == {"epochs": "3", "precision": "fp32"}
    followed = open_app_page("pages/train.py")  # a link that leaves precision at the seed's auto
    followed.query_params.update({"epochs": "2", "use": "0a1b2c3d"})
    followed.run()
    assert all_notes(followed) == [] and followed.radio(key="train_precision").value == "auto"
