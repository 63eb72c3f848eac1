"""The Runs page's Compare tab: the ticked runs' curves overlaid, and every run's settings against accuracy."""

from __future__ import annotations

import streamlit as st

from resnet_mnist import RunStore
from resnet_mnist.runs.comparison import load_curves
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.sweeps.spec import SWEPT_FIELDS
from resnet_mnist.ui.figures import curves_figure, hparams_figure


def compare_tab(store: RunStore, runs: list[RunInfo], selected: list[RunInfo]) -> None:
    if not selected:
        st.info("Select runs in the table above to overlay their curves.")
    else:
        curves = load_curves(store, selected)
        st.plotly_chart(curves_figure(curves, "test_accuracy"), key="chart_accuracy")
        st.plotly_chart(curves_figure(curves, "test_loss"), key="chart_test_loss")
        smoothing = st.slider(
            "Training-loss smoothing", 0.0, 0.99, 0.6, 0.01, key="smoothing", help="EMA weight, as TensorBoard"
        )
        st.plotly_chart(curves_figure(curves, "train_loss", smoothing=smoothing), key="chart_train_loss")
    if runs:
        st.subheader(f"Hyperparameters vs final accuracy ({len(runs)} runs)")
        kind = st.radio(
            "View", ["parallel", "scatter"], horizontal=True, key="hparams_kind", label_visibility="collapsed"
        )
        x_field = "lr"
        if kind == "scatter":
            x_field = st.selectbox("x axis", SWEPT_FIELDS, key="hparams_x")
        st.plotly_chart(hparams_figure(runs, kind=kind, x_field=x_field), key="chart_hparams")
