"""Draw: sketch a digit, see the 28×28 image the model receives, what it thinks, and why."""

from __future__ import annotations

import streamlit as st

from pages._common import RUN_MODEL, epoch_label, get_run_store
from pages._draw_canvas import drawing_canvas
from pages._draw_handwriting import lineup_block, run_model, save_block
from resnet_mnist import Net, preprocess_image
from resnet_mnist.predict.inference import FEATURE_STAGES, feature_maps, predict, saliency_map
from resnet_mnist.runs.checkpoint import Checkpoint, CheckpointError
from resnet_mnist.runs.ranking import best_run
from resnet_mnist.ui.figures import digit_figure, feature_grid_figure, palette, probability_figure, saliency_figure
from resnet_mnist.ui.model_choice import (
    MAX_UPLOAD_BYTES,
    default_run_id,
    describe_checkpoint,
    describe_run,
    load_uploaded_checkpoint,
    usable_runs,
)
from resnet_mnist.ui.plain_text import escape_markdown

CANVAS_SIZE = 280  # 10× MNIST's 28 pixels
PREVIEW_SIZE = 230  # the 28×28 input, enlarged
ANSWER_WIDTH = 320  # the predicted digit and the ten probabilities
UNSURE_BELOW = 0.75  # top probability under this: say the model is not sure
SOURCE_RUN, SOURCE_UPLOAD = "A saved run", "An uploaded checkpoint"
STAGE_TITLES = {
    "conv1": "conv1 → ReLU → max-pool: 16 maps of 12×12",
    "res_block_1": "residual block 1: 16 maps of 12×12",
    "conv2": "conv2 → ReLU → max-pool: 32 maps of 4×4",
    "res_block_2": "residual block 2: 32 maps of 4×4 (what the final layer reads)",
}
SALIENCY_LABELS = {
    "smoothgrad": "SmoothGrad",
    "gradient": "Plain gradient",
    "integrated_gradients": "Integrated gradients",
}

st.session_state.setdefault("draw_canvas_version", 0)
st.session_state.setdefault("draw_stroke_width", 22)


@st.cache_resource(max_entries=4, show_spinner=False)
def _uploaded_model(data: bytes, name: str) -> tuple[Checkpoint, Net]:
    checkpoint = load_uploaded_checkpoint(data, name)
    return checkpoint, checkpoint.build_model()


def _clear_canvas() -> None:
    # The canvas has no clear call; a new key gives a fresh, empty one.
    st.session_state.draw_canvas_version += 1


def _remember_run() -> None:
    st.session_state.draw_run_id = st.session_state.draw_run_select
    st.session_state.pop("draw_epoch", None)  # another run: its last checkpoint, until an epoch is chosen


def _remember_epoch() -> None:
    st.session_state.draw_run_id = st.session_state.draw_run_select
    chosen = st.session_state.draw_epoch_select
    st.session_state.draw_epoch = None if chosen == RUN_MODEL else chosen


def _epoch_choice(run_id: str, epochs: list[int]) -> int | None:
    """Which of the run's checkpoints to draw with: its last (None), or an epoch's (also chosen on the Runs page)."""
    if not epochs:
        return None
    wanted = st.session_state.get("draw_epoch") if st.session_state.get("draw_run_id") == run_id else None
    st.session_state.draw_epoch_select = wanted if wanted in epochs else RUN_MODEL
    chosen = st.selectbox(
        "Epoch",
        [RUN_MODEL, *epochs],
        key="draw_epoch_select",
        on_change=_remember_epoch,
        format_func=epoch_label,
        help="Every epoch's checkpoint is kept: draw against an earlier one to see what it had learned by then.",
    )
    return None if chosen == RUN_MODEL else chosen


st.title("Draw a digit")
st.caption(
    "Draw with the mouse (or a finger): the model answers as you draw; Undo and Redo are under the canvas. "
    "Your strokes are cropped, scaled to 20×20 and centred by mass in 28×28, exactly as MNIST's digits were made."
)

# Which model
store = get_run_store()
runs = usable_runs(store)
runs_by_id = {run.id: run for run in runs}
model: Net | None = None
with st.container(border=True):
    source = st.radio("Model", [SOURCE_RUN, SOURCE_UPLOAD], horizontal=True, key="draw_source")
    if source == SOURCE_RUN:
        if not runs:
            st.info(
                "There is no trained model yet. Train one on the **Train** page (one epoch takes about a "
                "minute on a CPU and reaches ~98%), or from a terminal:\n\n"
                "`python -m resnet_mnist train --epochs 1 --lr 0.05 --momentum 0.9`\n\n"
                "Or upload a checkpoint file (choose *An uploaded checkpoint* above)."
            )
            st.page_link("pages/train.py", label="Go to the Train page", icon=":material/model_training:")
        else:
            st.session_state.draw_run_select = default_run_id(store, st.session_state.get("draw_run_id"))
            best = best_run(runs, needs_checkpoint=True)
            run_id = st.selectbox(
                "Run",
                list(runs_by_id),
                format_func=lambda rid: ("★ " if best and rid == best.id else "") + describe_run(runs_by_id[rid]),
                key="draw_run_select",
                on_change=_remember_run,
                help="Saved runs with a checkpoint, newest first: name · test accuracy · epochs · hyperparameters. "
                "★ marks the best (highest test accuracy), the one used until you choose another.",
            )
            epoch = _epoch_choice(run_id, runs_by_id[run_id].saved_epochs)
            try:
                _, model = run_model(runs_by_id[run_id], epoch)
            except (CheckpointError, OSError) as exc:
                st.error(f"This run's checkpoint could not be loaded: {escape_markdown(exc)}. Pick another run.")
    else:
        upload = st.file_uploader(
            "Checkpoint file (.pt, up to 20 MB)",
            type=["pt", "pth", "ckpt"],
            max_upload_size=MAX_UPLOAD_BYTES // 1_000_000,
            help="A checkpoint.pt from a run folder, or a state_dict of the seed's Net. Loaded with "
            "weights_only=True: files holding anything but weights are refused.",
        )
        if upload is None:
            st.info("Upload a checkpoint to draw against it.")
        else:
            try:
                checkpoint, model = _uploaded_model(upload.getvalue(), upload.name)
                st.success(f"Using {escape_markdown(describe_checkpoint(checkpoint, upload.name))}")
            except CheckpointError as exc:
                st.error(f"That file can't be used: {escape_markdown(exc)}.")

