"""The learning-rate range test drawn: each ramp's smoothed loss against the lr (log axis), the mean
curve, the suggestion with its low..high band, and where the loss blew up."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from . import palette

__all__ = ["lr_find_figure"]


def lr_find_figure(
    ramps: Sequence[tuple[Sequence[float], Sequence[float]]],
    *,
    mean: tuple[Sequence[float], Sequence[float]] | None = None,
    suggested: float | None = None,
    band: tuple[float, float] | None = None,
    diverged_at: float | None = None,
    uirevision: str = "lr-find",
) -> go.Figure:
    """`ramps`: (lrs, smoothed losses) per repeat so far; the rest once the test is done (None before)."""
    figure = go.Figure()
    for index, (lrs, losses) in enumerate(ramps):
        figure.add_trace(
            go.Scatter(
                x=list(lrs),
                y=[v if v != float("inf") else None for v in losses],  # a NaN loss: the curve just ends
                mode="lines",
                name=f"ramp {index + 1}",
                line={"color": palette.run_colour(index), "width": 1},
                opacity=0.5 if mean is not None else 0.9,
                hovertemplate="lr %{x:.3g}<br>loss %{y:.3f}<extra>ramp " + str(index + 1) + "</extra>",
            )
        )
    if mean is not None:
        figure.add_trace(
            go.Scatter(
                x=list(mean[0]),
                y=list(mean[1]),
                mode="lines",
                name="mean",
                line={"color": palette.TRAIN_LOSS, "width": 3},
                hovertemplate="lr %{x:.3g}<br>mean loss %{y:.3f}<extra></extra>",
            )
        )
    if band is not None:
        figure.add_vrect(x0=band[0], x1=band[1], fillcolor=palette.LR_BAND, opacity=0.15, line_width=0)
    if suggested is not None:
        _marker(figure, suggested, f"suggested {suggested:.3g}", {"color": palette.LR_SUGGESTION, "width": 2}, "left")
    if diverged_at is not None:
        _marker(figure, diverged_at, f"blew up {diverged_at:.3g}", {"color": palette.TEST_LOSS, "dash": "dot"}, "right")
    if not ramps:
        figure.add_annotation(
            text="Starting…", showarrow=False, font={"color": palette.NOTE}, xref="paper", yref="paper", x=0.5, y=0.5
        )
    figure.update_layout(
        xaxis={"title": {"text": "learning rate"}, "type": "log", "exponentformat": "power"},
        yaxis={"title": {"text": "smoothed training loss"}, "range": _loss_range(ramps)},
        title={"text": "Learning-rate range test"},
        height=380,
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        uirevision=uirevision,
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def _marker(figure: go.Figure, lr: float, text: str, line: dict, side: str) -> None:
    """A vertical line at `lr`, labelled at the top on `side` of it. The label is placed by hand: on a log
    axis plotly's add_vline annotation takes the lr as a log10 position and lands decades away."""
    figure.add_vline(x=lr, line=line)
    figure.add_annotation(
        x=math.log10(lr),
        y=1,
        yref="paper",
        text=text,
        showarrow=False,
        xanchor="right" if side == "left" else "left",
        yanchor="bottom",
        font={"color": line["color"]},
    )


def _loss_range(ramps: Sequence[tuple[Sequence[float], Sequence[float]]]) -> list[float] | None:
    """From just below the lowest loss to a little above where the ramps started: the blow-up's last
    points (10, 100, ...) would otherwise flatten the valley the test is about."""
    finite = [v for _, losses in ramps for v in losses if math.isfinite(v)]
    starts = [losses[0] for _, losses in ramps if losses and math.isfinite(losses[0])]
    if not finite or not starts:
        return None
    low, high = min(finite), max(starts)
    pad = 0.1 * max(high - low, 0.1)
    return [max(low - pad, 0.0), high + 3 * pad]
