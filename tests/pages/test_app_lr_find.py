"""Find a learning rate through Streamlit's AppTest: on the Train page (the suggestion into the lr box)
and on the Sweep tab (its band into the lr axis), on a real MNIST slice."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from helpers import open_app_page, the_page_worker
from streamlit.testing.v1 import AppTest

from resnet_mnist import TrainConfig, load_split
from resnet_mnist.jobs.lr_find_runner import LrFindSnapshot


def the_lr_finder():
    from pages._common import get_lr_finder

    return get_lr_finder()


@pytest.fixture
def open_page(data_root: Path) -> Iterator:
    load_split(data_root, train=True)  # parsed once, so the test starts training at once
    yield lambda page, **state: open_app_page(page, **state)
    the_lr_finder().stop(timeout=60)
    the_page_worker().stop(timeout=60)
    st.cache_resource.clear()


def rerun_until_found(at: AppTest, timeout: float = 180) -> LrFindSnapshot:
    """Rerun the page (as its fragment polls) until the range test has ended; then once more to draw it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        snap = the_lr_finder().snapshot()
        if snap.state in ("finished", "stopped", "failed"):
            at.run()
            return snap
        time.sleep(0.3)
    raise AssertionError(f"timed out; last state {the_lr_finder().snapshot().state}")


def chart(at: AppTest, key: str) -> list[dict]:
    (found,) = [c for c in at.get("plotly_chart") if key in c.proto.id]
    return json.loads(found.proto.spec)["data"]


def test_the_train_page_finds_an_lr_for_its_settings_and_puts_it_in_the_form(open_page) -> None:
    at = open_page("pages/train.py")
    at.slider(key="train_momentum_scale").set_value(0.9)
    at.number_input(key="train_train_limit").set_value(800).run()
    at.button(key="train_lr_find").click().run()
    assert not at.error and not at.warning
    snap = rerun_until_found(at)
    assert snap.state == "finished", snap.error
    assert snap.settings is not None and snap.settings.momentum == 0.9 and snap.images == 800  # the form's
    result = snap.result
    assert result is not None
    traces = chart(at, "train_lr_find_chart")
    assert [t["name"] for t in traces][-1] == "mean" and len(traces) == 1 + len(result.curves)
    assert any(f"{result.suggested_lr:.3g}" in s.value for s in at.success)
    use = at.button(key="train_lr_find_use")
    expected = float(f"{result.suggested_lr:.3g}")
    assert f"{expected:g}" in use.label
    use.click().run()
    assert at.number_input(key="train_lr").value == expected
    assert at.number_input(key="train_momentum").value == 0.9  # the rest of the form is left alone


def test_it_is_refused_while_a_run_has_the_cores(open_page) -> None:
    at = open_page("pages/train.py")
    the_page_worker().start(TrainConfig(epochs=300, train_limit=1000, test_limit=100, device="cpu"))
    at.button(key="train_lr_find").click().run()
    assert any("Train page" in w.value for w in at.warning), [w.value for w in at.warning]
    assert the_lr_finder().snapshot().state == "idle"


def test_the_sweep_tab_puts_the_band_into_its_lr_range(open_page) -> None:
    at = open_page("pages/runs.py", runs_tab="Sweep")
    at.radio(key="sweep_search").set_value("grid").run()
    at.button(key="sweep_lr_find").click().run()
    snap = rerun_until_found(at)
    assert snap.state == "finished" and snap.result is not None, snap.error
    low, high = (float(f"{v:.3g}") for v in (snap.result.low, snap.result.high))
    at.button(key="sweep_lr_find_use").click().run()
    assert at.text_input(key="sweep_lr").value == f"{low:g}:{high:g}:log"
    assert at.radio(key="sweep_search").value == "random"  # a range needs a random or Optuna search
    assert not at.error, [e.value for e in at.error]  # the spec takes it
