"""Overview: what this app is, the model, the data, the current job and the latest run."""

from __future__ import annotations

import streamlit as st

from pages._common import get_run_store, get_worker, state_badge
from resnet_mnist import Net, RunState
from resnet_mnist.data import dataset_status, resolve_data_root
from resnet_mnist.formatting import format_duration, hyperparams_label, layer_rows
from resnet_mnist.model import count_parameters

worker = get_worker()
store = get_run_store()
snapshot = worker.snapshot()

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
        st.progress(snapshot.run_progress, text=f"Epoch {snapshot.epoch or '–'} of {snapshot.config.epochs}")
        st.caption(f"{hyperparams_label(snapshot.config, lr=snapshot.lr, momentum=snapshot.momentum)}")
    elif snapshot.state == RunState.IDLE:
        st.caption("No job since the server started.")
    elif snapshot.state == RunState.FAILED:
        st.caption(f"The last job failed: {snapshot.reason}")
    elif snapshot.epochs:
        st.caption(
            f"The last job ended at {100 * snapshot.epochs[-1].test_accuracy:.2f}% test accuracy "
            f"after {len(snapshot.epochs)} epochs."
        )

    st.subheader("Latest run")
    runs = store.runs()
    if runs:
        latest = runs[0]
        accuracy = f"{100 * latest.final_accuracy:.2f}%" if latest.final_accuracy is not None else "–"
        a, b, c = st.columns(3)
        a.metric("Test accuracy", accuracy)
        b.metric("Epochs", f"{latest.epochs_done} / {latest.config.epochs}")
        c.metric("Took", format_duration(latest.duration_seconds))
        state = latest.state.value
        if latest.state in (RunState.RUNNING, RunState.PAUSED) and latest.id != snapshot.run_id:
            state = "interrupted (the server stopped during it)"
        st.caption(f"`{latest.label}` · {state} · {hyperparams_label(latest.config)} · on {latest.device}")
        usable = store.latest_usable()
        if usable is None:
            st.caption("No finished or stopped run with a checkpoint yet: the Draw page needs one.")
    else:
        st.caption(f"No runs in `{store.root}` yet. Start one on the Train page.")

with data_col:
    st.subheader("Data")
    data = dataset_status(resolve_data_root())
    if data.found:
        st.success(
            f"MNIST {data.message}: {data.train_size:,} training and {data.test_size:,} test images.",
            icon=":material/check_circle:",
        )
    else:
        st.warning(f"MNIST {data.message}", icon=":material/warning:")

    st.subheader("The model")
    model = Net()
    st.markdown(
        f"The seed's `Net`: two convolutions, each followed by a residual block, and one linear layer — "
        f"**{count_parameters(model):,} parameters**."
    )
    st.dataframe(
        layer_rows(model),
        hide_index=True,
        column_config={"parameters": st.column_config.NumberColumn(format="localized")},
    )
    st.caption("Output shapes for one 28 × 28 image; max-pooling halves the size after each convolution.")
