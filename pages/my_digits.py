"""My digits: the drawings you kept, by label; relabel, delete, import/export, and teach a model your hand."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages._common import get_run_store, get_worker, handwriting_dir
from resnet_mnist import ConfigError
from resnet_mnist.core.data import DatasetError, resolve_data_root
from resnet_mnist.handwriting.archive import clean_stale_imports, export_zip
from resnet_mnist.handwriting.digits import (
    HandwritingData,
    HandwritingError,
    HandwritingSet,
    delete_digit,
    load_digits,
    read_set,
    relabel_digit,
)
from resnet_mnist.handwriting.scores import score_run
from resnet_mnist.handwriting.teach import TeachSettings, plan_holdout, prepare_teach
from resnet_mnist.jobs.worker import WorkerBusyError
from resnet_mnist.jobs.zip_import import ImportStatus, ZipImport
from resnet_mnist.runs.checkpoint import CheckpointError
from resnet_mnist.ui.model_choice import describe_run, usable_runs
from resnet_mnist.ui.plain_text import escape_markdown

PER_LABEL_SHOWN = 96
GRID = 6  # wide enough for a label picker and a delete button side by side
HOLDOUT_CHOICES = [0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5]
IMPORT = "my_digits_import_job"  # the session's running ZipImport
IMPORTED = "my_digits_import_outcome"  # (kind, message) of the import that just ended, said once
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


def gallery(hset: HandwritingSet, data: HandwritingData) -> None:
    """The digits grouped by label, each with its label to change and a delete button."""
    counts = hset.counts()
    for digit, column in enumerate(st.columns(10)):
        column.metric(f"Digit {digit}", counts[digit])
    shown = st.segmented_control("Show", ["all", *range(10)], default="all", key="my_digits_filter")
    for label in range(10):
        if shown not in ("all", label) or not counts[label]:
            continue
        members = [i for i, d in enumerate(hset.digits) if d.label == label]
        st.subheader(f"{label}  ({counts[label]})")
        for start in range(0, min(len(members), PER_LABEL_SHOWN), GRID):
            for index, column in zip(members[start : start + GRID], st.columns(GRID), strict=False):
                file = hset.digits[index].file
                with column.container(key=f"digit_cell_{index}"):
                    st.image(_thumbnail(data.pixels[index]), width=84)
                    key = f"relabel_{file}"
                    st.session_state[key] = label
                    pick, remove = st.columns([3, 2], gap="small", vertical_alignment="center")
                    pick.selectbox(
                        "Label", range(10), key=key, on_change=_relabel, args=(file, key), label_visibility="collapsed"
                    )
                    if remove.button(":material/delete:", key=f"delete_{file}", help="Delete this digit"):
                        delete_digit(root, file)
                        st.toast("Deleted.")
                        st.rerun()
        if len(members) > PER_LABEL_SHOWN:
            st.caption(f"and {len(members) - PER_LABEL_SHOWN} more, not shown")


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


def teach(hset: HandwritingSet) -> None:
    """Fine-tune a chosen run on these digits as a new run; the Train page shows it live."""
    store, worker = get_run_store(), get_worker()
    runs = {run.id: run for run in usable_runs(store)}
    if not runs:
        st.info("Train a model first (Train page); then teach it your handwriting here.")
        return
    run_id = st.selectbox("Start from", list(runs), format_func=lambda rid: describe_run(runs[rid]), key="teach_run")
    try:
        score = score_run(runs[run_id], hset)
        st.caption(f"It reads {score.correct} of your {score.total} digits right now ({score.accuracy:.1%}).")
    except (CheckpointError, HandwritingError) as exc:
        st.warning(f"This run could not be scored on your digits: {escape_markdown(exc)}")
    left, right = st.columns(2)
    epochs = left.slider("Epochs", 1, 10, TeachSettings.epochs, key="teach_epochs")
    holdout = right.select_slider(
        "Held out to measure",
        HOLDOUT_CHOICES,
        value=TeachSettings.holdout,
        format_func=lambda f: f"{f:.0%}",
        key="teach_holdout",
        help="Digits the fine-tune never sees; only they measure it. Small sets use k-fold instead.",
    )
    try:
        plan = plan_holdout(hset, holdout)
    except HandwritingError as exc:
        st.warning(str(exc))
        return
    st.info(f"The new run {plan.describe()}. It also trains on MNIST images, so it does not forget MNIST.")
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
    gallery(digits, loaded)
st.header("Import and export")
import_export(digits)
if loaded is not None:
    st.header("Teach a model your handwriting")
    teach(digits)
