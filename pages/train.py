"""Train: pick hyperparameters and a device, start a run, and watch it learn live."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from pages import _lr_find as lr_find
from pages import _settings_form as form
from pages import _settings_link as link
from pages._branch_link import branch_banner, branch_link, start_branch, wanted_branch
from pages._common import get_core_claim, get_run_store, get_worker, state_badge
from pages._runs_lineage import doctor_verdict, parent_of
from resnet_mnist import ConfigError, RunState, RunStore
from resnet_mnist.core.compute_plan import plan_compute
from resnet_mnist.core.config import SETTINGS
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE, dataset_status, resolve_data_root
from resnet_mnist.core.devices import available_devices
from resnet_mnist.core.lr_find import LrFindResult, LrFindSettings
from resnet_mnist.handwriting.teach import TeachReport
from resnet_mnist.jobs.worker import WorkerBusyError, WorkerIdleError, WorkerSnapshot
from resnet_mnist.runs.pace import Pace, measured_pace
from resnet_mnist.runs.store import RunInfo, RunNotFoundError
from resnet_mnist.ui import widget_echo
from resnet_mnist.ui.figures import accuracy_figure, loss_figure, metrics_from_events, palette, thin_batches
from resnet_mnist.ui.figures.lineage import ParentCurves
from resnet_mnist.ui.formatting import MISSING, format_duration, format_lr
from resnet_mnist.ui.job_status import (
    chart_subtitle,
    epoch_progress_text,
    failure_summary,
    pace_text,
    run_progress_text,
    status_message,
    time_left_text,
)
from resnet_mnist.ui.plain_text import escape_markdown
from resnet_mnist.ui.setting_notes import SettingNote, Severity, notes_by_field, setting_notes

BUTTON_WIDTH = 112  # px: Pause and Resume take the same room, so Stop never moves
STATUS_HEIGHT = 80  # px: the badge line and a status of up to two lines, whatever they say
SETTINGS_LINE_HEIGHT = 48  # px: two lines of the settings caption under Start
METRIC_WIDTH = 140  # px: room for "10,000" or "99.12%" with its delta

devices = available_devices()
usable_devices = [d.name for d in devices if d.available]
device_labels = {d.name: d.label for d in devices}
default_device = link.default_device()

WIDGET_DEFAULTS = form.widget_defaults(default_device)
for key, value in WIDGET_DEFAULTS.items():
    st.session_state.setdefault(key, value)
if st.session_state.train_device not in usable_devices:
    st.session_state.train_device = default_device
link.read_url(usable_devices, default_device)  # a reload, bookmark or shared link brings its settings
form.settle_pushed_values()  # after every push of this run, before the widgets


@st.cache_data(ttl=30, show_spinner=False)
def machine_pace(runs_root: str, device: str) -> Pace | None:
    """This machine's training pace on `device`, from its newest run there (re-read twice a minute)."""
    return measured_pace(RunStore(Path(runs_root)), device)


def settings_notes() -> dict[str, list[SettingNote]]:
    """What to say under each setting now: errors, else warnings; and what a link could not set."""
    config = form.config_from_widgets()
    pace = machine_pace(str(get_run_store().root), str(config.device))
    notes = setting_notes(config, pace, train_size=MNIST_TRAIN_SIZE, test_size=MNIST_TEST_SIZE)
    from_link = [
        SettingNote(name, Severity.WARNING, f"Not taken from the link: {why}.")
        for name, why in link.take_left_out().items()
    ]
    return notes_by_field([*notes, *from_link])


def show_notes(notes: list[SettingNote]) -> None:
    """A setting's notes, right under its widget, in a slot that is there even when empty: a note that
    comes or goes must not shift what follows (the Advanced section would close as it moves)."""
    slot = st.container()
    for note in notes:
        if note.severity is Severity.ERROR:
            slot.error(note.text, icon=":material/error:")
        else:
            slot.warning(note.text, icon=":material/warning:")


def reset_to_seed_defaults() -> None:
    for key, value in WIDGET_DEFAULTS.items():
        widget_echo.push(st.session_state, key, value)  # a lagging browser's old values are not taken back


