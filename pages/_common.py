"""Shared, cached resources for the pages: the one training worker and the runs folder.

Kept outside the package because it uses Streamlit; everything it builds comes from resnet_mnist.
"""

from __future__ import annotations

import streamlit as st

from resnet_mnist import RunState, RunStore, TrainingWorker, WorkerSnapshot, resolve_runs_dir
from resnet_mnist.data import resolve_data_root


def _leave_pages_folder_mode() -> None:
    """Route a deep link opened first on a fresh server (e.g. /train) through app.py's navigation.

    Streamlit treats a folder named pages/ beside the main script as its old multipage mode until
    the main script's st.navigation runs once; before that, a deep link runs the page file alone,
    with the wrong sidebar and layout. Every page imports this module, so the first such run turns
    that mode off and reruns, this time through app.py.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_folder_mode()


@st.cache_resource
def get_worker() -> TrainingWorker:
    """The server's single training worker: survives reruns, page switches, refreshes and tabs."""
    return TrainingWorker(get_run_store(), data_root=resolve_data_root())


@st.cache_resource
def get_run_store() -> RunStore:
    """The runs folder ($RESNET_MNIST_RUNS or ./runs)."""
    return RunStore(resolve_runs_dir())


STATE_BADGES = {
    RunState.IDLE: ":gray-badge[idle]",
    RunState.RUNNING: ":blue-badge[:material/play_arrow: running]",
    RunState.PAUSED: ":orange-badge[:material/pause: paused]",
    RunState.STOPPED: ":orange-badge[:material/stop: stopped]",
    RunState.FINISHED: ":green-badge[:material/check: finished]",
    RunState.FAILED: ":red-badge[:material/error: failed]",
}


def state_badge(snapshot: WorkerSnapshot) -> str:
    """The job's state as a coloured Markdown badge."""
    if snapshot.loading:
        return ":blue-badge[:material/hourglass_top: loading data…]"
    return STATE_BADGES[RunState(snapshot.state.value)]  # by value: survives a module reload
