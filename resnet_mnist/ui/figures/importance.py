"""Which swept setting mattered: one bar per setting, its 95% interval as an error bar."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from . import palette

__all__ = ["importance_figure"]


def importance_figure(
    names: Sequence[str], values: Sequence[float], lows: Sequence[float], highs: Sequence[float]
) -> go.Figure:
    """Horizontal bars, most important on top; the error bar spans the bootstrap interval."""
    figure = go.Figure(
        go.Bar(
            x=list(values),
            y=list(names),
            orientation="h",
            marker={"color": palette.RUNS[0]},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [h - v for v, h in zip(values, highs, strict=True)],
                "arrayminus": [v - lo for v, lo in zip(values, lows, strict=True)],
                "color": palette.NOTE,
            },
            hovertemplate="%{y}: %{x:.2f}<extra></extra>",
        )
    )
    figure.update_layout(
        title={"text": "importance (share of the total), 95% interval"},
        xaxis={"range": [0, 1.05], "title": {"text": "importance"}},
        yaxis={"autorange": "reversed"},
        height=120 + 40 * len(names),
        margin={"l": 90, "r": 20, "t": 50, "b": 40},
    )
    return figure
