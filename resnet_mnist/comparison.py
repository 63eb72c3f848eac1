"""Several runs side by side: the runs table, overlaid curves, and hyperparameters against accuracy.

Everything here works on plain data read from the runs folder; the figures are plotly objects
that the page only has to show.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import plotly.graph_objects as go

from .config import SETTINGS, TrainConfig
from .data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
from .runs import RunInfo, RunStore, UnreadableRun

__all__ = [
    "CURVE_METRICS",
    "INTERRUPTED",
    "RunCurves",
    "curves_figure",
    "differing_hparams",
    "display_state",
    "ema",
    "hparams_figure",
    "load_curves",
    "run_labels",
    "run_table_rows",
    "table_columns",
    "unreadable_rows",
]

INTERRUPTED = "interrupted"
_SPLIT_SIZES = {"train_limit": MNIST_TRAIN_SIZE, "test_limit": MNIST_TEST_SIZE}

# The TrainConfig fields worth naming in a label when they differ: those that change what a run learns.
_LABEL_FIELDS = [name for name, setting in SETTINGS.items() if setting.shapes_result]

CURVE_METRICS = {
    "test_accuracy": ("test accuracy", "epoch"),
    "test_loss": ("test loss", "epoch"),
    "train_loss": ("training loss", "epoch (fractional)"),
}


@dataclass(frozen=True)
class RunCurves:
    """One run's learning curves, read from its metrics.json."""

    run_id: str
    label: str
    epochs: tuple[int, ...]
    test_accuracy: tuple[float, ...]  # 0..1 per epoch
    test_loss: tuple[float, ...]
    train_x: tuple[float, ...]  # epoch - 1 + batch / batches_per_epoch, so batch sizes line up
    train_loss: tuple[float, ...]  # every logged batch


def display_state(run: RunInfo, active_run_id: str | None) -> str:
    """The state to show: a run on disk that says running but is not the worker's is 'interrupted'."""
    if not run.state.is_final and run.id != active_run_id:
        return INTERRUPTED  # the server stopped (or crashed) while it ran
    return run.state.value


def _format_value(value: Any) -> str:
    if value is None:
        return "all"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def differing_hparams(configs: Sequence[TrainConfig]) -> list[str]:
    """The label-worthy config fields whose values are not all the same."""
    return [name for name in _LABEL_FIELDS if len({getattr(c, name) for c in configs}) > 1]


def run_labels(runs: Sequence[RunInfo]) -> dict[str, str]:
    """A legend label per run id from the hyperparameters that differ; names or ids when none do."""
    names = differing_hparams([r.config for r in runs])
    labels: dict[str, str] = {}
    for run in runs:
        parts = [f"{SETTINGS[n].short}={_format_value(getattr(run.config, n))}" for n in names]
        labels[run.id] = " · ".join(parts) if parts else run.label
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    for run in runs:  # same hyperparameters twice: tell them apart by name or id
        if counts[labels[run.id]] > 1:
            labels[run.id] = f"{labels[run.id]} ({run.name or run.id[-6:]})"
    return labels


