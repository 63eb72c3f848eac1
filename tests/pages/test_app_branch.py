"""Branches and the doctor through Streamlit's AppTest, on real small runs: the Runs page's Epochs & doctor tab
(verdict, remedy link, an epoch for Evaluate), the Train page's branch banner and Start, the Draw page's epoch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import streamlit as st
from helpers import open_app_page, rerun_until, the_page_worker
from streamlit.testing.v1 import AppTest

from resnet_mnist import RunState, RunStore, TrainConfig, load_split, run_training
from resnet_mnist.core.data import load_split as load


def _train(store: RunStore, data_root: Path, **settings: object) -> str:
    config = TrainConfig(device="cpu", test_limit=500, **settings)  # type: ignore[arg-type]
    recorder = store.create(config, device="cpu")
    outcome = run_training(
        config,
        recorder,
        train_split=load(data_root, train=True, limit=config.train_limit),
        test_split=load(data_root, train=False, limit=500),
    )
    assert outcome.state is RunState.FINISHED
    return recorder.run_id


@pytest.fixture
def runs(data_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[RunStore]:
    """This test's runs folder for the app; the page's worker stopped after."""
    store = RunStore(tmp_path / "app-runs")
    monkeypatch.setenv("RESNET_MNIST_RUNS", str(store.root))
    load_split(data_root, train=False)
    yield store
    the_page_worker().stop(timeout=60)
    st.cache_resource.clear()


def _links(at: AppTest) -> dict[str, dict[str, str]]:
    """Each page link's label → its query (one value per key)."""
    found = {}
    for element in at.get("page_link"):
        link = element.proto
        found[link.label] = {k: v[0] for k, v in parse_qs(link.query_string).items()}
    return found


def test_the_epochs_tab_shows_the_doctors_verdict_and_its_remedy_is_a_branch_link(
    runs: RunStore, data_root: Path
) -> None:
    diverged = _train(runs, data_root, epochs=2, lr=5.0, momentum=0.9, train_limit=1000)
    at = open_app_page("pages/runs.py", runs_tab="Epochs & doctor", lineage_run=diverged)
    verdict = [e.value for e in at.error if "Doctor: diverged" in e.value]
    assert verdict and "exploded" in verdict[0], [e.value for e in at.error]
    remedy = next(q for label, q in _links(at).items() if label.startswith("Remedy: "))
    assert (
        remedy["branch"] == diverged
        and remedy["from_epoch"] == "0"
        and float(remedy["lr"]) == pytest.approx(5 / 3, rel=0.01)
    )
    options = at.selectbox(key=f"lineage_epoch_{diverged}").options
    assert [o.split(" · ")[0] for o in options] == ["epoch 1", "epoch 2"]
    assert _links(at)["Branch from epoch 2"]["branch"] == diverged


def test_an_epoch_chosen_on_the_epochs_tab_is_the_one_evaluate_tests(runs: RunStore, data_root: Path) -> None:
    run_id = _train(runs, data_root, epochs=2, lr=0.05, momentum=0.9, train_limit=600)
    at = open_app_page("pages/runs.py", runs_tab="Epochs & doctor", lineage_run=run_id)
    at.selectbox(key=f"lineage_epoch_{run_id}").set_value(1).run()
    at.button(key="lineage_draw").click().run()
    assert (at.session_state["draw_run_id"], at.session_state["draw_epoch"]) == (run_id, 1)  # the Draw page's choice
    at.button(key="lineage_evaluate").click().run()
    at.session_state["runs_tab"] = "Evaluate"
    at.session_state["eval_run"] = run_id
    at.session_state["eval_scope"] = "the run's own 500 test images"
    at.run()
    assert not at.exception
    assert at.selectbox(key=f"eval_epoch_{run_id}").value == 1
    at.selectbox(key=f"eval_epoch_{run_id}").set_value(0).run()  # the first option: the run's model
    picker = at.selectbox(key=f"eval_epoch_{run_id}")
    assert picker.index == 0 and picker.options[0] == "the run's model (checkpoint.pt)"
    assert any("Checkpoint from epoch 2;" in c.value for c in at.caption)
    at.selectbox(key=f"eval_epoch_{run_id}").set_value(1).run()
    assert any("Checkpoint from epoch 1;" in c.value for c in at.caption)
    epochs = json.loads((runs.root / run_id / "metrics.json").read_text())["epochs"]
    assert at.metric[0].value == f"{epochs[0]['test_accuracy']:.2%}"


def test_a_branch_link_fills_the_form_and_start_trains_the_branch_with_its_parent_on_the_charts(
    runs: RunStore, data_root: Path
) -> None:
    parent = _train(runs, data_root, epochs=2, lr=0.05, momentum=0.9, train_limit=600)
    at = open_app_page("pages/train.py")
    query = {"epochs": "2", "lr": "1e-09", "momentum": "0.9", "train_limit": "600", "test_limit": "500"}
    at.query_params.update({**query, "use": "1a2b3c4d", "branch": parent, "from_epoch": "1"})
    at.run()
    banner = [i.value for i in at.info if "**Branch**" in i.value]
    assert banner and "Start trains epochs 2 to 2 from epoch 1's weights and momentum" in banner[0]
    at.button(key="train_start").click().run()
    snap = rerun_until(at, lambda s: s.state is RunState.FINISHED and s.run_id is not None)
    record = runs.get(snap.run_id)
    assert record.branched_from == (parent, 1) and record.config.lr == 1e-9
    assert "branch" not in at.query_params  # the branch started: the address forgets it
    names = [
        trace.get("name", "") for chart in at.get("plotly_chart") for trace in json.loads(chart.proto.spec)["data"]
    ]
    assert any(name.startswith("parent ") for name in names), names
    parent_epochs = json.loads((runs.root / parent / "metrics.json").read_text())["epochs"]
    assert abs(snap.epochs[-1].test_accuracy - parent_epochs[0]["test_accuracy"]) <= 0.003
    # The finished banner: the doctor's verdict on the branch, and a link to branch it in turn.
    assert any(s.value.startswith("**Doctor: ") for s in [*at.success, *at.warning, *at.error])
    assert _links(at)["Branch from epoch 2"]["branch"] == snap.run_id


def test_a_branch_that_cannot_be_made_says_why_and_start_refuses(runs: RunStore, data_root: Path) -> None:
    at = open_app_page("pages/train.py")
    at.query_params.update({"branch": "20990101-000000-abcdef", "from_epoch": "1"})
    at.run()
    assert any("Cannot branch: unknown run" in e.value for e in at.error)
    at.button(key="train_start").click().run()
    assert not the_page_worker().is_alive() and not runs.runs()
    at.button(key="train_branch_cancel").click().run()
    assert "branch" not in at.query_params and not any("Cannot branch" in e.value for e in at.error)


def test_the_draw_page_draws_with_the_epoch_chosen_on_the_runs_page(runs: RunStore, data_root: Path) -> None:
    run_id = _train(runs, data_root, epochs=2, lr=0.05, momentum=0.9, train_limit=600)
    at = open_app_page("pages/draw.py", draw_run_id=run_id)
    picker = at.selectbox(key="draw_epoch_select")
    # The run's own model is chosen and named: not an empty picker reading "Choose an option" (issue 25).
    assert picker.index == 0 and picker.options[0] == "the run's model (checkpoint.pt)"
    at.session_state["draw_epoch"] = 1
    at.run()
    assert at.selectbox(key="draw_epoch_select").value == 1
    assert at.selectbox(key="draw_epoch_select").options == ["the run's model (checkpoint.pt)", "epoch 1", "epoch 2"]
