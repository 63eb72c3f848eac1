"""The Draw page's handwriting blocks: save the drawing with its true label, and the line-up of models,
and the one cache of saved runs' models that the page and its line-up share.

Kept apart from pages/draw.py so the page's own layout can change without touching them; each
block is one function the page calls with what it has just computed.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st
import torch

from pages._common import handwriting_dir
from resnet_mnist import Net, load_checkpoint
from resnet_mnist.handwriting.digits import HandwritingError, save_drawing
from resnet_mnist.predict.inference import Prediction
from resnet_mnist.predict.lineup import CONFIDENT, LineUp, LineUpEntry, line_up
from resnet_mnist.runs.checkpoint import Checkpoint, CheckpointError
from resnet_mnist.runs.ranking import best_run, ranked_runs
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.ui.figures import palette, probability_figure
from resnet_mnist.ui.model_choice import checkpoint_identity, describe_run
from resnet_mnist.ui.plain_text import escape_markdown

MAX_LINEUP = 6
LINEUP_DEFAULT = 3  # runs the line-up starts with
SAVE_WIDTH = 40  # px per save button: ten fit in a row at 1,024 px (44 wrapped the 9), two rows on a phone


@st.cache_resource(max_entries=8, show_spinner=False)
def _run_model(path: str, size: int, mtime_ns: int) -> tuple[Checkpoint, Net]:
    """A saved run's model, loaded once per version of its checkpoint file (size and mtime in the key)."""
    checkpoint = load_checkpoint(path)
    return checkpoint, checkpoint.build_model()


def run_model(run: RunInfo, epoch: int | None = None) -> tuple[Checkpoint, Net]:
    """The run's checkpoint (its last, or epoch `epoch`'s) and model from the one cache the Draw page and its
    line-up share.

    Raises CheckpointError or OSError when the checkpoint cannot be used.
    """
    path = run.checkpoint_path if epoch is None else run.epoch_checkpoint_path(epoch)
    if path.is_symlink():
        raise CheckpointError(f"{path.name} is a symbolic link; only a real file in the run folder is used")
    return _run_model(*checkpoint_identity(path))


def _drawing_key(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]


def save_block(image: np.ndarray, pixels: np.ndarray, prediction: Prediction) -> None:
    """Ten digit buttons, the model's answer highlighted: one click keeps the drawing with that label."""
    st.markdown("**Save to my digits as…**")
    drawing = _drawing_key(image)
    saved = st.session_state.get("draw_saved", {})
    # A row that wraps, each button as wide as a digit needs: ten columns stacked one per row on a phone (560 px).
    buttons = st.container(horizontal=True, gap="small", key="save_as_row")
    for digit in range(10):
        kind = "primary" if digit == prediction.digit else "secondary"
        if buttons.button(str(digit), key=f"save_as_{digit}", type=kind, disabled=drawing in saved, width=SAVE_WIDTH):
            try:
                kept = save_drawing(handwriting_dir(), image, pixels, digit)
            except (HandwritingError, OSError) as exc:
                st.error(f"Not saved: {escape_markdown(exc)}")
            else:
                st.session_state["draw_saved"] = {**saved, drawing: (digit, kept.file)}
                st.rerun()
    if drawing in saved:
        st.success(f"Saved as a {saved[drawing][0]} in your digits. Draw the next one, or relabel it on My digits.")
    else:
        st.caption("Highlighted: the model's answer. Click the digit you meant; it is kept with that label.")
    st.page_link("pages/my_digits.py", label="My digits", icon=":material/photo_library:")


def _default_lineup(runs: list[RunInfo], current: str | None) -> list[str]:
    """The run the page draws with, then the best others (ranking.py's rule): never a weak newest trial."""
    chosen = [current] if current else []
    best = [r.id for r in ranked_runs(runs, needs_checkpoint=True) if r.id != current]
    return chosen + best[: LINEUP_DEFAULT - len(chosen)]


def lineup_block(runs: list[RunInfo], tensor: torch.Tensor, current: str | None) -> None:
    """The drawing as several runs read it, side by side; the ones that disagree with the rest marked."""
    by_id = {run.id: run for run in runs}
    best = best_run(runs, needs_checkpoint=True)
    st.session_state.setdefault("lineup_runs", _default_lineup(runs, current))
    st.session_state["lineup_runs"] = [i for i in st.session_state["lineup_runs"] if i in by_id]
    chosen = st.multiselect(
        "Runs to compare on this drawing",
        list(by_id),
        format_func=lambda rid: ("★ " if best and rid == best.id else "") + describe_run(by_id[rid]),
        key="lineup_runs",
        max_selections=MAX_LINEUP,
        help=f"At first the run you draw with and the best others (★: highest test accuracy). Up to {MAX_LINEUP}.",
    )
    models = {}
    for run_id in chosen:
        try:
            models[run_id] = run_model(by_id[run_id])[1]
        except (CheckpointError, OSError) as exc:
            st.warning(f"{escape_markdown(run_id)}: its checkpoint could not be loaded ({escape_markdown(exc)})")
    result = line_up(models, tensor)
    if not result.entries:
        st.caption("Choose runs to see how each reads this drawing.")
        return
    _verdict(result)
    for column, entry in zip(st.columns(len(result.entries)), result.entries, strict=True):
        with column.container(border=True, key=f"lineup_entry_{entry.label}"):
            _entry(by_id[entry.label], entry)


def _verdict(result: LineUp) -> None:
    """Agree, disagree, or too unsure to say, counting only the answers at least CONFIDENT sure."""
    summary = result.summary()
    if not result.unanimous:
        st.warning(summary, icon=":material/call_split:")
    elif summary and len(result.votes) == len(result.entries):
        st.success(summary)
    elif summary:
        st.info(summary, icon=":material/help:")
    if len(result.entries) > 1:
        st.caption(
            f"Only answers given with at least {CONFIDENT:.0%} confidence count as votes; a grey one is under that "
            "and not counted."
        )


def _entry(run: RunInfo, entry: LineUpEntry) -> None:
    st.text(run.label)  # a user-given name: plain text, never Markdown
    color = palette.OTHER_DIGIT if not entry.confident else "#1f77b4" if entry.agrees else "#d62728"  # grey: no vote
    st.markdown(
        f"<span style='font-size:2.6rem;font-weight:700;color:{color}'>{entry.prediction.digit}</span>"
        f" <span>{100 * entry.prediction.confidence:.1f}%</span>",
        unsafe_allow_html=True,
    )
    if not entry.confident:
        st.markdown(f":gray-badge[:material/help: under {CONFIDENT:.0%}: not counted]")
    elif not entry.agrees:
        st.markdown(":red-badge[:material/priority_high: disagrees]")
    st.plotly_chart(
        probability_figure(entry.prediction, height=120),
        key=f"lineup_chart_{entry.label}",
        config={"displayModeBar": False, "staticPlot": True},
    )
