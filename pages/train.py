"""Train: pick hyperparameters and a device, start a run, and watch it learn live."""

from __future__ import annotations

import math

import streamlit as st

from pages._common import get_worker, state_badge
from resnet_mnist import (
    ConfigError,
    RunState,
    TrainConfig,
    WorkerBusyError,
    WorkerSnapshot,
    available_devices,
    dataset_status,
)
from resnet_mnist.charts import accuracy_figure, loss_figure, metrics_from_events
from resnet_mnist.data import resolve_data_root
from resnet_mnist.engine import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
from resnet_mnist.formatting import format_count, format_duration, format_lr, hyperparams_label

SEED = TrainConfig()  # the seed's recipe: 10 epochs, lr 0.01, momentum 0.5, batch 64, test batch 1000, seed 1
LR_CHOICES = [m * 10.0**e for e in range(-4, 0) for m in (1, 2, 5)] + [1.0]  # 1e-4 … 1, log-spaced 1-2-5
BATCH_CHOICES = [8, 16, 32, 64, 128, 256, 512, 1024, 2048]
FIELD_LABELS = {
    "epochs": "Epochs",
    "lr": "Learning rate",
    "momentum": "Momentum",
    "batch_size": "Batch size",
    "test_batch_size": "Test batch size",
    "seed": "Seed",
    "log_interval": "Log interval",
    "train_limit": "Training images",
    "test_limit": "Test images",
    "device": "Device",
    "channels_last": "Channels-last",
}

devices = available_devices()
usable_devices = [d.name for d in devices if d.available]
device_labels = {d.name: d.label for d in devices}
# The fastest device that exists: an accelerator when there is one.
default_device = next((name for name in usable_devices if name != "cpu"), "cpu")

WIDGET_DEFAULTS = {
    "train_epochs": SEED.epochs,
    "train_lr": SEED.lr,
    "train_lr_scale": SEED.lr,
    "train_momentum": SEED.momentum,
    "train_batch_size": SEED.batch_size,
    "train_seed": SEED.seed,
    "train_test_batch_size": SEED.test_batch_size,
    "train_train_limit": None,
    "train_test_limit": None,
    "train_log_interval": SEED.log_interval,
    "train_channels_last": SEED.channels_last,
    "train_device": default_device,
}
for key, value in WIDGET_DEFAULTS.items():
    st.session_state.setdefault(key, value)
if st.session_state.train_device not in usable_devices:
    st.session_state.train_device = default_device


def reset_to_seed_defaults() -> None:
    for key, value in WIDGET_DEFAULTS.items():
        st.session_state[key] = value


def lr_scale_moved() -> None:
    st.session_state.train_lr = st.session_state.train_lr_scale


def lr_typed() -> None:
    # Keep the log-scale slider near a typed value; invalid values are left for validation to name.
    lr = st.session_state.train_lr
    if lr is not None and math.isfinite(lr) and lr > 0:
        st.session_state.train_lr_scale = min(LR_CHOICES, key=lambda c: abs(math.log10(c) - math.log10(lr)))


def config_from_widgets() -> TrainConfig:
    s = st.session_state
    return TrainConfig(
        epochs=s.train_epochs,
        lr=s.train_lr,
        momentum=s.train_momentum,
        batch_size=s.train_batch_size,
        test_batch_size=s.train_test_batch_size,
        seed=s.train_seed,
        device=s.train_device,
        log_interval=s.train_log_interval,
        train_limit=s.train_train_limit,
        test_limit=s.train_test_limit,
        channels_last=s.train_channels_last,
    )


worker = get_worker()
st.title("Train")
st.caption(
    "Tune the seed's hyperparameters, press **Start**, and watch the network learn. "
    "The job runs on the server: reload the page or open a second tab and it is still there."
)


def show_problems(problems: list) -> None:
    for problem in problems:
        st.error(f"**{FIELD_LABELS.get(problem.field, problem.field)}**: {problem.message}")


busy_at_start = worker.snapshot().busy

