"""The range test's figure from plain lists: a log lr axis, the valley kept in view, markers where they belong."""

from __future__ import annotations

import math

import pytest

from resnet_mnist.ui.figures import lr_find_figure

LRS = [1e-4 * 10 ** (i / 10) for i in range(41)]  # 1e-4 .. 1
LOSSES = [2.3] * 20 + [2.3 - 0.05 * i for i in range(1, 16)] + [2.0, 3.0, 6.0, 15.0, 40.0, math.inf]


def test_ramps_draw_on_a_log_axis_and_a_blow_up_does_not_flatten_the_valley() -> None:
    figure = lr_find_figure([(LRS, LOSSES)])
    assert figure.layout.xaxis.type == "log"
    (ramp,) = figure.data
    assert ramp.name == "ramp 1" and list(ramp.x) == LRS
    assert ramp.y[-1] is None  # an infinite loss ends the line instead of breaking the chart's JSON
    low, high = figure.layout.yaxis.range
    assert low < min(LOSSES) and 2.3 < high < 3.0  # the 15 and 40 of the blow-up are off the chart


def test_the_suggestion_band_and_blow_up_are_marked_at_their_lrs() -> None:
    figure = lr_find_figure(
        [(LRS, LOSSES)], mean=(LRS[:35], LOSSES[:35]), suggested=0.05, band=(0.01, 0.1), diverged_at=0.2
    )
    assert [t.name for t in figure.data] == ["ramp 1", "mean"]
    lines = {shape.x0 for shape in figure.layout.shapes if shape.type == "line"}
    assert lines == {0.05, 0.2}
    (band,) = [shape for shape in figure.layout.shapes if shape.type == "rect"]
    assert (band.x0, band.x1) == (0.01, 0.1)
    # On a log axis an annotation's x is log10 of the value: placed at the lr itself it would sit decades away.
    labels = {a.text: a.x for a in figure.layout.annotations}
    assert labels["suggested 0.05"] == pytest.approx(math.log10(0.05))
    assert labels["blew up 0.2"] == pytest.approx(math.log10(0.2))


def test_an_empty_test_says_it_is_starting() -> None:
    figure = lr_find_figure([])
    assert [a.text for a in figure.layout.annotations] == ["Starting…"]
    assert figure.layout.yaxis.range is None
