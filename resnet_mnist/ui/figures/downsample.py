"""Long traces cut to a few thousand points before they are drawn, spikes kept.

A 500-epoch run logged every batch has ~470,000 training-loss points; sending them all to the
browser each second makes every live redraw take seconds. MinMax-LTTB (tsdownsample, what
plotly-resampler uses) keeps each bucket's minimum and maximum as candidates and then picks the
visually largest triangles, so a one-batch spike stays on the chart however long the run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tsdownsample import MinMaxLTTBDownsampler

__all__ = ["MAX_POINTS", "downsample_indices", "downsample_xy"]

MAX_POINTS = 2_000  # per trace: more than a chart's width in pixels


def downsample_indices(x: Sequence[float], y: Sequence[float], n_out: int = MAX_POINTS) -> np.ndarray | None:
    """Sorted indices of the points to draw, at most `n_out`; None when all of them fit.

    `x` must not decrease (epochs do not); non-finite `y` values (gaps) are kept out of the choice.
    """
    if len(y) <= n_out:
        return None
    xs = np.ascontiguousarray(x, dtype=np.float64)
    ys = np.ascontiguousarray(y, dtype=np.float64)
    finite = np.isfinite(ys)
    if not finite.all():
        keep = np.flatnonzero(finite)
        chosen = downsample_indices(xs[keep], ys[keep], n_out)
        return keep if chosen is None else keep[chosen]
    if len(xs) != len(ys) or np.any(np.diff(xs) < 0):
        return np.sort(MinMaxLTTBDownsampler().downsample(ys, n_out=n_out)).astype(np.int64)
    return np.sort(MinMaxLTTBDownsampler().downsample(xs, ys, n_out=n_out)).astype(np.int64)


def downsample_xy(x: Sequence[float], y: Sequence[float], n_out: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """(x, y) with at most `n_out` points, as plain lists for plotly."""
    chosen = downsample_indices(x, y, n_out)
    if chosen is None:
        return list(x), list(y)
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return xs[chosen].tolist(), ys[chosen].tolist()