def lr_find_settings() -> LrFindSettings:
    """The range test for what the form would train: its momentum, batch size and seed."""
    config = form.config_from_widgets()
    return LrFindSettings(momentum=config.momentum, batch_size=config.batch_size, seed=config.seed)


def lr_find_images() -> int:
    """The form's training images, at most the range test's own 6,000."""
    limit = st.session_state.get(form.key("train_limit"))
    return min(limit, lr_find.IMAGES) if isinstance(limit, int) and limit > 0 else lr_find.IMAGES


def use_suggested_lr(result: LrFindResult) -> None:
    """The "use it" button's callback: the suggestion into the lr box, before the widgets are drawn."""
    form.set_value("lr", lr_find.rounded(result.suggested_lr))


worker = get_worker()
st.title("Train")
st.caption(
    "Tune the seed's hyperparameters, press **Start**, and watch the network learn. "
    "The job runs on the server: reload the page or open a second tab and it is still there."
)


busy_at_start = worker.snapshot().busy


def apply_live_settings() -> None:
    """The Apply button: the live settings' values go to the running job from its next batch."""
    if not st.button(
        f"Apply {form.live_names()} to the running job",
        key="train_apply",
        icon=":material/tune:",
        width="stretch",
        help="The running job uses them from its next batch; the change is marked on the charts.",
    ):
        return
    values = form.live_values()
    try:
        worker.set_hyperparams(**values)
    except ConfigError as exc:
        form.show_problems(exc.problems)
    except WorkerIdleError:
        st.info("The job has ended; the values apply to the next run.")
    else:
        shown = ", ".join(f"{SETTINGS[name].short} {format_lr(value)}" for name, value in values.items())
        st.toast(f"{shown} from the next batch", icon=":material/tune:")


notes = settings_notes()
with st.sidebar:
    st.header(form.GROUP_TITLES["hyperparameters"])
    for setting in form.in_group("hyperparameters"):
        form.setting_widget(setting)
        show_notes(notes.get(setting.name, []))
        if busy_at_start and setting is form.LIVE[-1]:
            apply_live_settings()
    advanced = form.in_group("advanced")
    with st.expander(form.GROUP_TITLES["advanced"], expanded=any(s.name in notes for s in advanced)):
        for setting in advanced:
            form.setting_widget(setting)
            show_notes(notes.get(setting.name, []))
    st.header(form.GROUP_TITLES["device"])
    for setting in form.in_group("device"):
        form.setting_widget(setting, choices=usable_devices, format_func=device_labels.get)
        show_notes(notes.get(setting.name, []))
    for option in devices:
        if not option.available:
            label, reason = escape_markdown(option.label), escape_markdown(option.reason)
            st.caption(f":{palette.NOTE}[~~{label}~~ — unavailable: {reason}]")
    plan = plan_compute(form.config_from_widgets())
    if plan is not None:  # otherwise Start names what is wrong
        for line in plan.lines():
            st.caption(line)

    st.header("Data")
    data = dataset_status(resolve_data_root())
    if data.found:
        st.caption(
            f":material/check_circle: MNIST {escape_markdown(data.message)}: "
            f"{data.train_size:,} training / {data.test_size:,} test images"
        )
    else:
        st.warning(f"MNIST {escape_markdown(data.message)}", icon=":material/warning:")

invalid = {name for name, field_notes in notes.items() if any(n.severity is Severity.ERROR for n in field_notes)}
link.write_url(form.config_from_widgets(), default_device, invalid)

# Buttons as wide as their labels, in a row that wraps on a narrow screen: never cut to "S…". The line
# under them has a fixed height, so the job's controls below do not move when it changes.
start_row = st.container(horizontal=True, vertical_alignment="center", key="train_start_row")
start_clicked = start_row.button(
    "Start", key="train_start", type="primary", icon=":material/play_arrow:", width="content"
)
start_row.button("Reset to seed defaults", key="train_reset", on_click=reset_to_seed_defaults, width="content")
with start_row:
    lr_find.start_button("train", lr_find_settings(), lr_find_images())
