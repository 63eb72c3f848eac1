"""Plotly figures of a run's learning curves, built from plain metric records.

A record is a dict as metrics.json stores it (see runs.RunRecorder); `metrics_from_events`
turns the worker's live events into the same shape, so the Train page's live charts and the
Runs page's saved ones are drawn by the same code.
"""

from __future__ import annotations

import operator
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from resnet_mnist.ui.formatting import format_lr

from . import palette
from .downsample import MAX_POINTS, downsample_indices
from .lineage import ParentCurves, parent_accuracy_traces, parent_loss_traces, parent_marker

__all__ = [
    "accuracy_figure",
    "batch_x",
    "loss_figure",
    "metrics_from_events",
    "thin_batches",
    "wrap_subtitle",
]

Record = Mapping[str, Any]
_TENSORS = ("model_state", "momentum_state")  # an event's weights and momentum: not metrics

_HEIGHT = 380
EMPTY_LOSS_TOP = 2.5  # a fresh network starts near ln(10) ≈ 2.30: where an empty loss axis ends


def _record(event: Any) -> dict[str, Any]:
    if isinstance(event, Mapping):
        return dict(event)
    if is_dataclass(event):
        # Not dataclasses.asdict: that deep-copies, and model_state may hold tensors.
        return {f.name: getattr(event, f.name) for f in fields(event) if f.name not in _TENSORS}
    raise TypeError(f"not a metrics record: {event!r}")


def metrics_from_events(
    batches: Iterable[Any] = (), epochs: Iterable[Any] = (), hparam_changes: Iterable[Any] = ()
) -> dict[str, list[dict[str, Any]]]:
    """Events (BatchLogged, EpochCompleted, HyperparamsChanged) or dicts → metrics.json's shape."""
    return {
        "batches": [_record(b) for b in batches],
        "epochs": [_record(e) for e in epochs],
        "hparam_changes": [_record(h) for h in hparam_changes],
    }


def batch_x(record: Record) -> float:
    """Where a logged batch sits on the epoch axis: 1.5 is halfway through epoch 2."""
    per_epoch = record.get("batches_per_epoch") or 0
    if not per_epoch:
        return float(record["epoch"])
    return record["epoch"] - 1 + record["batch"] / per_epoch


def thin_batches(batches: Sequence[Any], n_out: int = MAX_POINTS) -> list[Any]:
    """At most `n_out` of the logged batches (events or records), chosen by MinMax-LTTB so spikes stay.

    Cheap enough to run on a live run's whole history each second: only four numbers per batch are read.
    """
    if len(batches) <= n_out:
        return list(batches)
    getter = operator.itemgetter if isinstance(batches[0], Mapping) else operator.attrgetter

    def column(name: str) -> np.ndarray:  # (N,)
        read = getter(name)
        return np.fromiter((read(b) for b in batches), np.float64, len(batches))

    epoch, batch, per_epoch, loss = (column(n) for n in ("epoch", "batch", "batches_per_epoch", "loss"))
    x = np.where(per_epoch > 0, epoch - 1 + batch / np.maximum(per_epoch, 1), epoch)
    chosen = downsample_indices(x, loss, n_out)
    return list(batches) if chosen is None else [batches[i] for i in chosen]


def _batches_per_epoch(batches: Sequence[Record]) -> int | None:
    for record in batches:
        if record.get("batches_per_epoch"):
            return int(record["batches_per_epoch"])
    return None


def _change_x(change: Record, per_epoch: int | None) -> float:
    """A change applies from `step` on, so its line goes just before that step."""
    if per_epoch:
        return (change["step"] - 1) / per_epoch
    return float(change["epoch"] - 1)


def _change_label(change: Record, previous: Record | None) -> str:
    parts = []
    if previous is None or change["lr"] != previous["lr"]:
        parts.append(f"lr {format_lr(change['lr'])}")
    if previous is None or change["momentum"] != previous["momentum"]:
        parts.append(f"m {format_lr(change['momentum'])}")
    return " · ".join(parts) or "retuned"


