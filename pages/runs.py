"""Runs: every saved run — compare them, evaluate one on the test set, manage them, queue a sweep."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from pages._common import get_run_store, get_worker
from pages._runs_compare import compare_tab
from pages._runs_evaluate import evaluate_tab
from pages._runs_manage import manage_tab
from pages._runs_sweep import sweep_tab
from resnet_mnist.comparison import run_table_rows, table_columns, unreadable_rows
from resnet_mnist.config import SETTINGS
from resnet_mnist.runs import RunInfo

st.session_state.setdefault("compare_ids", [])
st.session_state.setdefault("follow_sweep", None)
st.session_state.setdefault("confirm_delete", None)

store = get_run_store()
worker = get_worker()
snapshot = worker.snapshot()
active_run_id = snapshot.run_id if worker.is_alive() else None


def _live_marker() -> tuple:
    snap = worker.snapshot()
    return (worker.is_alive(), snap.run_id, snap.state, len(snap.epochs), len(snap.finished_run_ids))


# What the page was drawn with; the live fragment reruns the page when this changes.
st.session_state["live_marker"] = _live_marker()

st.title("Runs")
st.caption(f"Every run saved in `{store.root}`: compare them, test one, manage them, or queue a sweep.")


@st.fragment(run_every=2.0)
def live_status() -> None:
    """The running job or sweep, and a page refresh whenever a run starts, finishes an epoch or ends."""
    snap = worker.snapshot()
    if snap.busy:
        what = f"Sweep `{snap.sweep}`: job {snap.job_index} of {snap.job_count}" if snap.sweep else "Training"
        epochs = snap.config.epochs if snap.config else 0
        st.info(f"{what} — run `{snap.run_id}`, epoch {snap.epoch} of {epochs}, {snap.state.value}.")
        done = (len(snap.finished_run_ids) + snap.run_progress) / max(snap.job_count, 1)
        st.progress(min(done, 1.0), text=f"{len(snap.finished_run_ids)} of {snap.job_count} runs finished")
    if st.session_state.get("live_marker") != _live_marker():
        st.rerun(scope="app")


live_status()

# -- the runs table ----------------------------------------------------------------------------

entries = store.list_runs()
runs = [e for e in entries if isinstance(e, RunInfo)]
runs_by_id = {r.id: r for r in runs}

follow = st.session_state["follow_sweep"]
if follow:  # a sweep queued from this page fills the comparison as its runs appear
    compare = st.session_state["compare_ids"]
    compare += [r.id for r in reversed(runs) if r.sweep == follow and r.id not in compare]
    if not (worker.is_alive() and snapshot.sweep == follow):
        st.session_state["follow_sweep"] = None

if not runs:
    st.info(
        "No runs yet. Train one on the **Train** page, queue a sweep below, or run "
        "`python -m resnet_mnist train` with the same runs folder."
    )
else:
    ids = [r.id for r in runs]
    remembered = [i for i in st.session_state["compare_ids"] if i in runs_by_id]
    # A new key whenever the list changes, so row positions never point at the wrong run.
    table_key = "runs_table_" + hashlib.sha1(",".join(ids).encode()).hexdigest()[:10]
    table = pd.DataFrame(run_table_rows(runs, active_run_id))
    event = st.dataframe(
        table,
        key=table_key,
        on_select="rerun",
        selection_mode="multi-row",
        selection_default={"selection": {"rows": [ids.index(i) for i in remembered]}},
        hide_index=True,
        column_order=table_columns(),
        column_config={
            "best acc %": st.column_config.NumberColumn(format="%.2f"),
            "final acc %": st.column_config.NumberColumn(format="%.2f"),
            **{
                s.table_column: st.column_config.NumberColumn(format="%g") for s in SETTINGS.values() if s.kind is float
            },
            "duration s": st.column_config.NumberColumn(format="%.0f"),
            "reason": st.column_config.TextColumn(width="medium"),
        },
    )
    st.session_state["compare_ids"] = [ids[row] for row in event.selection.rows if row < len(ids)]
    st.caption("Tick rows to compare them; click a column header to sort.")

broken = unreadable_rows(entries)
if broken:
    st.warning(f"{len(broken)} folder(s) in the runs directory could not be read as runs:")
    st.dataframe(pd.DataFrame(broken), hide_index=True, key="unreadable_table")

selected = [runs_by_id[i] for i in st.session_state["compare_ids"] if i in runs_by_id]
focus_default = selected[0].id if selected else (runs[0].id if runs else None)

compare, evaluate, manage, sweep = st.tabs(
    ["Compare", "Evaluate", "Manage", "Sweep"], key="runs_tab", on_change="rerun"
)
# Only the open tab runs: each is its own function, in its own module.
if compare.open:
    with compare:
        compare_tab(store, runs, selected)
if evaluate.open:
    with evaluate:
        evaluate_tab(runs, focus_default)
if manage.open:
    with manage:
        manage_tab(store, runs, focus_default, active_run_id)
if sweep.open:
    with sweep:
        sweep_tab(worker)
