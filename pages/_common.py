"""Shared, cached resources for the pages: the one training worker and the runs folder.

Kept outside the package because it uses Streamlit; everything it builds comes from resnet_mnist.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._deep_link_guard import leave_pages_folder_mode
from resnet_mnist import RunStore, TrainingWorker
from resnet_mnist.core.data import resolve_data_root
from resnet_mnist.handwriting.digits import resolve_handwriting_dir
from resnet_mnist.jobs.cores import CoreClaim, default_lock_path
from resnet_mnist.jobs.lr_find_runner import LrFindRunner
from resnet_mnist.jobs.sweep_runner import SweepRunner
from resnet_mnist.jobs.worker import WorkerSnapshot
from resnet_mnist.runs.store import RunInfo, resolve_runs_dir
from resnet_mnist.ui.figures import palette

leave_pages_folder_mode()  # every page imports this module, so a deep link's first run is caught here


@st.cache_resource
def get_core_claim() -> CoreClaim:
    """The machine's cores, claimed by the Train page's run, a sweep, or a command-line run: one at a time."""
    return CoreClaim(default_lock_path())


@st.cache_resource
def get_worker() -> TrainingWorker:
    """The server's single training worker: survives reruns, page switches, refreshes and tabs."""
    return TrainingWorker(get_run_store(), data_root=resolve_data_root(), cores=get_core_claim())


@st.cache_resource
def get_sweep_runner() -> SweepRunner:
    """The server's Ray Tune sweep (one at a time), alive across reruns like the worker."""
    return SweepRunner(get_run_store(), data_root=resolve_data_root(), cores=get_core_claim())


@st.cache_resource
def get_lr_finder() -> LrFindRunner:
    """The server's learning-rate range test (one at a time), shared by the Train page and the Sweep tab."""
    return LrFindRunner(data_root=resolve_data_root(), cores=get_core_claim())


@st.cache_resource
def get_run_store() -> RunStore:
    """The runs folder ($RESNET_MNIST_RUNS or ./runs)."""
    return RunStore(resolve_runs_dir())


def handwriting_dir() -> Path:
    """The handwriting folder ($RESNET_MNIST_HANDWRITING or ./handwriting), read each run: never cached."""
    return resolve_handwriting_dir()


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


def run_choice(label: str, key: str, candidates: list[RunInfo], focus: str | None) -> RunInfo | None:
    """A select box over `candidates` (named by label, state and id), starting on `focus`; None when empty."""
    if not candidates:
        return None
    by_id = {r.id: r for r in candidates}
    options = list(by_id)
    index = options.index(focus) if focus in by_id else 0
    names = {r.id: f"{r.label} — {r.state.value}" + (f" ({r.id})" if r.name else "") for r in candidates}
    chosen = st.selectbox(label, options, index=index, key=key, format_func=names.get)
    return by_id.get(chosen)


def in_fragment_rerun() -> bool:
    """Whether this script run is a fragment's own tick, not the whole page's run (in which a fragment runs too).

    Streamlit 1.67 has no public call for it; its run context lists the fragments of a fragment-only rerun
    and none in a full run (streamlit/delta_generator.py relies on the same).
    """
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


# The epoch pickers' first option, the run's own checkpoint.pt. Not None: a selectbox whose value is None
# shows its empty "Choose an option" placeholder, not that option's label. Epochs count from 1.
RUN_MODEL = 0


def epoch_label(epoch: int) -> str:
    """An epoch picker's option: the run's model, or one epoch's checkpoint."""
    return "the run's model (checkpoint.pt)" if epoch == RUN_MODEL else f"epoch {epoch}"
