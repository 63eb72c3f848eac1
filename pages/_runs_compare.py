"""The Runs page's Compare tab: the ticked runs' curves overlaid (seed groups as bands), a verdict on two of
them, and every run's settings against accuracy."""

from __future__ import annotations

import streamlit as st

from pages._runs_verdict import verdict_panel
from resnet_mnist import RunStore
from resnet_mnist.runs.comparison import epoch_band, load_curves
from resnet_mnist.runs.groups import Side, sides_of
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.sweeps.spec import SWEPT_FIELDS
from resnet_mnist.ui.figures import bands_figure, curves_figure, hparams_figure


def compare_tab(store: RunStore, runs: list[RunInfo], selected: list[RunInfo]) -> None:
    ticked = sides_of(selected, runs)
    if not selected:
        st.info("Select runs in the table above to overlay their curves.")
    else:
        _curves(store, ticked)
    if len(ticked) >= 2:  # judge what is compared above
        verdict_panel(ticked)
    elif any(r.group for r in runs):  # or pick among every group and run
        verdict_panel(sides_of([*selected, *runs], runs))
    if runs:  # every run's settings against its accuracy (nothing to draw before the first run)
        _hparams(runs)


def _hparams(runs: list[RunInfo]) -> None:
    st.subheader(f"Hyperparameters vs final accuracy ({len(runs)} runs)")
    kind = st.radio("View", ["parallel", "scatter"], horizontal=True, key="hparams_kind", label_visibility="collapsed")
    x_field = "lr"
    if kind == "scatter":
        x_field = st.selectbox("x axis", SWEPT_FIELDS, key="hparams_x")
    st.plotly_chart(hparams_figure(runs, kind=kind, x_field=x_field), key="chart_hparams")


def _curves(store: RunStore, sides: list[Side]) -> None:
    """Test accuracy and loss per epoch (a group: its mean over a min–max band), then the training loss."""
    curves = load_curves(store, [run for side in sides for run in side.runs])
    by_id = {c.run_id: c for c in curves}
    groups = [s for s in sides if s.group]
    if groups:
        single = [by_id[s.runs[0].id] for s in sides if not s.group]
        for metric, key in (("test_accuracy", "chart_accuracy"), ("test_loss", "chart_test_loss")):
            bands = [epoch_band(s.label, [by_id[r.id] for r in s.runs], metric) for s in groups]
            st.plotly_chart(bands_figure(bands, single, metric), key=key)
    else:
        st.plotly_chart(curves_figure(curves, "test_accuracy"), key="chart_accuracy")
        st.plotly_chart(curves_figure(curves, "test_loss"), key="chart_test_loss")
    smoothing = st.slider(
        "Training-loss smoothing", 0.0, 0.99, 0.6, 0.01, key="smoothing", help="EMA weight, as TensorBoard"
    )
    st.plotly_chart(curves_figure(curves, "train_loss", smoothing=smoothing), key="chart_train_loss")