with st.sidebar:
    st.header("Hyperparameters")
    st.slider("Epochs", 1, 100, key="train_epochs", persist_state="session")
    st.select_slider(
        "Learning rate (log scale)",
        options=LR_CHOICES,
        format_func=format_lr,
        key="train_lr_scale",
        on_change=lr_scale_moved,
        persist_state="session",
        help="People think of 0.001, 0.01, 0.1: the slider moves in those steps. Type an exact value below.",
    )
    st.number_input(
        "Learning rate",
        format="%g",
        step=0.001,
        key="train_lr",
        on_change=lr_typed,
        persist_state="session",
        help="SGD step size; must be greater than 0. The seed uses 0.01.",
    )
    st.slider(
        "Momentum",
        0.0,
        0.99,
        step=0.01,
        key="train_momentum",
        persist_state="session",
        help="SGD momentum in [0, 1); the seed uses 0.5.",
    )
    if busy_at_start:
        apply_clicked = st.button(
            "Apply lr & momentum to the running job",
            key="train_apply",
            icon=":material/tune:",
            width="stretch",
            help="The running job uses them from its next batch; the change is marked on the charts.",
        )
        if apply_clicked:
            try:
                worker.set_hyperparams(lr=st.session_state.train_lr, momentum=st.session_state.train_momentum)
            except ConfigError as exc:
                show_problems(exc.problems)
            else:
                st.toast(
                    f"lr {format_lr(st.session_state.train_lr)}, momentum {st.session_state.train_momentum:g} "
                    "from the next batch",
                    icon=":material/tune:",
                )
    st.select_slider("Batch size", options=BATCH_CHOICES, key="train_batch_size", persist_state="session")
    st.number_input("Seed", step=1, key="train_seed", persist_state="session", help="Same seed, same run.")
    with st.expander("Advanced"):
        st.number_input("Test batch size", step=100, key="train_test_batch_size", persist_state="session")
        st.number_input(
            "Training images",
            value=None,
            step=1000,
            placeholder=f"all {MNIST_TRAIN_SIZE:,}",
            key="train_train_limit",
            persist_state="session",
            help="Train on the first N images only, for a quick run. Empty: all of them.",
        )
        st.number_input(
            "Test images",
            value=None,
            step=500,
            placeholder=f"all {MNIST_TEST_SIZE:,}",
            key="train_test_limit",
            persist_state="session",
            help="Test on the first N images only. Empty: all of them.",
        )
        st.number_input(
            "Log interval (batches)",
            step=1,
            key="train_log_interval",
            persist_state="session",
            help="A point on the loss chart every N batches.",
        )
        st.checkbox(
            "Channels-last memory format",
            key="train_channels_last",
            persist_state="session",
            help="Faster convolutions on most hardware; the results are the same.",
        )

    st.header("Device")
    st.radio(
        "Device",
        usable_devices,
        format_func=lambda name: device_labels[name],
        key="train_device",
        persist_state="session",
        label_visibility="collapsed",
    )
    for option in devices:
        if not option.available:
            st.caption(f":gray[~~{option.label}~~ — unavailable: {option.reason}]")

    st.header("Data")
    data = dataset_status(resolve_data_root())
    if data.found:
        st.caption(
            f":material/check_circle: MNIST {data.message}: "
            f"{data.train_size:,} training / {data.test_size:,} test images"
        )
    else:
        st.warning(f"MNIST {data.message}", icon=":material/warning:")

start_col, reset_col, note_col = st.columns([1, 1.3, 4], vertical_alignment="center")
start_clicked = start_col.button(
    "Start", key="train_start", type="primary", icon=":material/play_arrow:", width="stretch"
)
reset_col.button("Reset to seed defaults", key="train_reset", on_click=reset_to_seed_defaults, width="stretch")
if busy_at_start:
    note_col.caption("Settings other than lr and momentum apply to the next run.")
else:
    note_col.caption(hyperparams_label(config_from_widgets()) + f" · {device_labels[st.session_state.train_device]}")

if start_clicked:
    config = config_from_widgets()
    problems = config.problems(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE)
    if problems:
        st.error("Not started: fix these settings first.", icon=":material/block:")
        show_problems(problems)
    else:
        try:
            worker.start(config)
        except WorkerBusyError as exc:
            st.warning(str(exc), icon=":material/hourglass_top:")
        except ConfigError as exc:
            show_problems(exc.problems)
        else:
            st.rerun()  # redraw with the job running: the live view starts polling, Apply appears

snapshot = worker.snapshot()
if (
    snapshot.state == RunState.FINISHED
    and snapshot.run_id
    and st.session_state.get("train_announced") != snapshot.run_id
):
    # A run that finished while this page watched becomes the Draw page's model.
    st.session_state.train_announced = snapshot.run_id
    st.session_state.draw_run_id = snapshot.run_id


def status_line(snap: WorkerSnapshot) -> None:
    job = f" · job {snap.job_index} of {snap.job_count}" if snap.job_count > 1 else ""
    run = f" · run `{snap.run_id}`" if snap.run_id else ""
    st.markdown(f"{state_badge(snap)}{job}{run}")
    if snap.loading:
        st.info("Loading MNIST into memory… the first run after a server start reads the files (a few seconds).")
    elif snap.state == RunState.RUNNING and worker.pause_requested:
        st.info("Pausing at the next batch…")
    elif snap.state == RunState.RUNNING and snap.evaluating:
        st.info(f"Testing after epoch {snap.epoch}…")
    elif snap.state == RunState.PAUSED:
        st.info(f"Paused in epoch {snap.epoch} after batch {snap.batch}. Resume to go on from there.")
    elif snap.state == RunState.IDLE:
        st.info("No job yet: set the hyperparameters and press **Start**.")


