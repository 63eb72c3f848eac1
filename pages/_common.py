"""Shared, cached resources for the pages: the one training worker and the runs folder.

Kept outside the package because it uses Streamlit; everything it builds comes from resnet_mnist.
"""

from __future__ import annotations

import streamlit as st

from resnet_mnist import RunStore, TrainingWorker, WorkerSnapshot, resolve_runs_dir
from resnet_mnist.data import resolve_data_root
from resnet_mnist.figures import palette


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


_STATE_ICONS = {
    "idle": "",
    "loading": ":material/hourglass_top: ",
    "running": ":material/play_arrow: ",
    "paused": ":material/pause: ",
    "stopped": ":material/stop: ",
    "finished": ":material/check: ",
    "failed": ":material/error: ",
}


def state_badge(snapshot: WorkerSnapshot) -> str:
    """The job's state as a Markdown badge in its palette colour."""
    state = "loading" if snapshot.loading else snapshot.state.value  # by value: survives a module reload
    text = "loading data…" if state == "loading" else state
    return f":{palette.STATE_BADGES[state]}-badge[{_STATE_ICONS[state]}{text}]"
