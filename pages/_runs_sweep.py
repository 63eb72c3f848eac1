"""The Runs page's Sweep tab: value lists for the sweepable settings, queued on the worker."""

from __future__ import annotations

import streamlit as st

from resnet_mnist import ConfigError, TrainConfig, TrainingWorker
from resnet_mnist.config import SETTINGS
from resnet_mnist.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
from resnet_mnist.sweep import MAX_SWEEP_RUNS, SWEPT_FIELDS, SweepSpec, new_sweep_id, parse_values
from resnet_mnist.worker import WorkerBusyError


def _values(label: str, default: str, kind: type, key: str) -> tuple:
    text = st.text_input(label, default, key=key, help="several values separated by commas")
    try:
        return parse_values(text, kind)
    except ValueError as exc:
        st.error(f"{label}: {exc}")
        return ()


def sweep_tab(worker: TrainingWorker) -> None:
    st.write("Queue several runs on the worker; they train one after another and fill the comparison.")
    values = {}
    for column, name in zip(st.columns(len(SWEPT_FIELDS)), SWEPT_FIELDS, strict=True):
        setting = SETTINGS[name]
        with column:
            start = ", ".join(f"{v:g}" for v in setting.sweep_values)
            values[name] = _values(setting.label, start, setting.kind, f"sweep_{name}")
    c1, c2, c3, c4 = st.columns(4)
    train_limit = c1.number_input(
        f"Training images (0 = all {MNIST_TRAIN_SIZE:,})",
        0,
        MNIST_TRAIN_SIZE,
        5_000,
        1_000,
        key="sweep_train_limit",
    )
    test_limit = c2.number_input(
        f"Test images (0 = all {MNIST_TEST_SIZE:,})", 0, MNIST_TEST_SIZE, 0, 1_000, key="sweep_test_limit"
    )
    mode = c3.radio("Mode", ["grid", "random"], horizontal=True, key="sweep_mode")
    n = c4.number_input("Random runs", 1, MAX_SWEEP_RUNS, 4, key="sweep_n", disabled=mode == "grid")
    name = st.text_input("Sweep name", "sweep", key="sweep_name")
    spec = SweepSpec(
        base=TrainConfig(train_limit=int(train_limit) or None, test_limit=int(test_limit) or None),
        values=values,
        mode=mode,
        n=int(n),
    )
    problems = spec.problems()
    for problem in problems:
        st.error(problem)
    st.metric("Runs to queue", spec.size)
    busy = worker.is_alive()
    if busy:
        st.info("A job is running; a sweep can be queued once it has ended (or been stopped).")
    if st.button(
        f"Queue {spec.size} runs", type="primary", disabled=bool(problems) or spec.size == 0, key="queue_sweep"
    ):
        sweep_id = new_sweep_id()
        try:
            worker.start(spec.configs(), name=name.strip() or "sweep", sweep=sweep_id)
        except WorkerBusyError as exc:
            st.error(str(exc))
        except (ConfigError, ValueError) as exc:
            st.error(f"The sweep was not queued: {exc}")
        else:
            st.session_state["follow_sweep"] = sweep_id
            st.toast(f"Queued {spec.size} runs.")
            st.rerun()
    if busy and st.button("Stop the running job and the rest of its queue", key="stop_sweep"):
        worker.stop()
        st.rerun()