start_note = st.container(height=SETTINGS_LINE_HEIGHT, border=False, key="train_start_note")
threads = f"{plan.threads.count} thread{'s' if plan.threads.count != 1 else ''}" if plan else ""
compute = f" · {plan.precision.name} · {threads}" if plan else ""
settings_line = f"{form.recipe(form.config_from_widgets())} · {device_labels[st.session_state.train_device]}{compute}"
if busy_at_start:
    live = form.live_names().replace("&", "and")
    start_note.caption(f"Next run: {settings_line}. Only {live} apply to the running job.")
else:
    start_note.caption(f"Start trains with {settings_line}")
    elsewhere = get_core_claim().elsewhere()  # a command-line run, or another dashboard, training here now
    if elsewhere:
        st.info(escape_markdown(elsewhere), icon=":material/hourglass_top:")

lr_find.result_panel("train", lambda r: f"Use lr {lr_find.rounded(r.suggested_lr):g} in the form", use_suggested_lr)
branch_plan = branch_banner(get_run_store(), form.config_from_widgets())  # a "Branch from epoch N" link's

if start_clicked:
    config = form.config_from_widgets()
    problems = config.problems(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE)
    if problems:
        fields = " and ".join(dict.fromkeys(problem.label for problem in problems))
        st.error(f"Not started: fix {fields} first (marked in the sidebar).", icon=":material/block:")
    elif wanted_branch() is not None:  # the branch banner says why when it cannot be made
        if branch_plan is not None and start_branch(worker, branch_plan):
            st.rerun()
    else:
        try:
            worker.start(config)
        except WorkerBusyError as exc:
            st.warning(escape_markdown(exc), icon=":material/hourglass_top:")
        except ConfigError as exc:
            form.show_problems(exc.problems)
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


def ended_run(snap: WorkerSnapshot) -> RunInfo | None:
    """The run the last job recorded, once it has ended (for its branch link and the doctor), else None."""
    if not snap.state.is_final or not snap.run_id or worker.is_alive():
        return None
    try:
        return get_run_store().get(snap.run_id)
    except (RunNotFoundError, ValueError):
        return None


def branch_parent(run_id: str | None) -> ParentCurves | None:
    """A branch's parent's curves, read once per run shown (None when the run is no branch)."""
    cached = st.session_state.get("train_parent")
    if cached is not None and cached[0] == run_id:
        return cached[1]
    store = get_run_store()
    try:
        parent = parent_of(store, store.get(run_id)) if run_id else None
    except (RunNotFoundError, ValueError):
        parent = None
    st.session_state["train_parent"] = (run_id, parent)
    return parent


def outcome(snap: WorkerSnapshot) -> None:
    final = snap.epochs[-1] if snap.epochs else None
    kept = getattr(snap.outcome, "kept_epoch", None)  # a fine-tune may keep an earlier epoch as its model
    if kept is not None:
        final = next((e for e in snap.epochs if e.epoch == kept), final)
    where = f" Saved to {escape_markdown(snap.run_dir)}." if snap.run_dir else ""
    if snap.state == RunState.FINISHED and final is not None:
        took = format_duration(snap.elapsed_seconds)
        result = (
            f"Finished {len(snap.epochs)} epochs ({took}): the model kept is epoch {kept}'s, "
            f"**{100 * final.test_accuracy:.2f}%** test accuracy."
            if kept is not None
            else f"Finished: **{100 * final.test_accuracy:.2f}%** test accuracy after {final.epoch} "
            f"epoch{'s' if final.epoch != 1 else ''} ({took})."
        )
        st.success(
            f"{result}{where} It is now the model on the Draw page.",
            icon=":material/check_circle:",
        )
        links = st.container(horizontal=True, key="train_outcome_links")
        with links:
            st.page_link("pages/draw.py", label="Draw a digit for it", icon=":material/draw:")
            link.use_these_settings_link(snap.config)
            run = ended_run(snap)
            if run is not None and final.epoch in run.saved_epochs:
                branch_link(run, final.epoch)
    elif snap.state == RunState.STOPPED:
        done = f" after {len(snap.epochs)} full epochs" if snap.epochs else " before the first epoch ended"
        st.warning(
            f"Stopped ({escape_markdown(snap.reason or 'by the user')}){done}; the weights learned so far are kept."
            f"{where}",
            icon=":material/stop_circle:",
        )
        link.use_these_settings_link(snap.config)
    elif snap.state == RunState.FAILED:
        st.error(failure_summary(snap), icon=":material/error:")
    teach_outcome(snap)
    run = ended_run(snap)
    if run is not None and run.teach is None:
        doctor_verdict(get_run_store(), run)