def _change_markers(
    changes: Sequence[Record], per_epoch: int | None, before: Record | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Shapes, annotations and a legend-only trace for dashed lines where lr/momentum changed.

    `before` holds the values in force before the first change (a batch record will do).
    """
    shapes, annotations = [], []
    previous = before
    for change in changes:
        x = _change_x(change, per_epoch)
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": x,
                "x1": x,
                "y0": 0,
                "y1": 1,
                "line": {"color": palette.CHANGE_MARKER, "dash": "dash", "width": 1.5},
            }
        )
        annotations.append(
            {
                "x": x,
                "xref": "x",
                "y": 1,
                "yref": "paper",
                "text": _change_label(change, previous),
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "top",
                "font": {"color": palette.CHANGE_MARKER, "size": 11},
            }
        )
        previous = change
    # vlines are shapes and get no legend entry of their own.
    legend = [
        {
            "type": "scatter",
            "x": [None],
            "y": [None],
            "mode": "lines",
            "line": {"color": palette.CHANGE_MARKER, "dash": "dash"},
            "name": "lr/momentum changed",
        }
    ]
    return shapes, annotations, legend if changes else []


SUBTITLE_CHARS = 40  # a line of the subtitle fits a chart 300 px wide (two side by side at 1,024 px)
_SUBTITLE_LINE = 18  # px per line of it


def wrap_subtitle(text: str, width: int = SUBTITLE_CHARS) -> list[str]:
    """The subtitle in lines of at most `width` characters, broken between its ' · ' parts (a longer part between
    its words): plotly never wraps a title, so one long line was cut at the chart's edge at every width."""
    lines: list[str] = []
    for part in text.split(" · ") if text else []:
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " · " + part
        else:  # a part longer than a line breaks between its words
            lines += textwrap.wrap(part, width, break_long_words=False) or [part]
    return lines


def _figure(
    data: list[dict[str, Any]],
    *,
    title: str,
    subtitle: str,
    y_title: str,
    epochs_planned: int | None,
    uirevision: str | None,
    legend_at: str,
    shapes: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
) -> go.Figure:
    xaxis: dict[str, Any] = {"title": {"text": "epoch"}, "zeroline": False}
    if epochs_planned:
        # Room on the right for the last point and its label, however few epochs are planned.
        xaxis["range"] = [0, epochs_planned + max(0.25, 0.03 * epochs_planned)]
        if epochs_planned <= 20:
            xaxis["dtick"] = 1
    lines = wrap_subtitle(subtitle)
    layout = {
        # At the container's top, not centred in the margin: centred, a third subtitle line ran into the plot.
        "title": {
            "text": title,
            "font": {"size": 15},
            "subtitle": {"text": "<br>".join(lines), "font": {"size": 12}},
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 10},
        },
        "xaxis": xaxis,
        "yaxis": {"title": {"text": y_title}},
        "height": _HEIGHT,
        "margin": {"l": 10, "r": 10, "t": 50 + _SUBTITLE_LINE * max(len(lines), 1), "b": 10},
        # Inside the plot, in the corner the curve leaves empty: loss falls, accuracy rises.
        "legend": {
            "yanchor": legend_at,
            "y": 0.98 if legend_at == "top" else 0.02,
            "xanchor": "right",
            "x": 0.99,
            "bgcolor": "rgba(255,255,255,0.7)",
            "font": {"size": 11},
        },
        "hovermode": "x unified",
        # Same uirevision across updates keeps the user's zoom/pan; a new run gets a new one.
        "uirevision": uirevision,
        "shapes": shapes,
        "annotations": annotations,
    }
    # Built from plain dicts without plotly's per-property validation: that costs tenths of a
    # second per figure, and the live view redraws both every second in the trainer's process.
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def _empty_note(text: str) -> dict[str, Any]:
    return {
        "text": text,
        "xref": "paper",
        "yref": "paper",
        "x": 0.5,
        "y": 0.5,
        "showarrow": False,
        "font": {"size": 14, "color": palette.NOTE},
    }


def _loss_traces(batches: Sequence[Record], epochs: Sequence[Record]) -> list[dict[str, Any]]:
    """The training loss of each logged batch and the test loss after each epoch, as two line traces."""
    return [
        {
            "type": "scatter",
            "x": [batch_x(b) for b in batches],
            "y": [b["loss"] for b in batches],
            "customdata": [[b["step"], b["lr"], b["momentum"]] for b in batches],
            # A lone point (a run that failed at once) would be invisible as a line: draw its marker.
            "mode": "lines" if len(batches) > 2 else "lines+markers",
            "name": "training loss (logged batches)",
            "line": {"color": palette.TRAIN_LOSS, "width": 1.5},
            "hovertemplate": "training loss %{y:.4f}<br>step %{customdata[0]} · lr %{customdata[1]:~.3g}"
            " · momentum %{customdata[2]:~.3g}<extra></extra>",
        },
        {
            "type": "scatter",
            "x": [e["epoch"] for e in epochs],
            "y": [e["test_loss"] for e in epochs],
            "mode": "lines+markers",
            "name": "test loss (per epoch)",
            "line": {"color": palette.TEST_LOSS, "width": 2},
            "marker": {"size": 8},
            "hovertemplate": "test loss %{y:.4f}<extra></extra>",
        },
    ]


