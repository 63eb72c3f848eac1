"""A run's test-set evaluation drawn: the confusion matrix and per-class accuracy."""

from __future__ import annotations

import plotly.graph_objects as go

from resnet_mnist.runs.evaluation import NUM_CLASSES, RunEvaluation
from resnet_mnist.ui.formatting import MISSING

from . import palette

__all__ = ["confusion_figure", "per_class_figure"]


def confusion_figure(evaluation: RunEvaluation, *, normalised: bool = False) -> go.Figure:
    """Heatmap of true (rows) against predicted (columns), counts or row-normalised."""
    classes = [str(c) for c in range(NUM_CLASSES)]
    counts = [list(row) for row in evaluation.confusion]  # plain lists: plotly sends them as JSON numbers
    if normalised:
        values: list[list[float]] = [list(row) for row in evaluation.normalised_confusion]
        text = [[f"{v:.1%}" if v else "" for v in row] for row in values]
        colorbar = {"title": {"text": "share of row"}, "tickformat": ".0%"}
    else:
        values = counts
        text = [[str(v) if v else "" for v in row] for row in counts]
        colorbar = {"title": {"text": "images"}}
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=classes,
            y=classes,
            text=text,
            texttemplate="%{text}",
            colorscale=palette.CONFUSION_SCALE,
            colorbar=colorbar,
            customdata=counts,
            hovertemplate="true %{y} → predicted %{x}<br>%{customdata} images<extra></extra>",
        )
    )
    figure.update_layout(
        xaxis={"title": {"text": "predicted"}, "side": "top", "type": "category"},
        yaxis={"title": {"text": "true"}, "autorange": "reversed", "type": "category"},
        height=480,
        margin={"l": 60, "r": 20, "t": 60, "b": 20},
    )
    return figure


def per_class_figure(evaluation: RunEvaluation) -> go.Figure:
    """Bar per digit: how much of that class the model gets right."""
    accuracy = evaluation.per_class_accuracy
    figure = go.Figure(
        go.Bar(
            x=[str(c) for c in range(NUM_CLASSES)],
            y=[a if a is not None else 0.0 for a in accuracy],
            text=[f"{100 * a:.1f}" if a is not None else MISSING for a in accuracy],
            textposition="outside",
            textangle=0,
            textfont={"size": 10},
            cliponaxis=False,
            customdata=list(evaluation.class_counts),
            hovertemplate="digit %{x}: %{y:.2%} of %{customdata} images<extra></extra>",
            marker_color=palette.PER_CLASS,
        )
    )
    low = min((a for a in accuracy if a is not None), default=0.0)
    figure.update_layout(
        xaxis={"title": {"text": "true digit"}, "type": "category"},
        yaxis={"title": {"text": "accuracy"}, "tickformat": ".0%", "range": [max(0.0, low - 0.05), 1.005]},
        title={"text": "per-class accuracy (%)"},
        height=480,
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
    )
    return figure
