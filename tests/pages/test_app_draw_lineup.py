"""The Draw page's line-up and pen (issue 25.4, 25.9), through AppTest with real models and MNIST digits.

The line-up starts with the best runs (ranking.py's rule), never a newer weak trial, and counts only
answers given with at least 50% confidence as votes; the pen width chosen stays for the session.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from helpers import open_app_page, record_run
from test_app_draw import draw, drawn, predicted_digit
from torchvision.datasets import MNIST

from resnet_mnist import RunState, RunStore


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


@pytest.fixture(scope="module")
def seven(data_root: Path):
    dataset = MNIST(str(data_root), train=False)
    assert int(dataset.targets[0]) == 7
    return drawn(dataset.data[0].numpy())


def test_the_line_up_starts_with_the_best_runs_and_counts_only_sure_votes(model_runs: Path, trained_run, seven) -> None:
    store = RunStore(model_runs)
    # Untrained networks recorded at 97% and 96%: ranked second and third, and (their weights being random)
    # unsure of any digit.
    second = record_run(store, [0.97], RunState.FINISHED, name="second best, unsure")
    third = record_run(store, [0.96], RunState.STOPPED, name="third best, unsure")
    time.sleep(1.1)  # run ids carry the creation time to the second: the trial is the newest
    trial = record_run(store, [0.385], RunState.STOPPED, name="stopped trial")
    at = draw(open_app_page("pages/draw.py"), seven)
    assert predicted_digit(at) == 7
    lineup = at.multiselect(key="lineup_runs")
    assert lineup.value == [trained_run.id, second.id, third.id]  # the best three, not the newest, weak trial
    assert any(trial.id in option for option in lineup.options)  # still offered, just not chosen
    texts = [*(s.value for s in at.success), *(w.value for w in at.warning), *(i.value for i in at.info)]
    assert "1 of 3 is confident: it says 7; the rest, under 50%, are not counted." in texts
    assert not [t for t in texts if "All 3 say" in t or "disagree" in t]
    assert any("at least 50% confidence count as votes" in c.value for c in at.caption)
    badges = [m.value for m in at.markdown if "not counted]" in m.value]
    assert badges == [":gray-badge[:material/help: under 50%: not counted]"] * 2

    at.multiselect(key="lineup_runs").set_value([trained_run.id]).run()  # one run: nothing to agree on
    assert not at.exception, at.exception
    assert not [c for c in at.caption if "count as votes" in c.value]


def test_the_pen_width_is_kept_across_a_visit_to_another_page(draw_runs: Path) -> None:
    at = open_app_page("pages/draw.py")
    assert at.slider(key="draw_stroke_width").value == 22
    at.slider(key="draw_stroke_width").set_value(31).run()
    at.switch_page("pages/my_digits.py").run()
    assert not at.exception, at.exception
    at.switch_page("pages/draw.py").run()
    assert not at.exception, at.exception
    assert at.slider(key="draw_stroke_width").value == 31