def teach_outcome(snap: WorkerSnapshot) -> None:
    """What teaching did: before and after on held-out handwriting and on MNIST, side by side, once measured;
    a warning when MNIST fell more than half a point (TeachReport.warning).

    Both come from the job through the worker's snapshot (its line, and the TeachReport it returned), so
    the page never re-reads run.json while it polls; run.json keeps the report for the Runs page.
    """
    if snap.about is None:  # a plain run has nothing to add
        return
    st.text(snap.about)
    report = snap.outcome
    if not isinstance(report, TeachReport):
        if snap.measuring is not None:  # part of the job: Stop and Pause stay on, the run is not finished yet
            step = snap.measuring
            st.progress(step.done / step.total, text=f"Measuring, step {step.done + 1} of {step.total}: {step.what}…")
        return
    st.subheader("Before and after: your handwriting and MNIST")
    hw_before, hw_after = report.handwriting_before, report.handwriting_after
    left, right = st.columns(2)
    if hw_before is not None and hw_after is not None:
        kfold = report.method == "kfold"
        how = "k-fold: each digit scored by a model taught without it" if kfold else "held out: never taught on"
        left.metric(  # a short label (a metric's label is one line, cut at the column's edge); the method in help
            f"{report.held_out} of your digits",
            f"{100 * hw_after:.1f}%",
            delta=f"{100 * (hw_after - hw_before):+.1f} pts from {100 * hw_before:.1f}%",
            help=f"Your digits, {how}.",
        )
    else:
        left.caption("Nothing was held out, so there is no honest after figure on your handwriting.")
    if report.mnist_after is not None:
        right.metric(
            f"MNIST, {report.mnist_total:,} images",
            f"{100 * report.mnist_after:.2f}%",
            delta=f"{100 * (report.mnist_after - report.mnist_before):+.2f} pts from {100 * report.mnist_before:.2f}%",
        )
    if report.kept_note:
        st.caption(report.kept_note)
    if report.warning:
        st.warning(report.warning, icon=":material/warning:")


refresh = 1.0 if snapshot.busy or worker.is_alive() else None  # teaching measures after its last epoch


def controls_and_status(snap: WorkerSnapshot) -> None:
    """Pause/Resume and Stop at fixed widths, then the badge and a status of fixed height.

    The buttons come first and the status cannot grow, so nothing under the pointer moves when a
    job pauses, tests after an epoch, or ends. Pause and Resume are one button (one key) whose label
    changes in place: two would briefly show side by side while the fragment reruns, pushing Stop.
    """
    row = st.container(horizontal=True, vertical_alignment="center", key="train_controls")
    resuming = worker.pause_requested or snap.state == RunState.PAUSED
    try:
        if row.button(
            "Resume" if resuming else "Pause",
            key="train_pause",
            icon=":material/play_arrow:" if resuming else ":material/pause:",
            disabled=not snap.busy,
            width=BUTTON_WIDTH,
        ):
            if resuming:
                worker.resume()
            else:
                worker.pause()
            st.rerun(scope="fragment")
    except WorkerIdleError:
        st.rerun()  # the job ended between drawing the button and the click
    if row.button("Stop", key="train_stop", icon=":material/stop:", disabled=not snap.busy, width=BUTTON_WIDTH):
        worker.stop(timeout=5.0)
        st.rerun()
    status = row.container(height=STATUS_HEIGHT, border=False, gap=None, key="train_status")
    run = f" · run `{snap.run_id}`" if snap.run_id else ""
    status.markdown(f"{state_badge(snap)}{run}")
    status.caption(status_message(snap, pause_requested=worker.pause_requested))


