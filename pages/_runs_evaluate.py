"""The Runs page's Evaluate tab: one run's checkpoint on the test set, its confusions and mistakes."""

from __future__ import annotations

import streamlit as st

from pages._common import run_choice
from resnet_mnist.checkpoint import CheckpointError
from resnet_mnist.data import MNIST_TEST_SIZE, DatasetError, resolve_data_root
from resnet_mnist.evaluation import RunEvaluation, digit_images, evaluate_run
from resnet_mnist.figures import confusion_figure, per_class_figure
from resnet_mnist.plain_text import escape_markdown
from resnet_mnist.runs import RunInfo


def evaluate_tab(runs: list[RunInfo], focus: str | None) -> None:
    run = run_choice("Run to evaluate", "eval_run", [r for r in runs if r.has_checkpoint], focus)
    if run is None:
        st.info("No run with a checkpoint yet: train one first.")
        return
    limit_options = {f"all {MNIST_TEST_SIZE:,} test images": None}
    if run.config.test_limit:
        limit_options[f"the run's own {run.config.test_limit:,} test images"] = run.config.test_limit
    scope = st.radio("Evaluate on", list(limit_options), horizontal=True, key="eval_scope")
    try:
        with st.spinner("Testing the checkpoint on the test set…"):
            evaluation = evaluate_run(run, data_root=resolve_data_root(), test_limit=limit_options[scope])
    except (CheckpointError, DatasetError) as exc:
        st.error(f"Could not evaluate this run: {escape_markdown(exc)}")
        return
    _show_evaluation(evaluation)
    _mistakes(evaluation)


def _show_evaluation(evaluation: RunEvaluation) -> None:
    """The headline numbers, the confusion matrix and the per-class bars."""
    a, b, c = st.columns(3)
    a.metric("Test accuracy", f"{evaluation.accuracy:.2%}")
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


def _mistakes(evaluation: RunEvaluation) -> None:
    """The misclassified test digits, most confident mistakes first."""
    st.subheader("Misclassified test digits, most confident mistakes first")
    if not evaluation.misclassified:
        st.success("No mistakes on these test images.")
        return
    most = min(200, len(evaluation.misclassified))
    count = st.slider("How many", 1, most, min(32, most), key="gallery_count") if most > 1 else 1
    shown = evaluation.misclassified[:count]
    images = digit_images([m.index for m in shown], data_root=resolve_data_root(), scale=3)
    captions = [f"{m.true} → {m.predicted} ({m.confidence:.1%})" for m in shown]
    st.image(list(images), caption=captions, width=84)
    st.caption("Caption: true digit → predicted digit (the model's confidence in its prediction).")
