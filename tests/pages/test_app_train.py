"""The Train page through Streamlit's AppTest: widgets, device choice, starting, stopping and refusing jobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from helpers import badge, rerun_until, set_quick_run, the_page_worker
from streamlit.testing.v1 import AppTest

from resnet_mnist import RunState, RunStore, TrainConfig, load_split
from resnet_mnist.core.compute_plan import plan_compute
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(data_root: Path) -> Iterator[AppTest]:
    load_split(data_root, train=True)  # parse MNIST once per process, so jobs start training at once
    load_split(data_root, train=False)
    st.cache_resource.clear()  # a fresh worker and run store, built from this test's environment
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    yield at
    assert the_page_worker().stop(timeout=30)
    st.cache_resource.clear()


def chart_traces(at: AppTest, key: str) -> list[dict]:
    charts = [c for c in at.get("plotly_chart") if key in c.proto.id]
    assert len(charts) == 1, f"no chart {key}"
    return json.loads(charts[0].proto.spec)["data"]


def test_widgets_start_at_the_seed_defaults(app: AppTest) -> None:
    assert app.number_input(key="train_epochs").value == app.slider(key="train_epochs_scale").value == 10
    assert app.number_input(key="train_lr").value == 0.01
    assert app.select_slider(key="train_lr_scale").value == 0.01
    assert app.number_input(key="train_momentum").value == app.slider(key="train_momentum_scale").value == 0.5
    assert app.select_slider(key="train_batch_size").value == 64
    assert app.number_input(key="train_seed").value == 1
    assert app.number_input(key="train_test_batch_size").value == 1000
    assert app.number_input(key="train_log_interval").value == 10
    assert app.number_input(key="train_train_limit").value is None  # all of them
    assert "idle" in badge(app)
    assert any(f"{MNIST_TRAIN_SIZE:,} training / {MNIST_TEST_SIZE:,} test images" in c.value for c in app.caption)


def test_reset_puts_the_seed_defaults_back(app: AppTest) -> None:
    app.slider(key="train_epochs_scale").set_value(3)
    app.select_slider(key="train_lr_scale").set_value(0.1).run()
    assert app.number_input(key="train_lr").value == 0.1  # the log slider drives the exact value
    app.number_input(key="train_lr").set_value(0.003).run()
    assert app.select_slider(key="train_lr_scale").value == 0.002  # and the slider follows a typed value
    app.slider(key="train_momentum_scale").set_value(0.9)
    app.number_input(key="train_seed").set_value(7).run()
    assert app.number_input(key="train_epochs").value == 3  # the slider drives the typed box
    app.button(key="train_reset").click().run()
    assert app.number_input(key="train_epochs").value == app.slider(key="train_epochs_scale").value == 10
    assert app.number_input(key="train_lr").value == 0.01
    assert app.number_input(key="train_momentum").value == app.slider(key="train_momentum_scale").value == 0.5
    assert app.number_input(key="train_seed").value == 1


def test_device_toggle_offers_only_what_exists(app: AppTest) -> None:
    device = app.radio(key="train_device")
    assert device.options == ["CPU"] and device.value == "cpu"  # this machine has no usable accelerator
    unavailable = " ".join(c.value for c in app.caption)
    assert "CUDA" in unavailable and "MPS" in unavailable and "unavailable" in unavailable


def test_a_short_job_runs_shows_live_metrics_and_charts_then_finishes(app: AppTest) -> None:
    set_quick_run(app, epochs=2)
    app.button(key="train_start").click().run()
    assert not app.error and not app.warning
    assert the_page_worker().snapshot().state is RunState.RUNNING
    assert "running" in badge(app) or "loading data" in badge(app)

    snap = rerun_until(app, lambda s: len(s.batches) >= 2 and s.state is RunState.RUNNING)
    loss = chart_traces(app, "train_loss_chart")
    assert len(loss[0]["y"]) >= 2  # training loss points drawn live
    assert len(app.get("plotly_chart")) == 2
    assert any("Epoch" in p.proto.text for p in app.get("progress"))

    snap = rerun_until(app, lambda s: s.state is RunState.FINISHED)
    assert "finished" in badge(app)
    message, doctor = app.success  # the run's result, then the doctor's verdict on it
    assert message.value.startswith("Finished") and doctor.value.startswith("**Doctor: ")
    final = snap.epochs[-1]
    assert f"{100 * final.test_accuracy:.2f}%" in message.value and snap.run_id in message.value
    accuracy = chart_traces(app, "train_accuracy_chart")
    assert accuracy[0]["x"] == [1, 2]
    assert app.session_state["draw_run_id"] == snap.run_id  # the Draw page now uses this model
    info = RunStore(Path(the_page_worker().store.root)).get(snap.run_id)
    assert info.state is RunState.FINISHED and info.has_checkpoint


def test_stop_during_a_job_saves_it_as_stopped(app: AppTest) -> None:
    set_quick_run(app, epochs=20, train_limit=6000)
    app.button(key="train_start").click().run()
    rerun_until(app, lambda s: len(s.batches) >= 1)
    app.button(key="train_stop").click().run()
    snap = the_page_worker().snapshot()
    assert snap.state is RunState.STOPPED
    assert "stopped" in badge(app)
    assert any("Stopped" in w.value for w in app.warning)
    info = the_page_worker().store.get(snap.run_id)
    assert info.state is RunState.STOPPED and info.has_checkpoint


def test_second_start_during_a_job_is_refused(app: AppTest) -> None:
    set_quick_run(app, epochs=20, train_limit=6000)
    app.button(key="train_start").click().run()
    first = the_page_worker().snapshot().run_id or rerun_until(app, lambda s: s.run_id is not None).run_id
    app.button(key="train_start").click().run()
    assert any("already running" in w.value for w in app.warning)
    assert the_page_worker().snapshot().run_id == first
    assert len(the_page_worker().store.runs()) == 1


def test_a_learning_rate_of_zero_is_refused_and_nothing_starts(app: AppTest) -> None:
    set_quick_run(app)
    app.number_input(key="train_lr").set_value(0.0).run()
    app.button(key="train_start").click().run()
    errors = " ".join(e.value for e in app.error)
    assert "Learning rate" in errors and "greater than 0" in errors
    assert the_page_worker().snapshot().state is RunState.IDLE and not the_page_worker().is_alive()
    assert the_page_worker().store.runs() == []


def test_lr_and_momentum_apply_to_the_running_job(app: AppTest) -> None:
    set_quick_run(app, epochs=20, train_limit=6000)
    app.button(key="train_start").click().run()
    rerun_until(app, lambda s: len(s.batches) >= 1)
    app.number_input(key="train_lr").set_value(0.05)
    app.number_input(key="train_momentum").set_value(0.9).run()
    app.button(key="train_apply").click().run()
    snap = rerun_until(app, lambda s: len(s.hparam_changes) == 1)
    assert (snap.hparam_changes[0].lr, snap.hparam_changes[0].momentum) == (0.05, 0.9)
    traces = chart_traces(app, "train_loss_chart")
    assert any(t.get("name") == "lr/momentum changed" for t in traces)  # the change is marked on the chart


def test_the_page_says_what_auto_precision_and_threads_chose_and_why(app: AppTest) -> None:
    plan = plan_compute(TrainConfig(device="cpu"))
    captions = [c.value for c in app.caption]
    assert f"Precision {plan.precision.name}: {plan.precision.reason}." in captions
    threads_line = next(c for c in captions if c.startswith("Threads "))
    assert "auto: " in threads_line and "usable CPUs" in threads_line
    app.radio(key="train_precision").set_value("fp32")
    app.number_input(key="train_threads").set_value(1).run()
    captions = [c.value for c in app.caption]
    assert "Precision fp32: fp32 was asked for." in captions
    assert "Threads 1: 1 asked for." in captions
    assert any(c.endswith("· fp32 · 1 thread") for c in captions)
