"""The Runs page's Evaluate tab: one run's checkpoint on the test set, its confusions and mistakes."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages._common import RUN_MODEL, epoch_label, handwriting_dir, run_choice
from resnet_mnist.core.data import MNIST_TEST_SIZE, DatasetError, resolve_data_root
from resnet_mnist.handwriting.decoding import load_digits
from resnet_mnist.handwriting.digits import HandwritingError, read_set
from resnet_mnist.handwriting.scores import score_run
from resnet_mnist.runs.checkpoint import CheckpointError
from resnet_mnist.runs.evaluation import RunEvaluation, digit_images, evaluate_run
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.ui.figures import confusion_figure, per_class_figure
from resnet_mnist.ui.plain_text import escape_markdown


def evaluate_tab(runs: list[RunInfo], focus: str | None) -> None:
    run = run_choice("Run to evaluate", "eval_run", [r for r in runs if r.has_checkpoint], focus)
    if run is None:
        st.info("No run with a checkpoint yet: train one first.")
        return
    epoch = _epoch_choice(run)
    limit_options = {f"all {MNIST_TEST_SIZE:,} test images": None}
    if run.config.test_limit:
        limit_options[f"the run's own {run.config.test_limit:,} test images"] = run.config.test_limit
    try:
        hset = read_set(handwriting_dir(), allow_missing=True)
    except HandwritingError:
        hset = None  # the page above says what is wrong with the folder
    if hset is not None and len(hset):
        limit_options[f"your handwriting ({len(hset)} digits)"] = "handwriting"
    scope = st.radio("Evaluate on", list(limit_options), horizontal=True, key="eval_scope")
    on_handwriting = limit_options[scope] == "handwriting"
    try:
        with st.spinner("Testing the checkpoint…"):
            # Handwriting: the last checkpoint's score, only on the digits it never trained on (cached per run).
            evaluation = score_run(run, hset) if on_handwriting else _evaluate(run, limit_options[scope], epoch)
    except (CheckpointError, DatasetError, HandwritingError) as exc:
        st.error(f"Could not evaluate this run: {escape_markdown(exc)}")
        return
    _show_evaluation(evaluation, "Handwriting accuracy" if on_handwriting else "Test accuracy")
    if on_handwriting and evaluation.total < len(hset):
        st.caption(f"Scored on the {evaluation.total} of your {len(hset)} digits this fine-tuned run never trained on.")
    _mistakes(evaluation, load_digits(hset).pixels if on_handwriting else None)


def _epoch_choice(run: RunInfo) -> int | None:
    """Which of the run's checkpoints to test: its last (None), or one epoch's (from the Epochs tab too)."""
    epochs = run.saved_epochs
    if not epochs:
        return None
    wanted = st.session_state.pop("eval_epoch_wanted", None)
    key = f"eval_epoch_{run.id}"
    if wanted is not None and wanted[0] == run.id and wanted[1] in epochs:
        st.session_state[key] = wanted[1]
    chosen = st.selectbox(
        "Checkpoint",
        [RUN_MODEL, *epochs],
        key=key,
        format_func=epoch_label,
        help="Every epoch's checkpoint is kept: test any of them.",
    )
    return None if chosen == RUN_MODEL else chosen


@st.cache_data(max_entries=16, show_spinner=False)
def _evaluate_epoch(run_id: str, stamp: tuple, test_limit: int | None, epoch: int, _run: RunInfo) -> RunEvaluation:
    """One epoch's verdict, kept for this server while its file (`stamp`: size, mtime) stays the same."""
    return evaluate_run(_run, data_root=resolve_data_root(), test_limit=test_limit, epoch=epoch)


def _evaluate(run: RunInfo, test_limit: int | None, epoch: int | None) -> RunEvaluation:
    if epoch is None:
        return evaluate_run(run, data_root=resolve_data_root(), test_limit=test_limit)
    path = run.epoch_checkpoint_path(epoch)
    stamp = (path.stat().st_size, path.stat().st_mtime_ns) if path.is_file() else ()
    return _evaluate_epoch(run.id, stamp, test_limit, epoch, run)


def _show_evaluation(evaluation: RunEvaluation, headline: str = "Test accuracy") -> None:
    """The headline numbers, the confusion matrix and the per-class bars."""
    a, b, c = st.columns(3)
    a.metric(headline, f"{evaluation.accuracy:.2%}")
    b.metric("Mistakes", f"{len(evaluation.misclassified):,} of {evaluation.total:,}")
    c.metric("Test loss", f"{evaluation.loss:.4f}")
    st.caption(
        f"Checkpoint from epoch {evaluation.checkpoint_epoch}; "
        + ("read from the run's cached evaluation." if evaluation.from_cache else "evaluated just now.")
    )
    normalised = st.toggle("Row-normalised", key="confusion_normalised")
    left, right = st.columns([3, 2])
    left.plotly_chart(confusion_figure(evaluation, normalised=normalised), key="chart_confusion")
    right.plotly_chart(per_class_figure(evaluation), key="chart_per_class")


def _mistakes(evaluation: RunEvaluation, handwriting: np.ndarray | None = None) -> None:
    """The misclassified digits, most confident mistakes first (`handwriting`: the set's 28×28 inks)."""
    st.subheader(
        f"Misclassified {'handwritten' if handwriting is not None else 'test'} digits, most confident mistakes first"
    )
    if not evaluation.misclassified:
        st.success("No mistakes on these test images.")
        return
    most = min(200, len(evaluation.misclassified))
    count = st.slider("How many", 1, most, min(32, most), key="gallery_count") if most > 1 else 1
    shown = evaluation.misclassified[:count]
    if handwriting is not None:
        pixels = handwriting[[m.index for m in shown]]  # (K, 28, 28) 0..1
        images = np.kron(np.round(pixels * 255).astype(np.uint8), np.ones((1, 3, 3), dtype=np.uint8))
    else:
        images = digit_images([m.index for m in shown], data_root=resolve_data_root(), scale=3)
    captions = [f"{m.true} → {m.predicted} ({m.confidence:.1%})" for m in shown]
    st.image(list(images), caption=captions, width=84)
    st.caption("Caption: true digit → predicted digit (the model's confidence in its prediction).")