def ema(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased so the start is not pulled to 0.

    weight 0 returns the values unchanged; closer to 1 smooths more.
    """
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1) (got {weight})")
    smoothed: list[float] = []
    last, count = 0.0, 0
    for value in values:
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        last = last * weight + (1 - weight) * value
        count += 1
        smoothed.append(last / (1 - weight**count))
    return smoothed


def load_curves(store: RunStore, runs: Sequence[RunInfo]) -> list[RunCurves]:
    """Each run's curves, labelled by what differs between these runs."""
    labels = run_labels(runs)
    curves = []
    for run in runs:
        metrics = store.metrics(run.id)
        epochs = metrics["epochs"]
        batches = [b for b in metrics["batches"] if b.get("batches_per_epoch")]
        curves.append(
            RunCurves(
                run_id=run.id,
                label=labels[run.id],
                epochs=tuple(int(e["epoch"]) for e in epochs),
                test_accuracy=tuple(float(e["test_accuracy"]) for e in epochs),
                test_loss=tuple(float(e["test_loss"]) for e in epochs),
                train_x=tuple(b["epoch"] - 1 + b["batch"] / b["batches_per_epoch"] for b in batches),
                train_loss=tuple(float(b["loss"]) for b in batches),
            )
        )
    return curves


def curves_figure(curves: Sequence[RunCurves], metric: str, *, smoothing: float = 0.0) -> go.Figure:
    """One line per run for `metric` (see CURVE_METRICS); training loss is EMA-smoothed by `smoothing`."""
    title, x_title = CURVE_METRICS[metric]
    figure = go.Figure()
    for index, run in enumerate(curves):
        colour = _PALETTE[index % len(_PALETTE)]
        if metric == "train_loss":
            if smoothing > 0:  # the raw curve faintly behind the smoothed one, as TensorBoard draws it
                figure.add_trace(
                    go.Scatter(
                        x=run.train_x,
                        y=run.train_loss,
                        mode="lines",
                        line={"color": colour, "width": 1},
                        opacity=0.25,
                        legendgroup=run.run_id,
                        showlegend=False,
                        hoverinfo="skip",
                    )
                )
            x, y = run.train_x, ema(run.train_loss, smoothing)
            mode = "lines"
        else:
            x, y = run.epochs, getattr(run, metric)
            mode = "lines+markers"
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=run.label,
                mode=mode,
                line={"color": colour, "width": 2},
                legendgroup=run.run_id,
                hovertemplate=f"{run.label}<br>%{{x:.2f}}: %{{y:.4g}}<extra></extra>",
            )
        )
    figure.update_layout(
        title={"text": title},
        xaxis={"title": {"text": x_title}},
        yaxis={"title": {"text": title}, "tickformat": ".1%" if metric == "test_accuracy" else None},
        height=320,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        legend={"title": {"text": "run"}, "orientation": "v", "x": 1.02, "y": 1, "yanchor": "top"},
        showlegend=True,
    )
    if metric == "train_loss":  # losses span decades; label 1-2-5 steps in full, not plotly's bare "2", "5"
        ticks = [m * 10.0**e for e in range(-4, 2) for m in (1, 2, 5)]
        figure.update_yaxes(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    else:
        figure.update_xaxes(dtick=1)
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
    lr_ticks = sorted(set(lrs))
    dimensions = [
        {
            "label": "lr (log)",
            "values": log_lr,
            "tickvals": [math.log10(v) for v in lr_ticks],
            "ticktext": [f"{v:g}" for v in lr_ticks],
            "range": _padded(log_lr),
        },
        {"label": "momentum", "values": [r.config.momentum for r in scored], "range": [0.0, 1.0]},
        {"label": "batch size", "values": [r.config.batch_size for r in scored]},
        {"label": "epochs", "values": [r.config.epochs for r in scored]},
        {"label": "train images", "values": [r.config.train_limit or MNIST_TRAIN_SIZE for r in scored]},
    ]
    # An axis on which every run has the same value says nothing; lr and momentum always stay.
    dimensions = dimensions[:2] + [d for d in dimensions[2:] if len(set(d["values"])) > 1]
    dimensions.append({"label": "final accuracy", "values": accuracy, "tickformat": ".1%"})
    figure = go.Figure(
        go.Parcoords(
            line={"color": accuracy, "colorscale": "Viridis", "showscale": True, "colorbar": {"tickformat": ".1%"}},
            dimensions=dimensions,
        )
    )
    figure.update_layout(height=380, margin={"l": 60, "r": 60, "t": 60, "b": 30})
    return figure


def _padded(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or max(abs(low) * 0.1, 0.5)
    return [low - pad, high + pad]


def _hparams_scatter(scored: Sequence[RunInfo], accuracy: list[float], x_field: str) -> go.Figure:
    labels = [r.label for r in scored]
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
                "colorscale": "Viridis",
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
        xaxis={"title": {"text": x_field}, "type": "log" if x_field == "lr" else "linear"},
        yaxis={"title": {"text": "final test accuracy"}, "tickformat": ".1%"},
        height=380,
        margin={"l": 60, "r": 20, "t": 30, "b": 40},
    )
    return figure


def _local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def run_table_rows(runs: Iterable[RunInfo], active_run_id: str | None) -> list[dict[str, Any]]:
    """One plain row per readable run, for a sortable table; accuracies in percent, a column per setting."""
    rows = []
    for run in runs:
        rows.append(
            {
                "run": run.label,
                "state": display_state(run, active_run_id),
                "reason": run.reason or "",
                "best acc %": None if run.best_accuracy is None else round(100 * run.best_accuracy, 2),
                "final acc %": None if run.final_accuracy is None else round(100 * run.final_accuracy, 2),
                **{setting.table_column: _table_value(run, name) for name, setting in SETTINGS.items()},
                "duration s": round(run.duration_seconds, 1),
                "created": _local_time(run.created),
                "tags": ", ".join(run.tags),
                "sweep": run.sweep or "",
                "id": run.id,
            }
        )
    return rows


def table_columns() -> list[str]:
    """The Runs table's columns in the order shown: the run, its result, every setting, then bookkeeping."""
    settings = [setting.table_column for setting in SETTINGS.values()]
    return [
        "run",
        "state",
        "best acc %",
        "final acc %",
        *settings,
        "duration s",
        "created",
        "tags",
        "reason",
        "sweep",
        "id",
    ]


def _table_value(run: RunInfo, name: str) -> Any:
    if name == "epochs":
        return f"{run.epochs_done}/{run.config.epochs}"  # how far it got
    if name == "device":
        return run.device  # what "auto" became
    value = getattr(run.config, name)
    if value is None and name in _SPLIT_SIZES:
        return _SPLIT_SIZES[name]  # no limit: the whole split
    return value


def unreadable_rows(entries: Iterable[RunInfo | UnreadableRun]) -> list[dict[str, str]]:
    """The folders that could not be read as runs, with what is wrong with each."""
    return [{"folder": e.id, "problem": e.problem} for e in entries if isinstance(e, UnreadableRun)]


_PALETTE = (
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
