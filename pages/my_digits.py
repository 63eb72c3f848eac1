"""My digits: the drawings you kept, by label; relabel, delete, import/export, and teach a model your hand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from pages._common import get_run_store, get_worker, handwriting_dir
from pages._settings_link import fill_form
from resnet_mnist import ConfigError
from resnet_mnist.core.data import MNIST_TEST_SIZE, DatasetError, resolve_data_root
from resnet_mnist.core.devices import available_devices, default_device
from resnet_mnist.handwriting.archive import clean_stale_imports, export_zip
from resnet_mnist.handwriting.decoding import load_digits
from resnet_mnist.handwriting.digits import (
    HandwritingData,
    HandwritingError,
    HandwritingSet,
    delete_digit,
    read_set,
    relabel_digit,
)
from resnet_mnist.handwriting.scores import score_run
from resnet_mnist.handwriting.teach import TeachSettings, plan_holdout, prepare_teach
from resnet_mnist.jobs.worker import WorkerBusyError
from resnet_mnist.jobs.zip_import import ImportStatus, ZipImport
from resnet_mnist.runs.checkpoint import CheckpointError
from resnet_mnist.runs.evaluation import Misclassified, RunEvaluation
from resnet_mnist.runs.ranking import best_run
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.ui.model_choice import default_run_id, describe_run, usable_runs
from resnet_mnist.ui.plain_text import escape_markdown

PER_LABEL_SHOWN = 96
CELL_WIDTH = 112  # px: a digit's image (84), and its label picker and delete button side by side; 3 on a phone
HOLDOUT_CHOICES = [0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5]
IMPORT = "my_digits_import_job"  # the session's running ZipImport
IMPORTED = "my_digits_import_outcome"  # (kind, message) of the import that just ended, said once
MISREAD = "misread"  # the gallery's filter: only the digits the chosen run reads wrong
STEPS = {"starting": "Starting", "unpacking": "Checking", "decoding": "Reading", "adding": "Adding"}

root = handwriting_dir()
st.title("My digits")
st.caption(
    "The digits you saved on the Draw page (or any folder of images plus labels.csv with the header "
    "`file,label`). Every model is scored on them on the Runs page; teach one your style below."
)
st.text(f"Folder: {root}")


def _relabel(file: str, key: str) -> None:
    try:
        relabel_digit(root, file, int(st.session_state[key]))
    except HandwritingError as exc:
        st.session_state["my_digits_error"] = str(exc)


def _thumbnail(pixels: np.ndarray) -> np.ndarray:
    """(28, 28) ink 0..1 → (84, 84) uint8, each pixel a crisp 3×3 square."""
    return np.kron(np.round(pixels * 255).astype(np.uint8), np.ones((3, 3), dtype=np.uint8))


@dataclass(frozen=True)
class Reader:
    """The runs Teach can start from, the ★ best, and how the chosen one reads these digits (or why it cannot)."""

    runs: dict[str, RunInfo]
    best: RunInfo | None = None
    run: RunInfo | None = None
    score: RunEvaluation | None = None  # its mistakes index the set
    problem: str | None = None


def choose_reader(hset: HandwritingSet) -> Reader:
    """The run chosen under Teach (the ★ best until the person picks another) and its score on the digits.

    Chosen before the gallery is drawn, so the gallery can mark the digits that run misreads.
    """
    store = get_run_store()
    runs = {run.id: run for run in usable_runs(store)}
    if not runs:
        return Reader(runs)
    st.session_state["teach_run"] = default_run_id(store, st.session_state.get("teach_run"))
    best = best_run(list(runs.values()), needs_checkpoint=True)
    run = runs[st.session_state["teach_run"]]
    try:
        return Reader(runs, best, run, score_run(run, hset))
    except (CheckpointError, HandwritingError) as exc:
        return Reader(runs, best, run, problem=str(exc))


def gallery(hset: HandwritingSet, data: HandwritingData, reader: Reader) -> None:
    """The digits grouped by label, each with its label to change and a delete button; the ones the run
    chosen under Teach reads wrong marked with what it read."""
    misread = {m.index: m for m in reader.score.misclassified} if reader.score else {}
    counts = hset.counts()
    tally = st.container(horizontal=True, gap="small", key="digit_counts")  # wraps: ten columns stacked on a phone
    for digit in range(10):
        tally.metric(f"Digit {digit}", counts[digit], width="content")  # as wide as its count needs
    if reader.run and reader.score:
        who = f"**{escape_markdown(reader.run.label)}** (the run chosen under Teach, below)"
        if misread:
            s = "s" if len(misread) != 1 else ""
            st.caption(f"Marked :red[read as …]: the {len(misread)} digit{s} that {who} reads wrong.")
        else:  # nothing to mark, and no "the 0 digits"
            st.caption(f"Nothing is marked: {who} reads every digit it is scored on right.")
    shown = st.segmented_control("Show", ["all", MISREAD, *range(10)], default="all", key="my_digits_filter")
    for label in range(10):
        members = [i for i, d in enumerate(hset.digits) if d.label == label and (shown != MISREAD or i in misread)]
        if shown not in ("all", MISREAD, label) or not members:
            continue
        st.subheader(f"{label}  ({len(members)})")
        # Cells of a fixed width in a row that wraps: as many as fit (three on a phone, not one per row).
        row = st.container(horizontal=True, gap="small", key=f"digit_row_{label}")
        for index in members[:PER_LABEL_SHOWN]:
            with row.container(key=f"digit_cell_{index}", width=CELL_WIDTH):
                _cell(hset.digits[index].file, label, data.pixels[index], misread.get(index))
        if len(members) > PER_LABEL_SHOWN:
            st.caption(f"and {len(members) - PER_LABEL_SHOWN} more, not shown")


def _cell(file: str, label: int, pixels: np.ndarray, misread: Misclassified | None) -> None:
    """One digit: its image, what the chosen run misread it as, its label to change, and a delete to confirm."""
    st.image(_thumbnail(pixels), width=84)
    key = f"relabel_{file}"
    st.session_state[key] = label
    pick_and_remove = st.container(horizontal=True, gap=None, vertical_alignment="center")  # side by side in 112 px
    pick_and_remove.selectbox(
        "Label", range(10), key=key, on_change=_relabel, args=(file, key), label_visibility="collapsed", width=56
    )
    # Behind a second click: a delete cannot be taken back.
    with pick_and_remove.popover(":material/delete:", help="Delete this digit"):
        st.caption("Delete this digit from the folder? This cannot be undone.")
        if st.button("Delete", key=f"delete_{file}", type="primary", icon=":material/delete:"):
            try:
                delete_digit(root, file)
            except HandwritingError as exc:  # e.g. another tab deleted it a moment ago
                st.toast(f"Not deleted: {escape_markdown(exc)}", icon=":material/info:")
            else:
                st.toast("Deleted.")
            st.rerun()
    if misread is not None:  # last, so images and pickers stay in line across the row
        st.markdown(f":red-badge[read as {misread.predicted}]", help=f"{100 * misread.confidence:.0f}% sure")


def _outcome(status: ImportStatus) -> tuple[str, str]:
    if status.cancelled:
        return "info", "Import cancelled: nothing was added."
    if status.error is not None:
        return "error", f"Nothing was added: {escape_markdown(status.error)}"
    return "success", f"Added {status.added} digits."


@st.fragment(run_every=1.0)
def import_progress() -> None:
    """The running import's progress and its Cancel; when it ends, the whole page reruns to show what it added."""
    job: ZipImport | None = st.session_state.get(IMPORT)
    if job is None:
        return
    status = job.status()
    if status.finished:
        del st.session_state[IMPORT]
        st.session_state[IMPORTED] = _outcome(status)
        st.rerun()
    counted = f": {status.done:,} of {status.total:,} digits" if status.total else "…"
    st.progress(status.fraction, text=f"{STEPS.get(status.step, status.step)}{counted}")
    st.button("Cancel import", key="my_digits_import_cancel", on_click=job.cancel, icon=":material/cancel:")


