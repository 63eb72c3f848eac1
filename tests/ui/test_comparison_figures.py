"""Accuracy axes stay within [0, 100%] (issue 25.6c): plotly pads one point (a run of one epoch, a sweep's
first results) by half its value either way, which read up to 150%. The figures' layouts, checked directly."""

from __future__ import annotations

from helpers import record_run

from resnet_mnist import RunStore
from resnet_mnist.runs.comparison import Band, RunCurves
from resnet_mnist.ui.figures import accuracy_figure, bands_figure, curves_figure, hparams_figure


def _curves(label: str, accuracies: tuple[float, ...]) -> RunCurves:
    epochs = tuple(range(1, len(accuracies) + 1))
    return RunCurves(label, label, epochs, accuracies, (0.3,) * len(epochs), (), ())


def _inside(axis_range, low: float, high: float, top: float = 1.0) -> bool:
    return axis_range is not None and 0.0 <= axis_range[0] < low and high < axis_range[1] <= top


def test_a_one_point_curve_gets_an_accuracy_axis_within_0_and_100_percent() -> None:
    figure = curves_figure([_curves("one epoch", (0.97,))], "test_accuracy")
    assert _inside(figure.layout.yaxis.range, 0.97, 0.97, top=1.0)
    several = curves_figure([_curves("a", (0.91,)), _curves("b", (0.95, 0.99))], "test_accuracy")
    assert _inside(several.layout.yaxis.range, 0.91, 0.99)
    perfect = curves_figure([_curves("all right", (1.0,))], "test_accuracy")
    assert _inside(perfect.layout.yaxis.range, 1.0 - 1e-9, 1.0 - 1e-9, top=1.006)  # the point shows, barely above
    assert curves_figure([_curves("a", (0.9,))], "test_loss").layout.yaxis.range is None  # losses: plotly's own


def test_a_seed_group_after_one_epoch_and_one_scored_run_stay_within_100_percent(tmp_path) -> None:
    band = Band("lr=0.05", (1,), (0.95,), (0.94,), (0.96,), 3)
    figure = bands_figure([band], [], "test_accuracy")
    assert _inside(figure.layout.yaxis.range, 0.94, 0.96)
    run = record_run(RunStore(tmp_path / "runs"), [0.98], checkpoint=False)
    assert _inside(hparams_figure([run], kind="scatter").layout.yaxis.range, 0.98, 0.98)


def test_the_training_pages_one_point_accuracy_chart_stays_within_100_percent() -> None:
    epoch = {"epoch": 1, "test_accuracy": 0.99, "correct": 990, "total": 1000}
    axis = accuracy_figure([epoch], epochs_planned=1).layout.yaxis.range
    assert axis is not None and 0 <= axis[0] < 99 < axis[1] <= 100.5
