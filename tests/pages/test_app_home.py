"""The overview page through Streamlit's AppTest: model summary, data status, job state, latest run, links."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from helpers import record_run
from streamlit.testing.v1 import AppTest

from resnet_mnist import Net, RunState, RunStore, TrainConfig, load_split, run_training
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
from resnet_mnist.core.model import count_parameters

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home() -> Iterator[AppTest]:
    st.cache_resource.clear()  # a worker and run store built from this test's environment
    yield AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    from pages._common import get_worker

    assert get_worker().stop(timeout=30)
    st.cache_resource.clear()


def test_overview_describes_the_model_data_and_an_idle_server(home: AppTest) -> None:
    home.run()
    assert not home.exception
    assert home.title[0].value == "ResNet MNIST Studio"
    assert any("41,514 parameters" in m.value for m in home.markdown)
    layers = home.dataframe[0].value
    assert int(layers["parameters"].sum()) == count_parameters(Net()) == 41_514
    assert list(layers["layer"])[:5] == ["conv1", "res_block_1", "conv2", "res_block_2", "fc1"]  # forward order
    assert f"{MNIST_TRAIN_SIZE:,} training and {MNIST_TEST_SIZE:,} test images" in home.success[0].value
    assert any("idle" in m.value for m in home.markdown)
    assert any("No runs" in c.value for c in home.caption)
    assert len(home.get("page_link")) == 3


def test_overview_shows_the_latest_run(home: AppTest, data_root: Path) -> None:
    store = RunStore(Path(os.environ["RESNET_MNIST_RUNS"]))
    config = TrainConfig(epochs=1, train_limit=1000, test_limit=300, device="cpu")
    recorder = store.create(config, device="cpu", name="quick one")
    outcome = run_training(config, recorder, data_root=str(data_root))
    home.run()
    assert not home.exception
    metrics = {m.label: m.value for m in home.metric}
    assert metrics["Test accuracy"] == f"{100 * outcome.final_accuracy:.2f}%"
    assert metrics["Epochs"] == "1 / 1"
    assert any("quick one" in c.value and "finished" in c.value for c in home.caption)


def test_overview_shows_a_running_job(home: AppTest, data_root: Path) -> None:
    load_split(data_root, train=True)
    home.run()
    from pages._common import get_worker

    worker = get_worker()
    worker.start(TrainConfig(epochs=20, train_limit=6000, test_limit=300, device="cpu"))
    deadline = time.monotonic() + 120
    while not worker.snapshot().batches and time.monotonic() < deadline:
        time.sleep(0.05)
    home.run()
    assert any("running" in m.value for m in home.markdown)
    assert home.get("progress")
    assert worker.snapshot().state is RunState.RUNNING


def test_overview_says_what_to_do_when_mnist_is_missing(
    home: AppTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESNET_MNIST_DATA", str(tmp_path / "empty"))
    home.run()
    assert not home.exception
    (warning,) = home.warning
    assert "not found" in warning.value and "RESNET_MNIST_DATA" in warning.value


def test_overview_puts_the_best_run_beside_a_failed_latest_one(home: AppTest) -> None:
    """The issue's case: the newest run failed; the best one is named beside it, with its accuracy."""
    store = RunStore(Path(os.environ["RESNET_MNIST_RUNS"]))
    record_run(store, [0.95, 0.975], RunState.FINISHED, name="the good one")
    time.sleep(1.1)  # run ids carry the creation time to the second
    record_run(store, [0.5], RunState.FAILED, name="diverged")
    home.run()
    assert not home.exception
    assert [s.value for s in home.subheader if "run" in s.value] == ["Latest run", "★ Best run"]
    assert [m.value for m in home.metric if m.label == "Test accuracy"] == ["50.00%", "97.50%"]
    captions = [c.value for c in home.caption]
    assert any(c.startswith(r"diverged · failed\: failed for the test") for c in captions), captions
    assert any(c.startswith("the good one · finished") for c in captions), captions
