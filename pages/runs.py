"""Runs: every saved run — compare them, evaluate one on the test set, manage them, run a Ray Tune sweep."""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from pages._common import get_run_store, get_sweep_runner, get_worker, handwriting_dir, in_fragment_rerun
from pages._runs_compare import compare_tab
from pages._runs_evaluate import evaluate_tab
from pages._runs_lineage import lineage_tab
from pages._runs_manage import manage_tab
from pages._settings_link import use_these_settings_link
from pages._sweep import sweep_tab
from resnet_mnist.core.config import SETTINGS
from resnet_mnist.handwriting.digits import HandwritingError, read_set
from resnet_mnist.handwriting.scores import handwriting_accuracies
from resnet_mnist.runs.comparison import run_table_rows, table_columns, unreadable_rows
from resnet_mnist.runs.ranking import best_run
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.sweeps.outcome import SweepState
from resnet_mnist.ui.formatting import MISSING, NUMBER_FORMAT
from resnet_mnist.ui.plain_text import escape_markdown
from resnet_mnist.ui.sweep_table import NODE_HELP, sweep_summary

# Settings to three significant digits (lr 0.0341, not 0.034123456789012345); "—" where a value is missing,
# each column's help saying why it can be.
RUNS_TABLE_COLUMNS = {
    "best": st.column_config.TextColumn("★", width="small", help="The best run: highest best test accuracy"),
    "best acc %": st.column_config.NumberColumn(
        format="%.2f",
        help=f"Highest test accuracy over its epochs, on its test images (see that column). {MISSING}: no epoch "
        "has ended yet (a pending or running trial, or one stopped during its first epoch).",
    ),
    "final acc %": st.column_config.NumberColumn(
        format="%.2f", help=f"Test accuracy after its last epoch. {MISSING}: no epoch has ended yet."
    ),
    "handwriting acc %": st.column_config.NumberColumn(
        format="%.1f",
        help=f"Accuracy on your digits (My digits). {MISSING}: no digits saved, no checkpoint, or a model taught "
        "your handwriting that trained on all of them (its score on held-out digits is in its Teach result).",
    ),
    **{
        s.table_column: st.column_config.NumberColumn(format=NUMBER_FORMAT, help=s.help)
        for s in SETTINGS.values()
        if s.kind is float
    },
    SETTINGS["threads"].table_column: st.column_config.NumberColumn(
        help=f"{SETTINGS['threads'].help} {MISSING}: auto."
    ),
    "duration s": st.column_config.NumberColumn(format="%.0f"),
    "reason": st.column_config.TextColumn(width="medium"),
    "node": st.column_config.TextColumn(width="small", help=f"{NODE_HELP} {MISSING}: not a sweep's trial."),
}


def handwriting_scores(runs: list[RunInfo]) -> dict[str, float]:
    """Every run's accuracy on your digits (cached per run), or none when there are none."""
    try:
        hset = read_set(handwriting_dir(), allow_missing=True)
        return handwriting_accuracies(runs, hset) if len(hset) else {}
    except HandwritingError as exc:
        st.warning(f"Your handwriting folder could not be read, so runs are not scored on it: {escape_markdown(exc)}")
        return {}


st.session_state.setdefault("compare_ids", [])
st.session_state.setdefault("confirm_delete", None)

store = get_run_store()
worker = get_worker()
sweeper = get_sweep_runner()
snapshot = worker.snapshot()
sweep_snapshot = sweeper.snapshot()
active_run_id = snapshot.run_id if worker.is_alive() else None


def _live_marker() -> tuple:
    snap, sweep = worker.snapshot(), sweeper.snapshot()
    trials = tuple((t.run_id, t.status, t.epoch) for t in sweep.trials)
    return (worker.is_alive(), snap.run_id, snap.state, len(snap.epochs), sweep.state, trials)


# What the page was drawn with; the live fragment reruns the page when this changes, but only on its own
# ticks: rerun during the page's own run, it would swallow the click that run is handling (an epoch ending
# between here and the status line made Start sweep do nothing and say nothing).
st.session_state["live_marker"] = _live_marker()

st.title("Runs")
st.caption(f"Every run saved in {escape_markdown(store.root)}: compare them, test one, manage them, or run a sweep.")


