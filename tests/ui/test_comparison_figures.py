"""Accuracy axes stay within [0, 100%] (issue 25.6c): plotly pads one point (a run of one epoch, a sweep's
first results) by half its value either way, which read up to 150%. Legends under the charts and subtitles
wrapped (25.8). The figures' layouts, checked directly."""

from __future__ import annotations

from helpers import record_run

from resnet_mnist import RunStore
from resnet_mnist.runs.comparison import Band, RunCurves
from resnet_mnist.ui.figures import accuracy_figure, bands_figure, curves_figure, hparams_figure
from resnet_mnist.ui.figures.comparison import lr_ticks
from resnet_mnist.ui.figures.training import SUBTITLE_CHARS, wrap_subtitle


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


def test_the_legend_goes_under_the_chart_and_the_figure_grows_for_it() -> None:
    """Beside the plot, a sweep's legend squeezed a narrow chart to a sliver (issue 25.8)."""
    few = curves_figure([_curves("a", (0.9,))], "test_accuracy")
    many = curves_figure([_curves(f"trial {i}", (0.9, 0.95)) for i in range(8)], "test_accuracy")
    for figure in (few, many, bands_figure([], [_curves("a", (0.9,))], "test_accuracy")):
        legend = figure.layout.legend
        assert (legend.orientation, legend.yref, legend.yanchor, legend.y) == ("h", "container", "bottom", 0)
    # one row per entry at worst (a phone): the plot keeps its height whatever the legend takes
    assert many.layout.height - few.layout.height >= 7 * 24


def test_a_long_subtitle_is_wrapped_between_its_parts_never_inside_one() -> None:
    subtitle = "run 20261205-074546-6f013b (finished) · lr 0.05 · momentum 0.9 · batch 64 · seed 1 · 6,000 train images"
    lines = wrap_subtitle(subtitle)
    assert len(lines) > 1 and all(len(line) <= SUBTITLE_CHARS for line in lines)
    assert " · ".join(lines) == subtitle  # nothing lost, every part whole ("batch 64" never split)
    assert wrap_subtitle("no run yet: the charts fill in once one starts") == [
        "no run yet: the charts fill in once one",
        "starts",
    ]
    epoch = {"epoch": 1, "test_accuracy": 0.99, "correct": 990, "total": 1000}
    title = accuracy_figure([epoch], subtitle=subtitle, epochs_planned=1).layout.title
    assert title.subtitle.text == "<br>".join(lines)


def test_a_random_sweeps_learning_rates_get_round_ticks_that_do_not_overlap(tmp_path) -> None:
    """Twelve sampled lrs were twelve ticks ('0.0774153', '0.057593', …) printed over each other (issue 25.5)."""
    from resnet_mnist import TrainConfig

    store = RunStore(tmp_path / "runs")
    sampled = (0.0023, 0.00259, 0.00898, 0.0305, 0.0418, 0.0481, 0.0576, 0.0774, 0.119, 0.151, 0.2, 0.161)
    runs = [record_run(store, [0.9], checkpoint=False, config=TrainConfig(epochs=1, lr=lr)) for lr in sampled]
    [lr_axis] = [d for d in hparams_figure(runs).data[0].dimensions if d.label == "lr (log)"]
    assert list(lr_axis.ticktext) == ["0.005", "0.01", "0.02", "0.05", "0.1", "0.2"]
    assert lr_axis.range[0] <= min(lr_axis.tickvals) and max(lr_axis.tickvals) <= lr_axis.range[1]
    grid = [record_run(store, [0.9], checkpoint=False, config=TrainConfig(epochs=1, lr=lr)) for lr in (0.01, 0.05)]
    [grid_axis] = [d for d in hparams_figure(grid).data[0].dimensions if d.label == "lr (log)"]
    assert list(grid_axis.ticktext) == ["0.01", "0.05"]  # a grid's few values: each its own tick
    assert lr_ticks([1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0]) == [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0]  # decades only
