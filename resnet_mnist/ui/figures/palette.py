"""Every colour the app uses, in one place: figures, the Draw page's canvas and verdict, state badges."""

from __future__ import annotations

__all__ = [
    "ACCURACY",
    "CANVAS_BACKGROUND",
    "CANVAS_INK",
    "CHANGE_MARKER",
    "CONFUSION_SCALE",
    "DIGIT_SCALE",
    "LR_BAND",
    "LR_SUGGESTION",
    "NOTE",
    "OTHER_DIGIT",
    "PARENT",
    "PARENT_TEST",
    "PER_CLASS",
    "RUNS",
    "SCALE",
    "STATE_BADGES",
    "TEST_LOSS",
    "TOP_DIGIT",
    "TRAIN_LOSS",
    "UNSURE_DIGIT",
    "run_colour",
]

# Learning curves of one run (plotly's default blue, red and green).
TRAIN_LOSS = "#1f77b4"
TEST_LOSS = "#d62728"
ACCURACY = "#2ca02c"
CHANGE_MARKER = "#ff7f0e"  # where lr/momentum were changed live
LR_SUGGESTION = "#2ca02c"  # lr-find: the suggested lr
LR_BAND = "#2ca02c"  # lr-find: the low..high band around it
NOTE = "gray"  # "No batches logged yet" over an empty chart
PARENT = "#8c8c8c"  # a branch's parent, up to the branch point (figures/lineage.py)
PARENT_TEST = "#c49c94"  # the parent's test loss: a muted red beside the branch's

# One colour per run when several are overlaid (Vega's category10 order, as Altair draws them).
RUNS = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#b279a2",
    "#eeca3b",
    "#9d755d",
    "#ff9da6",
    "#bab0ac",
)
PER_CLASS = RUNS[0]
SCALE = "Viridis"  # continuous values: accuracy, momentum, feature maps
CONFUSION_SCALE = "Blues"
DIGIT_SCALE = "gray"  # a 28×28 input, black to white as the model reads it

# The Draw page: white ink on black like MNIST, and the verdict.
CANVAS_INK = "#FFFFFF"
CANVAS_BACKGROUND = "#000000"
TOP_DIGIT = "#ff4b4b"  # Streamlit's primary red: the predicted digit
OTHER_DIGIT = "#9aa5b1"
UNSURE_DIGIT = "#f0a202"  # the top bar when the model is not sure

# A job's state as a Streamlit Markdown badge colour, by RunState value ("loading" is running, no batch yet).
STATE_BADGES = {
    "idle": "gray",
    "loading": "blue",
    "running": "blue",
    "paused": "orange",
    "stopped": "orange",
    "finished": "green",
    "failed": "red",
}


def run_colour(index: int) -> str:
    """The colour of the `index`-th overlaid run; the palette repeats after ten."""
    return RUNS[index % len(RUNS)]
