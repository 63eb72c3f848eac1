"""The Sweep form keeps what was typed (issue 25.2): a visit to another page, or the form being away while
a sweep runs, no longer returns the space, counts, search, scheduler and name to their defaults."""

from __future__ import annotations

from helpers import open_app_page

TYPED = {"sweep_lr": "0.001:0.5:log", "sweep_epochs": "2", "sweep_train_limit": "3000", "sweep_name": "mine"}


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