@st.fragment(run_every=2.0)
def live_status() -> None:
    """The running job or sweep, and a page refresh whenever a run starts, finishes an epoch or ends."""
    snap, sweep = worker.snapshot(), sweeper.snapshot()
    if snap.busy:
        epochs = snap.config.epochs if snap.config else 0
        st.info(f"Training — run {escape_markdown(snap.run_id)}, epoch {snap.epoch} of {epochs}, {snap.state.value}.")
        st.progress(snap.run_progress)
    if sweep.sweep_id:  # running, or how it ended: what became of every trial (their run records first)
        total = sweep.spec.trial_count if sweep.spec else len(sweep.trials)
        wanted = {t.run_id for t in sweep.trials}
        trial_runs = {r.id: r for r in store.runs() if r.id in wanted}
        summary = sweep_summary(sweep.state, sweep.trials, trial_runs, total)  # our words only: no markup
        show = st.info if sweep.busy else st.success if sweep.state == SweepState.FINISHED else st.warning
        show(f"Sweep {escape_markdown(sweep.sweep_id)} {summary} (see the Sweep tab).")
    if in_fragment_rerun() and st.session_state.get("live_marker") != _live_marker():
        st.rerun(scope="app")


live_status()

# -- the runs table ----------------------------------------------------------------------------

entries = store.list_runs()
runs = [e for e in entries if isinstance(e, RunInfo)]
runs_by_id = {r.id: r for r in runs}

# Runs that train now: the worker's, and every trial of a running sweep (written by Ray's workers).
active_ids = {active_run_id} - {None}
if sweep_snapshot.busy:
    active_ids |= {r.id for r in runs if r.sweep == sweep_snapshot.sweep_id}

if not runs:
    st.info(
        "No runs yet. Train one on the **Train** page, start a sweep below, or run "
        "`python -m resnet_mnist train` with the same runs folder."
    )
else:
    ids = [r.id for r in runs]
    remembered = [i for i in st.session_state["compare_ids"] if i in runs_by_id]
    # A new key whenever the list changes, so row positions never point at the wrong run.
    table_key = "runs_table_" + hashlib.sha1(",".join(ids).encode()).hexdigest()[:10]
    best = best_run(runs)
    rows = run_table_rows(runs, active_ids, handwriting_scores(runs))
    for row in rows:
        row["best"] = "★" if best is not None and row["id"] == best.id else ""
    table = pd.DataFrame(rows)
    if best is not None:
        best_row = st.container(horizontal=True, vertical_alignment="center", key="best_run_row")
        best_row.markdown(
            f"★ **Best run**: {escape_markdown(best.label)} — {100 * best.best_accuracy:.2f}% best test accuracy "
            f"({best.state.value}, {best.epochs_done} epoch{'s' if best.epochs_done != 1 else ''}).",
            width="content",
        )
        with best_row:
            use_these_settings_link(best.config)
    event = st.dataframe(
        table,
        key=table_key,
        on_select="rerun",
        selection_mode="multi-row",
        selection_default={"selection": {"rows": [ids.index(i) for i in remembered]}},
        hide_index=True,
        column_order=["best", *table_columns(rows)],  # the node column only for several nodes
        column_config=RUNS_TABLE_COLUMNS,
        placeholder=MISSING,  # an empty cell; the column's help says why it can be empty
    )
    st.session_state["compare_ids"] = [ids[row] for row in event.selection.rows if row < len(ids)]
    st.caption("Tick rows to compare them; click a column header to sort.")

broken = unreadable_rows(entries)
if broken:
    st.warning(f"{len(broken)} folder(s) in the runs directory could not be read as runs:")
    st.dataframe(pd.DataFrame(broken), hide_index=True, key="unreadable_table")

selected = [runs_by_id[i] for i in st.session_state["compare_ids"] if i in runs_by_id]
focus_default = selected[0].id if selected else (runs[0].id if runs else None)

compare, evaluate, epochs_tab, manage, sweep = st.tabs(
    ["Compare", "Evaluate", "Epochs & doctor", "Manage", "Sweep"], key="runs_tab", on_change="rerun"
)
# Only the open tab runs: each is its own function, in its own module.
if compare.open:
    with compare:
        compare_tab(store, runs, selected)
if evaluate.open:
    with evaluate:
        evaluate_tab(runs, focus_default)
if epochs_tab.open:
    with epochs_tab:
        lineage_tab(store, runs, focus_default)
if manage.open:
    with manage:
        manage_tab(store, runs, focus_default, active_ids)
if sweep.open:
    with sweep:
        sweep_tab(runs)