def import_export(hset: HandwritingSet) -> None:
    """Bring in a zipped folder (checked whole, in the background, before anything is added), or take this one away."""
    left, right = st.columns(2)
    with left:
        if IMPORTED in st.session_state:
            kind, message = st.session_state.pop(IMPORTED)
            getattr(st, kind)(message)
        if st.session_state.get(IMPORT) is not None:
            import_progress()
        else:
            upload = st.file_uploader("Import a zip (images + labels.csv)", type=["zip"], key="my_digits_zip")
            if upload is not None and st.button("Add the digits in this zip", key="my_digits_import"):
                st.session_state[IMPORT] = ZipImport(root, upload.getvalue())
                st.rerun()
    with right:
        if len(hset):
            st.download_button(
                "Export as zip",
                data=lambda: export_zip(root),
                file_name="my-digits.zip",
                mime="application/zip",
                on_click="ignore",
                icon=":material/download:",
            )


def _mnist_note(run: RunInfo) -> str:
    """Which MNIST test images the run's accuracy is on, against those teaching measures before and after on."""
    own = run.config.test_limit
    teach_on = TeachSettings.test_limit or MNIST_TEST_SIZE
    its = "Its accuracy" if run.final_accuracy is None else f"Its {100 * run.final_accuracy:.2f}%"
    if own is None or own >= MNIST_TEST_SIZE:
        return f"{its} is on all {MNIST_TEST_SIZE:,} MNIST test images, like teaching's before and after."
    return (
        f"{its} is on its own test set, the first {own:,} of MNIST's {MNIST_TEST_SIZE:,} test images; "
        f"teaching measures MNIST before and after on {teach_on:,}, so its 'before' differs a little."
    )