if model is None:
    st.stop()

# Canvas · what the model thinks · what it sees. Fixed-width blocks in rows that wrap: on a narrow
# screen a block moves below instead of squeezing the canvas, which cannot shrink (its size is fixed in
# pixels) and would be cut off. The answer comes first beside the canvas, so it stays in view.
row = st.container(horizontal=True, gap="medium", key="draw_row")
with row.container(width=CANVAS_SIZE, key="draw_pen_block"):
    canvas = drawing_canvas(CANVAS_SIZE, st.session_state.draw_stroke_width, st.session_state.draw_canvas_version)
    controls = st.container(horizontal=True, vertical_alignment="bottom")
    # Kept for the whole session: a visit to another page and back keeps the pen you chose.
    controls.slider("Pen width", 8, 40, key="draw_stroke_width", persist_state="session")
    controls.button("Clear", icon=":material/ink_eraser:", on_click=_clear_canvas, width="content")

image = canvas.image_data
digit = preprocess_image(image) if image is not None else None

beside = row.container(width="stretch", key="draw_beside_block").container(horizontal=True, gap="medium")
with beside.container(width=ANSWER_WIDTH, key="draw_answer_block"):
    if digit is None:
        st.markdown("**Prediction**")
        st.caption("Nothing to read yet: an empty canvas, a dot or a filled blob gets no prediction.")
    else:
        prediction = predict(model, digit.tensor)[0]
        unsure = prediction.confidence < UNSURE_BELOW
        color = palette.UNSURE_DIGIT if unsure else palette.TOP_DIGIT
        st.markdown(
            f"<div style='display:flex;align-items:baseline;gap:1rem'>"
            f"<span style='font-size:5.5rem;font-weight:700;line-height:1;color:{color}' "
            f"aria-label='predicted digit'>{prediction.digit}</span>"
            f"<span style='font-size:1.4rem'>{100 * prediction.confidence:.1f}% sure</span></div>",
            unsafe_allow_html=True,
        )
        if unsure:
            second = prediction.runner_up
            st.warning(
                f"Not sure: {prediction.digit} ({100 * prediction.confidence:.0f}%) or {second} "
                f"({100 * prediction.probabilities[second]:.0f}%). The top answer is under "
                f"{100 * UNSURE_BELOW:.0f}%."
            )
        st.plotly_chart(probability_figure(prediction, unsure=unsure), config={"displayModeBar": False})

with beside.container(width=PREVIEW_SIZE, key="draw_input_block"):
    st.markdown("**What the model sees** (28×28)")
    if digit is None:
        st.info("Draw a digit in the black square.")
    else:
        st.plotly_chart(
            digit_figure(digit.pixels, size=PREVIEW_SIZE), width="content", config={"displayModeBar": False}
        )

# Handwriting: keep this drawing with its true label; ask several runs at once (pages/_draw_handwriting.py)
if digit is not None:
    save_block(image, digit.pixels, prediction)
    if runs:
        with st.expander("Line-up: several runs read this drawing", icon=":material/view_column:", expanded=True):
            lineup_block(runs, digit.tensor, st.session_state.get("draw_run_select") if source == SOURCE_RUN else None)

# Look inside
if digit is not None:
    with st.expander("Look inside: saliency and feature maps", icon=":material/visibility:"):
        method = st.radio(
            "Saliency method",
            list(SALIENCY_LABELS),
            format_func=SALIENCY_LABELS.get,
            horizontal=True,
            key="draw_saliency_method",
            help="SmoothGrad averages the gradient over 32 noisy copies of your digit: steadier than the "
            "plain gradient. Integrated gradients credits only pixels that differ from a blank field.",
        )
        overlay_col, text_col = st.columns([1, 2])
        with overlay_col:
            saliency = saliency_map(model, digit.tensor, target=prediction.digit, method=method)
            st.plotly_chart(
                saliency_figure(digit.pixels, saliency, size=250, title=f"Where “{prediction.digit}” comes from"),
                width="content",
                config={"displayModeBar": False},
            )
        with text_col:
            st.markdown(
                f"**Saliency**: how strongly the score for **{prediction.digit}** reacts to each of the 784 "
                "input pixels (bright = a small change there moves the answer most), laid over your digit. "
                "\n\n**Feature maps**: what each block of the network computes from your digit. Each small "
                "square is one channel; bright means the channel fires there. The first blocks respond to "
                "strokes and edges at 12×12; the last block's 32 maps of 4×4 are all the final layer sees."
            )
        maps = feature_maps(model, digit.tensor)
        for stage, (_, size, _) in FEATURE_STAGES.items():
            st.plotly_chart(
                feature_grid_figure(maps[stage], title=STAGE_TITLES[stage], columns=16, cell=54 if size == 12 else 44),
                config={"displayModeBar": False},
            )
