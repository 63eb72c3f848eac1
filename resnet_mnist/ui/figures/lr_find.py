"""The learning-rate range test drawn: each ramp's smoothed loss against the lr (log axis), the mean
curve, the suggestion with its low..high band, and where the loss blew up."""

from __future__ import annotations

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
        figure.add_vline(
            x=suggested,
            line={"color": palette.LR_SUGGESTION, "width": 2},
            annotation={"text": f"suggested {suggested:.3g}", "yanchor": "bottom"},
        )
    if diverged_at is not None:
        figure.add_vline(
            x=diverged_at,
            line={"color": palette.TEST_LOSS, "dash": "dot"},
            annotation={"text": f"blew up {diverged_at:.3g}", "yanchor": "top", "xanchor": "left"},
        )
    if not ramps:
        figure.add_annotation(
            text="Starting…", showarrow=False, font={"color": palette.NOTE}, xref="paper", yref="paper", x=0.5, y=0.5
        )
    figure.update_layout(
        xaxis={"title": {"text": "learning rate"}, "type": "log", "exponentformat": "power"},
        yaxis={"title": {"text": "smoothed training loss"}},
        title={"text": "Learning-rate range test"},
        height=380,
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        uirevision=uirevision,
        legend={"orientation": "h", "y": -0.2},
    )
    return figure
