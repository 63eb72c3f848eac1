"""The Runs page's Epochs tab: the doctor's verdict on a run, any of its epochs for Draw, Evaluate or a
branch, and its curves (a branch's drawn on one chart with its parent's up to the branch point)."""

from __future__ import annotations

import streamlit as st

from pages._branch_link import branch_link
from pages._common import run_choice
from resnet_mnist import RunStore
from resnet_mnist.runs.doctor import diagnose
from resnet_mnist.runs.store import RunInfo, RunNotFoundError
from resnet_mnist.ui.figures import accuracy_figure, loss_figure
from resnet_mnist.ui.figures.lineage import ParentCurves, parent_curves
from resnet_mnist.ui.plain_text import escape_markdown, escape_plotly

_VERDICT_BOXES = {"healthy": st.success, "diverged": st.error, "stalled": st.warning, "overfitting": st.warning}
_VERDICT_ICONS = {
    "healthy": ":material/favorite:",
    "diverged": ":material/trending_up:",
    "stalled": ":material/trending_flat:",
    "overfitting": ":material/call_split:",
}


def parent_of(store: RunStore, run: RunInfo) -> ParentCurves | None:
    """A branch's parent's curves up to the branch point; None for a run that is no branch (or lost its parent)."""
    branched = run.branched_from
    if branched is None:
        return None
    parent_id, epoch = branched
    try:
        parent = store.get(parent_id)
    except (RunNotFoundError, ValueError):
        return None
    return parent_curves(parent.label, epoch, store.metrics(parent.id))


def doctor_verdict(store: RunStore, run: RunInfo) -> None:
    """The doctor's diagnosis of `run` in one box, and its remedy as a branch link (runs/doctor.py)."""
    verdict = diagnose(run, store.run_metrics(run.id))
    if verdict is None:
        st.caption("The doctor has nothing to say yet: the run is still training, or it ended before any epoch.")
        return
    box = _VERDICT_BOXES[verdict.diagnosis]
    box(f"**Doctor: {verdict.diagnosis}.** {escape_markdown(verdict.evidence)}", icon=_VERDICT_ICONS[verdict.diagnosis])
    remedy = verdict.remedy
    if remedy is None:
        return
    if remedy.from_epoch and remedy.from_epoch not in run.saved_epochs:
        st.caption(f"Remedy: {remedy.text}; but this run kept no checkpoint for epoch {remedy.from_epoch}.")
        return
    branch_link(run, remedy.from_epoch, label=f"Remedy: {remedy.text}", changes=remedy.changes)


def lineage_tab(store: RunStore, runs: list[RunInfo], focus: str | None) -> None:
    run = run_choice("Run", "lineage_run", runs, focus)
    if run is None:
        st.info("No runs yet.")
        return
    doctor_verdict(store, run)
    epochs = run.saved_epochs
    if epochs:
        accuracy = {e["epoch"]: e["test_accuracy"] for e in store.metrics(run.id)["epochs"]}
        row = st.container(horizontal=True, vertical_alignment="bottom", key="lineage_epoch_row")
        epoch = row.selectbox(
            "Epoch",
            epochs,
            index=len(epochs) - 1,
            key=f"lineage_epoch_{run.id}",
            format_func=lambda e: f"epoch {e}" + (f" · {100 * accuracy[e]:.2f}%" if e in accuracy else ""),
            help="Every epoch's weights and momentum are kept: draw with one, test it, or branch from it.",
        )
        if row.button("Use this epoch in Draw", key="lineage_draw"):
            st.session_state["draw_run_id"], st.session_state["draw_epoch"] = run.id, epoch
            st.toast(f"The Draw page uses epoch {epoch} of {escape_markdown(run.label)}.")
        if row.button("Evaluate this epoch", key="lineage_evaluate"):
            st.session_state["eval_epoch_wanted"] = (run.id, epoch)
            st.toast("Open the Evaluate tab: this epoch is chosen there.")
        with row:
            branch_link(run, epoch)
    else:
        st.caption("This run kept no per-epoch checkpoints (recorded before they were kept, or no epoch ended).")
    _curves(store, run)


def _curves(store: RunStore, run: RunInfo) -> None:
    """The run's loss and accuracy; a branch's with its parent's up to the branch point."""
    metrics = store.metrics(run.id)
    parent = parent_of(store, run)
    if parent is not None:
        st.caption(f"A branch of run {escape_markdown(parent.label)} from its epoch {parent.epoch}: drawn with it.")
    branched = f" · branched from {escape_plotly(parent.label)} at epoch {parent.epoch}" if parent else ""
    subtitle = f"run {escape_plotly(run.label)}{branched}"
    common = {"subtitle": subtitle, "epochs_planned": run.config.epochs, "uirevision": run.id, "parent": parent}
    left, right = st.columns(2)
    left.plotly_chart(
        loss_figure(metrics["batches"], metrics["epochs"], metrics["hparam_changes"], **common),
        key="lineage_loss_chart",
    )
    right.plotly_chart(
        accuracy_figure(metrics["epochs"], metrics["hparam_changes"], **common), key="lineage_accuracy_chart"
    )
