"""Overview: what this app is, the model, the data, the current job and the latest run."""

from __future__ import annotations

import streamlit as st

from pages._common import get_run_store, get_worker, state_badge
from resnet_mnist import Net, RunState
from resnet_mnist.core.data import dataset_status, resolve_data_root
from resnet_mnist.core.model import count_parameters
from resnet_mnist.runs.comparison import INTERRUPTED, display_state
from resnet_mnist.runs.ranking import best_run
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.ui.formatting import MISSING, format_duration, hyperparams_label, layer_rows
from resnet_mnist.ui.plain_text import escape_markdown

worker = get_worker()
store = get_run_store()
snapshot = worker.snapshot()


def run_card(run: RunInfo, *, active_run_id: str | None) -> None:
    """A run's accuracy, epochs and duration as tiles, and a line naming it, its state and its settings."""
    tiles = st.container(horizontal=True)
    tiles.metric("Test accuracy", f"{100 * run.final_accuracy:.2f}%" if run.final_accuracy is not None else MISSING)
    tiles.metric("Epochs", f"{run.epochs_done} / {run.config.epochs}")
    tiles.metric("Took", format_duration(run.duration_seconds))
    state = display_state(run, active_run_id)  # the Runs table's rule
    if state == INTERRUPTED:
        state = "interrupted (the process writing it stopped during it)"
    elif run.state is RunState.FAILED and run.reason:
        state = f"failed: {run.reason}"
    st.caption(
        f"{escape_markdown(run.label)} · {escape_markdown(state)} · {escape_markdown(hyperparams_label(run.config))} · "
        f"on {escape_markdown(run.device)}"
    )


st.title("ResNet MNIST Studio")
st.markdown(
    "Train the seed's small residual network on MNIST, watch it learn live, tune its hyperparameters "
    "in the browser, and test it by drawing digits."
)

links = st.columns(3)
links[0].page_link("pages/train.py", label="Train a model", icon=":material/model_training:")
links[1].page_link("pages/draw.py", label="Draw a digit", icon=":material/draw:")
links[2].page_link("pages/runs.py", label="Compare runs", icon=":material/analytics:")

job, data_col = st.columns(2, gap="large")
with job:
    st.subheader("Training job")
    st.markdown(state_badge(snapshot))
    if snapshot.busy and snapshot.config:
        st.progress(snapshot.run_progress, text=f"Epoch {snapshot.epoch or MISSING} of {snapshot.config.epochs}")
        st.caption(f"{hyperparams_label(snapshot.config, lr=snapshot.lr, momentum=snapshot.momentum)}")
    elif snapshot.state == RunState.IDLE:
        st.caption("No job since the server started.")
    elif snapshot.state == RunState.FAILED:
        st.caption(f"The last job failed: {escape_markdown(snapshot.reason)}")
    elif snapshot.epochs:
        st.caption(
            f"The last job ended at {100 * snapshot.epochs[-1].test_accuracy:.2f}% test accuracy "
            f"after {len(snapshot.epochs)} epochs."
        )

    runs = store.runs()
    if runs:
        latest_col, best_col = st.columns(2, gap="medium")
        with latest_col:
            st.subheader("Latest run")
            run_card(runs[0], active_run_id=snapshot.run_id)
        with best_col:
            st.subheader("★ Best run")
            best = best_run(runs)
            if best is None:
                st.caption("No finished or stopped run with a test accuracy yet.")
            elif best.id == runs[0].id:
                st.caption("The latest run is also the best.")
            else:
                run_card(best, active_run_id=snapshot.run_id)
        if store.latest_usable() is None:
            st.caption("No finished or stopped run with a checkpoint yet: the Draw page needs one.")
    else:
        st.subheader("Latest run")
        st.caption(f"No runs in {escape_markdown(store.root)} yet. Start one on the Train page.")

with data_col:
    st.subheader("Data")
    data = dataset_status(resolve_data_root())
    if data.found:
        st.success(
            f"MNIST {escape_markdown(data.message)}: {data.train_size:,} training and {data.test_size:,} test images.",
            icon=":material/check_circle:",
        )
    else:
        st.warning(f"MNIST {escape_markdown(data.message)}", icon=":material/warning:")

# The whole width: in the right-hand column the layer table was cut off at 1,280 px (its type column is long).
st.subheader("The model")
model = Net()
st.markdown(
    f"The seed's `Net`: two convolutions, each followed by a residual block, and one linear layer — "
    f"**{count_parameters(model):,} parameters**."
)
st.container(key="model_layers").dataframe(
    layer_rows(model),
    hide_index=True,
    width="content",
    column_config={"parameters": st.column_config.NumberColumn(format="localized")},
)
st.caption("Output shapes for one 28 × 28 image; max-pooling halves the size after each convolution.")
