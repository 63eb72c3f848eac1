"""A branch drawn with its parent: the parent's curves up to the epoch it branched from, then the branch's.

The parent's part is drawn in muted, dotted lines under the branch's own, with a line at the branch point,
so one chart reads as one history: where the parent was, and what the branch did from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from resnet_mnist.ui.plain_text import escape_plotly

from . import palette

__all__ = ["ParentCurves", "parent_accuracy_traces", "parent_curves", "parent_loss_traces", "parent_marker"]

Record = Mapping[str, Any]


@dataclass(frozen=True)
class ParentCurves:
    """A parent run's metrics records up to (and with) epoch `epoch`, where the branch began (`label`: as typed;
    the traces escape it)."""

    label: str
    epoch: int
    batches: Sequence[Record] = field(default=(), repr=False)
    epochs: Sequence[Record] = field(default=(), repr=False)


def parent_curves(label: str, epoch: int, metrics: Mapping[str, Sequence[Record]]) -> ParentCurves:
    """The part of a parent's metrics (metrics.json's shape) a branch from `epoch` grew out of."""
    batches = [b for b in metrics.get("batches", ()) if b["epoch"] <= epoch]
    epochs = [e for e in metrics.get("epochs", ()) if e["epoch"] <= epoch]
    return ParentCurves(label, epoch, batches, epochs)


def _x(record: Record) -> float:
    per_epoch = record.get("batches_per_epoch") or 0
    return record["epoch"] - 1 + record["batch"] / per_epoch if per_epoch else float(record["epoch"])


def parent_loss_traces(parent: ParentCurves) -> list[dict[str, Any]]:
    """The parent's training loss (logged batches) and test loss (per epoch) up to the branch point."""
    return [
        {
            "type": "scatter",
            "x": [_x(b) for b in parent.batches],
            "y": [b["loss"] for b in parent.batches],
            "mode": "lines",
            "name": f"parent · {escape_plotly(parent.label)}: training loss",
            "line": {"color": palette.PARENT, "width": 1.2, "dash": "dot"},
            "hovertemplate": "parent's training loss %{y:.4f}<extra></extra>",
        },
        {
            "type": "scatter",
            "x": [e["epoch"] for e in parent.epochs],
            "y": [e["test_loss"] for e in parent.epochs],
            "mode": "lines+markers",
            "name": f"parent · {escape_plotly(parent.label)}: test loss",
            "line": {"color": palette.PARENT_TEST, "width": 1.5, "dash": "dot"},
            "marker": {"size": 6},
            "hovertemplate": "parent's test loss %{y:.4f}<extra></extra>",
        },
    ]


def parent_accuracy_traces(parent: ParentCurves) -> list[dict[str, Any]]:
    """The parent's test accuracy (%) per epoch up to the branch point."""
    return [
        {
            "type": "scatter",
            "x": [e["epoch"] for e in parent.epochs],
            "y": [100 * e["test_accuracy"] for e in parent.epochs],
            "mode": "lines+markers",
            "name": f"parent · {escape_plotly(parent.label)}",
            "line": {"color": palette.PARENT, "width": 1.5, "dash": "dot"},
            "marker": {"size": 6},
            "hovertemplate": "parent's test accuracy %{y:.2f}%<extra></extra>",
        }
    ]


def parent_marker(parent: ParentCurves) -> tuple[dict[str, Any], dict[str, Any]]:
    """A vertical line at the branch point and its label: 'branched at epoch 2'."""
    shape = {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": parent.epoch,
        "x1": parent.epoch,
        "y0": 0,
        "y1": 1,
        "line": {"color": palette.PARENT, "width": 1.5},
    }
    note = {
        "x": parent.epoch,
        "xref": "x",
        "y": 0.5,
        "yref": "paper",
        "text": f"branched at epoch {parent.epoch}",
        "textangle": -90,
        "showarrow": False,
        "xanchor": "right",
        "font": {"color": palette.PARENT, "size": 11},
    }
    return shape, note