def start_from(hset: HandwritingSet, reader: Reader) -> str:
    """The run to teach (★ the best, until another is picked), which MNIST images its accuracy is on, and how
    it reads these digits now."""
    runs, best = reader.runs, reader.best
    run_id = st.selectbox(
        "Start from",
        list(runs),
        format_func=lambda rid: ("★ " if best and rid == best.id else "") + describe_run(runs[rid]),
        key="teach_run",
        help="Runs with a checkpoint, newest first. ★ marks the best (highest test accuracy), chosen until you "
        "pick another.",
    )
    st.caption(_mnist_note(runs[run_id]))
    if reader.score is not None:
        score, wrong = reader.score, len(reader.score.misclassified)
        where = f"; the {wrong} it misreads are marked in the gallery above" if wrong else ""
        skipped = len(hset) - score.total
        taught = f" (leaving out the {skipped} it was taught on)" if skipped else ""
        st.caption(
            f"It reads {score.correct} of your {score.total} digits right now{taught} ({score.accuracy:.1%}){where}."
        )
    elif reader.problem is not None:
        st.warning(f"This run could not be scored on your digits: {escape_markdown(reader.problem)}")
    return run_id


def teach(hset: HandwritingSet, reader: Reader) -> None:
    """Fine-tune a chosen run on these digits as a new run; the Train page shows it live."""
    store, worker = get_run_store(), get_worker()
    if not reader.runs:
        st.info("Train a model first (Train page); then teach it your handwriting here.")
        return
    run_id = start_from(hset, reader)
    left, right = st.columns(2)
    epochs = left.slider("Epochs", 1, 10, TeachSettings.epochs, key="teach_epochs")
    holdout = right.select_slider(
        "Held out to measure",
        HOLDOUT_CHOICES,
        value=TeachSettings.holdout,
        format_func=lambda f: f"{f:.0%}",
        key="teach_holdout",
        help="Digits the teaching never sees; only they measure it. Small sets use k-fold instead.",
    )
    try:
        plan = plan_holdout(hset, holdout)
    except HandwritingError as exc:
        st.warning(str(exc))
        return
    st.info(
        f"The new run {plan.describe()}. So that it does not forget MNIST, it also trains on MNIST images, keeps "
        "its parent's answers on more MNIST images drawn at every step, moves its first layers slowly and keeps "
        "the epoch that reads held-out MNIST images best; the Train page shows MNIST before and after, and warns "
        "if it fell more than half a point."
    )
    if plan.held_out:
        with st.expander(f"The {len(plan.held_out)} held-out digits"):
            st.dataframe(
                {
                    "file": [hset.digits[i].file for i in plan.held_out],
                    "label": [hset.digits[i].label for i in plan.held_out],
                },
                hide_index=True,
            )
    busy = worker.is_alive()
    if busy:
        st.caption("A job is running; teach once it has ended.")
    if st.button("Teach this model my handwriting", type="primary", key="teach_start", disabled=busy):
        settings = TeachSettings(epochs=epochs, holdout=holdout)
        try:
            job = prepare_teach(run_id, hset, store=store, settings=settings, data_root=resolve_data_root())
            worker.start(job)
        except (ConfigError, CheckpointError, HandwritingError, DatasetError, WorkerBusyError) as exc:
            st.error(f"Not started: {escape_markdown(exc)}")
        else:
            # The Train page shows the job's own settings (the parent's lr and momentum, teach's epochs), not the
            # form's older ones, so its "Apply lr & momentum" cannot push stale values into the fine-tune.
            devices = [d.name for d in available_devices() if d.available]
            fill_form(job.config, devices, default_device())
            st.switch_page("pages/train.py")


clean_stale_imports(root)  # what an import killed midway left behind (a running one keeps its lock)
try:
    digits = read_set(root, allow_missing=True)
    loaded = load_digits(digits) if len(digits) else None
except HandwritingError as exc:
    st.error(f"This folder cannot be read: {escape_markdown(exc)}")
    st.stop()

if "my_digits_error" in st.session_state:
    st.error(st.session_state.pop("my_digits_error"))
if loaded is None:
    st.info("No digits yet. Draw one on the Draw page and click its true label under the prediction, or import a zip.")
    st.page_link("pages/draw.py", label="Draw a digit", icon=":material/draw:")
else:
    reader = choose_reader(digits)
    gallery(digits, loaded, reader)
st.header("Import and export")
import_export(digits)
if loaded is not None:
    st.header("Teach a model your handwriting")
    teach(digits, reader)
