"""Several runs in one figure: overlaid learning curves (seed groups as bands), and hyperparameters against
accuracy."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from resnet_mnist.core.config import SETTINGS
from resnet_mnist.core.data import MNIST_TRAIN_SIZE
from resnet_mnist.core.precision import PRECISION_CHOICES
from resnet_mnist.core.settings import rounded
from resnet_mnist.runs.comparison import Band, RunCurves, ema
from resnet_mnist.runs.store import RunInfo
from resnet_mnist.ui.formatting import format_number
from resnet_mnist.ui.plain_text import escape_plotly

from . import palette
from .downsample import downsample_xy

__all__ = [
    "CURVE_METRICS",
    "accuracy_range",
    "bands_figure",
    "curves_figure",
    "hparams_figure",
    "legend_below",
    "lr_ticks",
]

CURVE_METRICS = {
    "test_accuracy": ("test accuracy", "epoch"),
    "test_loss": ("test loss", "epoch"),
    "train_loss": ("training loss", "epoch (fractional)"),
}


PLOT_HEIGHT = 220  # px of the plot itself, whatever the legend under it takes
_LEGEND_ROW = 30  # px a legend entry takes when the window is so narrow that each gets a row of its own
_MAX_LEGEND_ROWS = 16


def legend_below(title: str, entries: int) -> dict:
    """Layout for a legend under the plot, its entries wrapping into rows, and a figure tall enough for them.

    Beside the plot (plotly's default), a legend of a sweep's trials squeezed the chart to a sliver in a
    narrow window; below, it takes height instead, which the figure adds: one row per entry at worst.
    """
    return {
        "height": 130 + PLOT_HEIGHT + _LEGEND_ROW * min(entries, _MAX_LEGEND_ROWS),
        "legend": {
            "title": {"text": title, "side": "top left"},
            "orientation": "h",
            "yref": "container",  # in the figure's pixels, not the plot's: the plot keeps what is left
            "y": 0,
            "yanchor": "bottom",
            "x": 0,
            "xanchor": "left",
        },
        "showlegend": True,
    }


def accuracy_range(values: Sequence[float | None]) -> list[float]:
    """An accuracy axis (fractions) around `values` that never leaves [0, 1] (a point at 100% gets a sliver more).

    Plotly pads one point, or a flat line, by half its value either way: a run of one epoch read up to 150%.
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return [0.0, 1.0]
    low, high = min(finite), max(finite)
    pad = max((high - low) * 0.08, 0.02)
    return [max(low - pad, 0.0), min(high + pad, max(1.0, high + 0.005))]


def curves_figure(curves: Sequence[RunCurves], metric: str, *, smoothing: float = 0.0) -> go.Figure:
    """One line per run for `metric` (see CURVE_METRICS); training loss is EMA-smoothed by `smoothing`."""
    title, x_title = CURVE_METRICS[metric]
    figure = go.Figure()
    for index, run in enumerate(curves):
        colour = palette.run_colour(index)
        if metric == "train_loss":
            if smoothing > 0:  # the raw curve faintly behind the smoothed one, as TensorBoard draws it
                raw_x, raw_y = downsample_xy(run.train_x, run.train_loss)
                figure.add_trace(
                    go.Scatter(
                        x=raw_x,
                        y=raw_y,
                        mode="lines",
                        line={"color": colour, "width": 1},
                        opacity=0.25,
                        legendgroup=run.run_id,
                        showlegend=False,
                        hoverinfo="skip",
                    )
                )
            x, y = downsample_xy(run.train_x, ema(run.train_loss, smoothing))  # a few thousand points per trace
            mode = "lines"
        else:
            x, y = run.epochs, getattr(run, metric)
            mode = "lines+markers"
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=escape_plotly(run.label),
                mode=mode,
                line={"color": colour, "width": 2},
                legendgroup=run.run_id,
                hovertemplate="%{fullData.name}<br>%{x:.2f}: %{y:.4g}<extra></extra>",  # the escaped name
            )
        )
    figure.update_layout(
        title={"text": title},
        xaxis={"title": {"text": x_title}},
        yaxis={"title": {"text": title}, "tickformat": ".1%" if metric == "test_accuracy" else None},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        **legend_below("run", len(curves)),
    )
    if metric == "train_loss":  # losses span decades; label 1-2-5 steps in full, not plotly's bare "2", "5"
        ticks = [m * 10.0**e for e in range(-4, 2) for m in (1, 2, 5)]
        figure.update_yaxes(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    else:
        figure.update_xaxes(dtick=1)
    if metric == "test_accuracy":
        figure.update_yaxes(range=accuracy_range([v for run in curves for v in run.test_accuracy]))
    return figure


def hparams_figure(runs: Sequence[RunInfo], *, kind: str = "parallel", x_field: str = "lr") -> go.Figure:
    """Hyperparameters against final test accuracy across runs: parallel coordinates or a scatter."""
    scored = [r for r in runs if r.final_accuracy is not None]
    accuracy = [float(r.final_accuracy) for r in scored]  # type: ignore[arg-type]
    if kind == "scatter":
        return _hparams_scatter(scored, accuracy, x_field)
    if not scored:
        return go.Figure().update_layout(title={"text": "no run with a test accuracy yet"}, height=360)
    lrs = [r.config.lr for r in scored]
    log_lr = [math.log10(v) for v in lrs]
    ticks = lr_ticks(lrs)
    dimensions = [
        {
            "label": "lr (log)",
            "values": log_lr,
            "tickvals": [math.log10(v) for v in ticks],
            "ticktext": [format_number(v) for v in ticks],
            "range": _padded(log_lr),
        },
        {"label": "momentum", "values": [r.config.momentum for r in scored], "range": [0.0, 1.0]},
        {"label": "batch size", "values": [r.config.batch_size for r in scored]},
        {"label": "epochs", "values": [r.config.epochs for r in scored]},
        {"label": "train images", "values": [r.config.train_limit or MNIST_TRAIN_SIZE for r in scored]},
        _choice_dimension("precision", [r.config.precision for r in scored], PRECISION_CHOICES),
    ]
    # An axis on which every run has the same value says nothing; lr and momentum always stay.
    dimensions = dimensions[:2] + [d for d in dimensions[2:] if len(set(d["values"])) > 1]
    dimensions.append({"label": "final accuracy", "values": accuracy, "tickformat": ".1%"})
    figure = go.Figure(
        go.Parcoords(
            line={"color": accuracy, "colorscale": palette.SCALE, "showscale": True, "colorbar": {"tickformat": ".1%"}},
            dimensions=dimensions,
        )
    )
    figure.update_layout(height=380, margin={"l": 60, "r": 60, "t": 60, "b": 30})
    return figure


_FEW_VALUES = 4  # up to this many learning rates, each is its own tick


def lr_ticks(lrs: Sequence[float]) -> list[float]:
    """A log axis's ticks for these learning rates: each one when they are few (a grid), else round numbers
    (1-2-5 a decade, 1-3 over more than two decades, decades over more than four): a random sweep's twelve
    lrs as ticks ('0.0774153', '0.057593', …) printed over each other."""
    distinct = sorted(set(lrs))
    if len(distinct) <= _FEW_VALUES:
        return distinct
    low, high = math.log10(distinct[0]), math.log10(distinct[-1])
    span = high - low
    steps = (1, 2, 5) if span <= 2 else (1, 3) if span <= 4 else (1,)
    ticks = [
        rounded(step * 10.0**decade)
        for decade in range(math.floor(low), math.ceil(high) + 1)
        for step in steps
        if low - 1e-9 <= math.log10(step * 10.0**decade) <= high + 1e-9
    ]
    return ticks if len(ticks) >= 2 else [distinct[0], distinct[-1]]


def _choice_dimension(label: str, values: list[str], choices: Sequence[str]) -> dict:
    """A parallel-coordinates axis for a choice setting: each choice a tick, in the choices' order."""
    order = {choice: index for index, choice in enumerate(choices)}
    return {
        "label": label,
        "values": [order.get(v, len(choices)) for v in values],
        "tickvals": list(range(len(choices))),
        "ticktext": list(choices),
        "range": [-0.5, len(choices) - 0.5],
    }


def _axis_type(field: str) -> str:
    """lr on a log axis, a choice setting (precision) as categories, the rest linear."""
    if field == "lr":
        return "log"
    return "category" if SETTINGS[field].choices else "linear"


def _padded(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or max(abs(low) * 0.1, 0.5)
    return [low - pad, high + pad]


def _hparams_scatter(scored: Sequence[RunInfo], accuracy: list[float], x_field: str) -> go.Figure:
    labels = [escape_plotly(r.label) for r in scored]
    x = [getattr(r.config, x_field) for r in scored]
    figure = go.Figure(
        go.Scatter(
            x=x,
            y=accuracy,
            mode="markers",
            text=labels,
            marker={
                "size": [8 + 2 * math.log2(max(r.config.batch_size, 1)) for r in scored],
                "color": [r.config.momentum for r in scored],
                "colorscale": palette.SCALE,
                "showscale": True,
                "colorbar": {"title": {"text": "momentum"}},
                "line": {"width": 1, "color": "white"},
            },
            customdata=[[r.config.batch_size, r.config.epochs] for r in scored],
            hovertemplate=(
                "%{text}<br>" + x_field + " %{x}<br>accuracy %{y:.2%}<br>batch %{customdata[0]}, "
                "epochs %{customdata[1]}<extra></extra>"
            ),
        )
    )
    figure.update_layout(
        xaxis={"title": {"text": x_field}, "type": _axis_type(x_field)},
        yaxis={"title": {"text": "final test accuracy"}, "tickformat": ".1%", "range": accuracy_range(accuracy)},
        height=380,
        margin={"l": 60, "r": 20, "t": 30, "b": 40},
    )
    return figure


def _translucent(colour: str, alpha: float = 0.2) -> str:
    """A palette colour (#rrggbb) as rgba, for a band behind its line."""
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def bands_figure(bands: Sequence[Band], single: Sequence[RunCurves], metric: str) -> go.Figure:
    """Each seed group as its mean line over a min–max band; each single run as a plain line."""
    title, x_title = CURVE_METRICS[metric]
    figure = go.Figure()
    for index, band in enumerate(bands):
        colour, name = palette.run_colour(index), escape_plotly(f"{band.label} · mean of {band.runs}")
        figure.add_trace(
            go.Scatter(
                x=[*band.epochs, *reversed(band.epochs)],
                y=[*band.high, *reversed(band.low)],
                fill="toself",
                fillcolor=_translucent(colour),
                mode="lines",  # the outline only, never markers: the band is its fill
                line={"width": 0, "color": colour},
                legendgroup=name,
                showlegend=False,
                hoverinfo="skip",
                name=name + " (min–max)",
            )
        )
        figure.add_trace(
            go.Scatter(
                x=band.epochs,
                y=band.mean,
                name=name,
                mode="lines+markers",
                line={"color": colour, "width": 2},
                legendgroup=name,
                # The min–max as error bars too: after one epoch the band is a line of no width.
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [h - m for h, m in zip(band.high, band.mean, strict=True)],
                    "arrayminus": [m - lo for m, lo in zip(band.mean, band.low, strict=True)],
                    "color": colour,
                    "thickness": 1.5,
                    "width": 6,
                },
                customdata=list(zip(band.low, band.high, strict=True)),
                hovertemplate="%{fullData.name}<br>epoch %{x}: mean %{y:.4g}, "
                "min %{customdata[0]:.4g}, max %{customdata[1]:.4g}<extra></extra>",
            )
        )
    for index, run in enumerate(single, start=len(bands)):
        figure.add_trace(
            go.Scatter(
                x=run.epochs,
                y=getattr(run, metric),
                name=escape_plotly(run.label),
                mode="lines+markers",
                line={"color": palette.run_colour(index), "width": 2, "dash": "dot"},
                hovertemplate="%{fullData.name}<br>epoch %{x}: %{y:.4g}<extra></extra>",
            )
        )
    figure.update_layout(
        title={"text": f"{title}: seed groups as mean and min–max band"},
        xaxis={"title": {"text": x_title}, "dtick": 1},
        yaxis={"title": {"text": title}, "tickformat": ".1%" if metric == "test_accuracy" else None},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        **legend_below("run or group", len(bands) + len(single)),
    )
    if metric == "test_accuracy":
        values = [v for b in bands for v in (*b.low, *b.high)] + [v for r in single for v in r.test_accuracy]
        figure.update_yaxes(range=accuracy_range(values))
    return figure
