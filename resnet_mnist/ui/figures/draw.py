"""Plotly figures for the Draw page: the 28×28 input, the ten probabilities, feature maps, saliency.

Every image is drawn cell by cell (no smoothing) so a 28×28 input looks like the 784 numbers it is.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from resnet_mnist.predict.inference import Prediction

from . import palette

__all__ = ["digit_figure", "feature_grid_figure", "probability_figure", "saliency_figure"]


def _square_image_layout(figure: go.Figure, size: int, title: str | None) -> go.Figure:
    figure.update_layout(
        height=size,
        width=size,
        margin=dict(l=4, r=4, t=30 if title else 4, b=4),
        title=dict(text=title, x=0.5, xanchor="center", font=dict(size=14)) if title else None,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    figure.update_xaxes(visible=False, constrain="domain")
    figure.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    return figure


def digit_figure(pixels: np.ndarray, *, size: int = 280, title: str | None = None) -> go.Figure:
    """A (28, 28) 0..1 ink image as the model receives it: white ink on black, one square per pixel."""
    figure = go.Figure(
        go.Heatmap(
            z=np.asarray(pixels, dtype=float),
            zmin=0.0,
            zmax=1.0,
            zsmooth=False,
            colorscale=palette.DIGIT_SCALE,
            showscale=False,
            hovertemplate="row %{y}, column %{x}<br>ink %{z:.2f}<extra></extra>",
        )
    )
    return _square_image_layout(figure, size, title)


def probability_figure(prediction: Prediction, *, unsure: bool = False, height: int = 260) -> go.Figure:
    """The ten probabilities as bars, the predicted digit's highlighted (amber when unsure)."""
    probabilities = [100 * p for p in prediction.probabilities]
    top = palette.UNSURE_DIGIT if unsure else palette.TOP_DIGIT
    colors = [top if digit == prediction.digit else palette.OTHER_DIGIT for digit in range(len(probabilities))]
    figure = go.Figure(
        go.Bar(
            x=[str(d) for d in range(len(probabilities))],
            y=probabilities,
            marker_color=colors,
            text=[f"{p:.0f}%" if p >= 1 else "" for p in probabilities],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="digit %{x}: %{y:.2f}%<extra></extra>",
        )
    )
    figure.update_layout(
        height=height,
        margin=dict(l=40, r=10, t=24, b=30),
        yaxis=dict(range=[0, 105], title="probability (%)", fixedrange=True),
        xaxis=dict(title=None, type="category", fixedrange=True),
        showlegend=False,
        bargap=0.25,
    )
    return figure


def _mosaic(maps: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """(C, H, W) → one (rows·(H+1)−1, columns·(W+1)−1) image with NaN gutters, and each cell's channel."""
    channels, height, width = maps.shape
    rows = math.ceil(channels / columns)
    image = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan)
    channel_of = np.full(image.shape, -1)
    for index in range(channels):
        row, col = divmod(index, columns)
        top, left = row * (height + 1), col * (width + 1)
        image[top : top + height, left : left + width] = maps[index]
        channel_of[top : top + height, left : left + width] = index
    return image, channel_of


def feature_grid_figure(maps: np.ndarray, *, title: str, columns: int = 8, cell: int = 44) -> go.Figure:
    """A stage's activations (C, H, W) as a grid of small images, one per channel, on a shared scale.

    A shared scale (0 to the stage's largest activation) keeps a channel that barely fires dark,
    so the grid shows which channels respond to this digit, not just each one's shape.
    """
    maps = np.asarray(maps, dtype=float)
    image, channel_of = _mosaic(maps, columns)
    peak = float(np.nanmax(image)) if np.isfinite(image).any() else 0.0
    rows = math.ceil(maps.shape[0] / columns)
    figure = go.Figure(
        go.Heatmap(
            z=image,
            customdata=channel_of,
            zmin=0.0,
            zmax=peak if peak > 0 else 1.0,
            zsmooth=False,
            colorscale=palette.SCALE,
            showscale=False,
            hoverongaps=False,
            hovertemplate="channel %{customdata}<br>activation %{z:.2f}<extra></extra>",
        )
    )
    figure.update_layout(
        height=rows * cell + 34,
        margin=dict(l=2, r=2, t=30, b=2),
        title=dict(text=title, x=0.0, font=dict(size=14)),
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    figure.update_xaxes(visible=False, constrain="domain")
    figure.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    return figure


def _heat_colors(values: np.ndarray) -> np.ndarray:
    """0..1 → 'hot' colours (black → red → yellow → white), (H, W, 3) in 0..1."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    return np.clip(np.concatenate([3 * v, 3 * v - 1, 3 * v - 2], axis=-1), 0.0, 1.0)


def saliency_figure(
    pixels: np.ndarray, saliency: np.ndarray, *, size: int = 280, title: str | None = None
) -> go.Figure:
    """The saliency map in hot colours laid over the dimmed 28×28 input, one square per pixel."""
    base = np.repeat(0.45 * np.asarray(pixels, dtype=float)[..., None], 3, axis=-1)  # (28, 28, 3)
    weight = np.clip(np.asarray(saliency, dtype=float), 0.0, 1.0)[..., None]
    blended = base * (1.0 - weight) + _heat_colors(saliency) * weight
    figure = go.Figure(
        go.Image(
            z=np.round(255 * blended).astype(np.uint8),
            customdata=np.asarray(saliency, dtype=float),
            hovertemplate="row %{y}, column %{x}<br>saliency %{customdata:.2f}<extra></extra>",
        )
    )
    return _square_image_layout(figure, size, title)