def progress_and_metrics(snap: WorkerSnapshot) -> None:
    """The epoch and run progress bars, and the five headline numbers as tiles that wrap, never cut."""
    st.progress(snap.epoch_progress if snap.epoch else 0.0, text=epoch_progress_text(snap))
    st.progress(snap.run_progress, text=run_progress_text(snap))
    last_batch = snap.batches[-1] if snap.batches else None
    last_epoch = snap.epochs[-1] if snap.epochs else None
    before = snap.epochs[-2] if len(snap.epochs) > 1 else None
    tiles = st.container(horizontal=True, key="train_metrics")
    tiles.metric("Images / s", pace_text(snap), width=METRIC_WIDTH)
    tiles.metric("Elapsed", format_duration(snap.elapsed_seconds, compact=True), width=METRIC_WIDTH)
    tiles.metric("ETA", time_left_text(snap), width=METRIC_WIDTH)
    tiles.metric("Training loss", f"{last_batch.loss:.4f}" if last_batch else MISSING, width=METRIC_WIDTH)
    tiles.metric(
        "Test accuracy",
        f"{100 * last_epoch.test_accuracy:.2f}%" if last_epoch else MISSING,
        delta=f"{100 * (last_epoch.test_accuracy - before.test_accuracy):+.2f} pts" if before and last_epoch else None,
        width=METRIC_WIDTH,
    )


def chart_figures(snap: WorkerSnapshot, log_y: bool) -> tuple[go.Figure, go.Figure]:
    """The loss and accuracy figures; rebuilt only when the snapshot's version (or the axis) changed."""
    key = (id(worker), snap.version, log_y)
    cached = st.session_state.get("train_figures")
    if cached is not None and cached[0] == key:
        return cached[1]
    config = snap.config
    epochs_planned = config.epochs if config else None
    metrics = metrics_from_events(thin_batches(snap.batches), snap.epochs, snap.hparam_changes)  # ≤ 2,000 points
    subtitle = chart_subtitle(snap)
    revision = snap.run_id or "no-run"
    parent = branch_parent(snap.run_id)
    loss = loss_figure(
        metrics["batches"],
        metrics["epochs"],
        metrics["hparam_changes"],
        title="Loss",
        subtitle=subtitle,
        epochs_planned=epochs_planned,
        log_y=log_y,
        uirevision=revision,
        empty_text="Loading data…" if snap.loading else "No batches logged yet",
        parent=parent,
    )
    accuracy = accuracy_figure(
        metrics["epochs"],
        metrics["hparam_changes"],
        batches_per_epoch=snap.batches_per_epoch or None,
        before=metrics["batches"][0] if metrics["batches"] else None,
        title="Test accuracy",
        subtitle=subtitle,
        epochs_planned=epochs_planned,
        uirevision=revision,
        parent=parent,
    )
    st.session_state["train_figures"] = (key, (loss, accuracy))
    return loss, accuracy


def charts(snap: WorkerSnapshot) -> None:
    loss, accuracy = chart_figures(snap, st.session_state.get("train_log_loss", False))
    loss_col, accuracy_col = st.columns(2)
    with loss_col:
        st.plotly_chart(loss, key="train_loss_chart", config={"displaylogo": False})
        st.checkbox("Log-scale loss axis", key="train_log_loss")
    with accuracy_col:
        st.plotly_chart(accuracy, key="train_accuracy_chart", config={"displaylogo": False})


@st.fragment(run_every=refresh)
def live_view() -> None:
    snap = worker.snapshot()
    if refresh and not snap.busy and not worker.is_alive():
        st.rerun()  # the job just ended: redraw the whole page once, and stop polling
    controls_and_status(snap)
    progress_and_metrics(snap)
    charts(snap)
    outcome(snap)


live_view()