def loss_figure(
    batches: Sequence[Record],
    epochs: Sequence[Record] = (),
    hparam_changes: Sequence[Record] = (),
    *,
    title: str = "Loss",
    subtitle: str = "",
    epochs_planned: int | None = None,
    log_y: bool = False,
    uirevision: str | None = None,
    empty_text: str = "No batches logged yet",
    max_points: int | None = MAX_POINTS,
    parent: ParentCurves | None = None,
) -> go.Figure:
    """Training loss of each logged batch and test loss after each epoch, on one epoch axis.

    At most `max_points` batches are drawn (MinMax-LTTB keeps the spikes); None draws every one.
    A branch's `parent` is drawn up to the branch point, under the branch's own curves.
    """
    shapes, annotations, legend = _change_markers(
        hparam_changes, _batches_per_epoch(batches), batches[0] if batches else None
    )
    if max_points is not None:
        batches = thin_batches(batches, max_points)  # a few thousand points, however long the run
    data = [*_loss_traces(batches, epochs), *legend]
    if parent is not None:
        data = [
            *parent_loss_traces(ParentCurves(parent.label, parent.epoch, thin_batches(parent.batches), parent.epochs)),
            *data,
        ]
        _add_marker(parent, shapes, annotations)
    if not batches and not epochs:
        annotations.append(_empty_note(empty_text))
    fig = _figure(
        data,
        title=title,
        subtitle=subtitle,
        y_title="loss (NLL)",
        epochs_planned=epochs_planned,
        uirevision=uirevision,
        legend_at="top",
        shapes=shapes,
        annotations=annotations,
    )
    if log_y:
        fig.layout.yaxis.type = "log"
    elif not batches and not epochs:
        fig.layout.yaxis.range = [0, EMPTY_LOSS_TOP]  # an empty chart still reads as a loss axis from 0
    if not epochs_planned and not batches and not epochs:
        fig.layout.xaxis.range = [0, 1]
    return fig


def _add_marker(parent: ParentCurves, shapes: list[dict[str, Any]], annotations: list[dict[str, Any]]) -> None:
    shape, note = parent_marker(parent)
    shapes.append(shape)
    annotations.append(note)


def accuracy_figure(
    epochs: Sequence[Record],
    hparam_changes: Sequence[Record] = (),
    *,
    batches_per_epoch: int | None = None,
    before: Record | None = None,
    title: str = "Test accuracy",
    subtitle: str = "",
    epochs_planned: int | None = None,
    uirevision: str | None = None,
    empty_text: str = "The first test pass comes<br>at the end of epoch 1",  # two lines: fits a narrow chart
    parent: ParentCurves | None = None,
) -> go.Figure:
    """Test accuracy in % after each epoch, the last value written next to its point (and a branch's `parent`)."""
    shapes, annotations, legend = _change_markers(hparam_changes, batches_per_epoch, before)
    if parent is not None:
        legend = [*parent_accuracy_traces(parent), *legend]
        _add_marker(parent, shapes, annotations)
        accuracies_before = [100 * e["test_accuracy"] for e in parent.epochs]
    else:
        accuracies_before = []
    accuracies = [100 * e["test_accuracy"] for e in epochs]
    data = [
        {
            "type": "scatter",
            "x": [e["epoch"] for e in epochs],
            "y": accuracies,
            "customdata": [[e["correct"], e["total"]] for e in epochs],
            "mode": "lines+markers+text",
            "text": [f"{a:.2f}%" if i == len(accuracies) - 1 else "" for i, a in enumerate(accuracies)],
            "textposition": "bottom left",
            "name": "test accuracy",
            "line": {"color": palette.ACCURACY, "width": 2},
            "marker": {"size": 8},
            "hovertemplate": "test accuracy %{y:.2f}% (%{customdata[0]:,} / %{customdata[1]:,})<extra></extra>",
        },
        *legend,
    ]
    if not epochs:
        annotations.append(_empty_note(empty_text))
    fig = _figure(
        data,
        title=title,
        subtitle=subtitle,
        y_title="test accuracy",
        epochs_planned=epochs_planned,
        uirevision=uirevision,
        legend_at="bottom",
        shapes=shapes,
        annotations=annotations,
    )
    fig.layout.yaxis.ticksuffix = "%"
    accuracies = [*accuracies_before, *accuracies]  # the axis fits the parent's points too
    if not accuracies:
        fig.layout.yaxis.range = [0, 100]  # not plotly's default −1…4 (a "−1%" tick) when there is nothing yet
        if not epochs_planned:
            fig.layout.xaxis.range = [0, 1]
    elif len(accuracies) == 1:
        # One point: give the axis some room instead of a zero-height range.
        fig.layout.yaxis.range = [max(accuracies[0] - 5, 0), min(accuracies[0] + 2, 100.5)]
    return fig