def outcome(snap: WorkerSnapshot) -> None:
    final = snap.epochs[-1] if snap.epochs else None
    where = f" Saved to `{snap.run_dir}`." if snap.run_dir else ""
    if snap.state == RunState.FINISHED and final is not None:
        st.success(
            f"Finished: **{100 * final.test_accuracy:.2f}%** test accuracy after {final.epoch} "
            f"epoch{'s' if final.epoch != 1 else ''} "
            f"({format_duration(snap.elapsed_seconds)}).{where} It is now the model on the Draw page.",
            icon=":material/check_circle:",
        )
        st.page_link("pages/draw.py", label="Draw a digit for it", icon=":material/draw:")
    elif snap.state == RunState.STOPPED:
        done = f" after {len(snap.epochs)} full epochs" if snap.epochs else " before the first epoch ended"
        st.warning(
            f"Stopped ({snap.reason or 'by the user'}){done}; the weights learned so far are kept.{where}",
            icon=":material/stop_circle:",
        )
    elif snap.state == RunState.FAILED:
        st.error(f"Failed: {snap.reason}", icon=":material/error:")


refresh = 1.0 if snapshot.busy else None


@st.fragment(run_every=refresh)
def live_view() -> None:
    snap = worker.snapshot()
    if refresh and not snap.busy:
        st.rerun()  # the job just ended: redraw the whole page once, and stop polling
    status_line(snap)

    pause_col, stop_col, _ = st.columns([1, 1, 3])
    if worker.pause_requested or snap.state == RunState.PAUSED:
        if pause_col.button(
            "Resume", key="train_resume", icon=":material/play_arrow:", disabled=not snap.busy, width="stretch"
        ):
            worker.resume()
            st.rerun(scope="fragment")
    elif pause_col.button("Pause", key="train_pause", icon=":material/pause:", disabled=not snap.busy, width="stretch"):
        worker.pause()
        st.rerun(scope="fragment")
    if stop_col.button("Stop", key="train_stop", icon=":material/stop:", disabled=not snap.busy, width="stretch"):
        worker.stop(timeout=5.0)
        st.rerun()

    config = snap.config
    epochs_planned = config.epochs if config else None
    if snap.epoch:
        st.progress(
            snap.epoch_progress,
            text=f"Epoch {snap.epoch} of {epochs_planned}: batch {snap.batch:,} of {snap.batches_per_epoch:,}",
        )
    else:
        st.progress(0.0, text="Epoch –")
    eta = snap.eta_seconds
    st.progress(
        snap.run_progress,
        text=f"Run: {100 * snap.run_progress:.0f}%" + (f" · about {format_duration(eta)} left" if eta else ""),
    )

    last_batch = snap.batches[-1] if snap.batches else None
    last_epoch = snap.epochs[-1] if snap.epochs else None
    before = snap.epochs[-2] if len(snap.epochs) > 1 else None
    m1, m2, m3, m4, m5 = st.columns(5)
    m1.metric("Images / s", format_count(snap.images_per_second) if snap.busy else "–")
    m2.metric("Elapsed", format_duration(snap.elapsed_seconds, compact=True))
    m3.metric("ETA", format_duration(eta, compact=True) if snap.busy else "–")
    m4.metric("Training loss", f"{last_batch.loss:.4f}" if last_batch else "–")
    m5.metric(
        "Test accuracy",
        f"{100 * last_epoch.test_accuracy:.2f}%" if last_epoch else "–",
        delta=f"{100 * (last_epoch.test_accuracy - before.test_accuracy):+.2f} pts" if before and last_epoch else None,
    )

    metrics = metrics_from_events(snap.batches, snap.epochs, snap.hparam_changes)
    subtitle = hyperparams_label(config, lr=snap.lr, momentum=snap.momentum) if config else ""
    revision = snap.run_id or "no-run"
    loss_col, accuracy_col = st.columns(2)
    with loss_col:
        st.plotly_chart(
            loss_figure(
                metrics["batches"],
                metrics["epochs"],
                metrics["hparam_changes"],
                title="Loss",
                subtitle=subtitle,
                epochs_planned=epochs_planned,
                log_y=st.session_state.get("train_log_loss", False),
                uirevision=revision,
                empty_text="Loading data…" if snap.loading else "No batches logged yet",
            ),
            key="train_loss_chart",
            config={"displaylogo": False},
        )
        st.checkbox("Log-scale loss axis", key="train_log_loss")
    with accuracy_col:
        st.plotly_chart(
            accuracy_figure(
                metrics["epochs"],
                metrics["hparam_changes"],
                batches_per_epoch=snap.batches_per_epoch or None,
                before=metrics["batches"][0] if metrics["batches"] else None,
                title="Test accuracy",
                subtitle=subtitle,
                epochs_planned=epochs_planned,
                uirevision=revision,
            ),
            key="train_accuracy_chart",
            config={"displaylogo": False},
        )
    outcome(snap)


live_view()
