"""The Sweep form keeps what was typed (issue 25.2): a visit to another page, or the form being away while
a sweep runs, no longer returns the space, counts, search, scheduler and name to their defaults; a reload
(a fresh session) shows the last sweep started, read from its request.json; Run again fills the form
with an ended sweep's settings."""

from __future__ import annotations

import os
from pathlib import Path

import helpers
from helpers import open_app_page

from resnet_mnist import TrainConfig
from resnet_mnist.sweeps.outcome import SweepState
from resnet_mnist.sweeps.spec import SWEEP_DEFAULTS, Axis, SweepSpec

TYPED = {"sweep_lr": "0.001:0.5:log", "sweep_epochs": "2", "sweep_train_limit": "3000", "sweep_name": "mine"}
LAST = SweepSpec(
    base=SWEEP_DEFAULTS.base.with_changes(test_limit=2000),
    space={
        "lr": Axis(low=0.001, high=0.5, log=True),
        "momentum": Axis(values=(0.5, 0.9)),
        "epochs": Axis(values=(3,)),
        "train_limit": Axis(values=(2000, 4000)),
        "precision": Axis(values=("fp32", "bf16")),
    },
    search="optuna",
    samples=6,
    seed=7,
    scheduler="asha",
    grace_period=2,
    reduction_factor=3,
    max_concurrent=2,
    name="lr search",
)
# what the form shows for LAST
SHOWN = {
    "sweep_lr": "0.001:0.5:log",
    "sweep_momentum": "0.5, 0.9",
    "sweep_epochs": "3",
    "sweep_train_limit": "2000, 4000",
    "sweep_name": "lr search",
}
SHOWN_NUMBERS = {
    "sweep_samples": 6,
    "sweep_seed": 7,
    "sweep_test_limit": 2000,
    "sweep_grace": 2,
    "sweep_factor": 3,
    "sweep_concurrent": 2,
}


def ended_sweep(spec: SweepSpec, state: SweepState = SweepState.FINISHED, sweep_id: str | None = None) -> str:
    return helpers.ended_sweep(Path(os.environ["RESNET_MNIST_RUNS"]), spec, state, sweep_id=sweep_id)


def assert_form_shows_last(at) -> None:
    assert {key: at.text_input(key=key).value for key in SHOWN} == SHOWN
    assert {key: at.number_input(key=key).value for key in SHOWN_NUMBERS} == SHOWN_NUMBERS
    assert at.multiselect(key="sweep_precision").value == ["fp32", "bf16"]
    assert at.radio(key="sweep_search").value == "optuna"
    assert at.radio(key="sweep_scheduler").value == "asha"


def test_the_sweep_form_keeps_its_values_across_a_page_switch() -> None:
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    for key, value in TYPED.items():
        at.text_input(key=key).set_value(value)
    at.number_input(key="sweep_samples").set_value(5)
    at.radio(key="sweep_scheduler").set_value("none")
    at.run()
    at.switch_page("pages/train.py").run()  # the Sweep form is not drawn in this run
    at.switch_page("pages/runs.py").run()  # the tab is remembered too (runs_tab)
    assert not at.exception, at.exception
    assert {key: at.text_input(key=key).value for key in TYPED} == TYPED
    assert at.number_input(key="sweep_samples").value == 5
    assert at.radio(key="sweep_scheduler").value == "none"


def test_a_reload_shows_the_last_sweep_started() -> None:
    older = "sweep-20260101-120000-ab12-an-older-one"  # made before this test ran
    ended_sweep(SweepSpec(base=TrainConfig(device="cpu"), name="an older one"), sweep_id=older)
    ended_sweep(LAST)  # the newest
    at = open_app_page("pages/runs.py", runs_tab="Sweep")  # a fresh session, as after a reload or a restart
    assert_form_shows_last(at)
    assert not at.error, [e.value for e in at.error]  # the spec the form shows is a valid sweep


def test_run_again_fills_the_form_with_the_ended_sweeps_settings() -> None:
    sweep_id = ended_sweep(LAST, SweepState.STOPPED)
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    at.text_input(key="sweep_lr").set_value("0.1")
    at.text_input(key="sweep_name").set_value("something else")
    at.radio(key="sweep_search").set_value("grid")
    at.number_input(key="sweep_grace").set_value(5)
    at.multiselect(key="sweep_precision").set_value([])
    at.run()
    at.button(key="sweep_run_again").click().run()
    assert not at.exception, at.exception
    assert_form_shows_last(at)
    assert any(sweep_id in info.value for info in at.info), [i.value for i in at.info]


def test_what_was_typed_and_not_started_survives_a_reload_through_the_url() -> None:
    """Issue 25.2, "like the Train settings": typed values ride in the URL; a reload (a new session on that URL)
    shows them, and a hand-made link's bad values are left out, never a traceback."""
    at = open_app_page("pages/runs.py", runs_tab="Sweep")
    for key, value in TYPED.items():
        at.text_input(key=key).set_value(value)
    at.number_input(key="sweep_samples").set_value(5)
    at.radio(key="sweep_scheduler").set_value("asha")
    at.multiselect(key="sweep_precision").set_value(["bf16"])
    at.run()
    url = {key: value[0] if isinstance(value, list) else value for key, value in at.query_params.items()}
    assert url == {**TYPED, "sweep_samples": "5", "sweep_scheduler": "asha", "sweep_precision": "bf16"}, url

    reloaded = open_app_page("pages/runs.py")  # a new session: the Sweep form not drawn yet
    reloaded.query_params.update(url)
    reloaded.session_state["runs_tab"] = "Sweep"
    reloaded.run()
    assert {key: reloaded.text_input(key=key).value for key in TYPED} == TYPED
    assert reloaded.number_input(key="sweep_samples").value == 5
    assert reloaded.radio(key="sweep_scheduler").value == "asha"
    assert reloaded.multiselect(key="sweep_precision").value == ["bf16"]

    bad = {"sweep_samples": "nan", "sweep_grace": "500", "sweep_search": "**grid**", "sweep_precision": "fp32,fp64"}
    linked = open_app_page("pages/runs.py")
    linked.query_params.update({**bad, "sweep_factor": "1e9", "sweep_name": "x" * 2000})
    linked.session_state["runs_tab"] = "Sweep"
    linked.run()
    assert not linked.exception, linked.exception
    assert linked.number_input(key="sweep_samples").value == 8  # refused: the form's own start
    assert linked.number_input(key="sweep_grace").value == 100  # clamped to its box's bounds
    assert linked.radio(key="sweep_search").value == "random" and linked.multiselect(key="sweep_precision").value == []
    assert linked.number_input(key="sweep_factor").value == 4 and linked.text_input(key="sweep_name").value == ""
