"""The Train page's charts when there is little or nothing to show: axes that make sense, a lone point seen."""

from __future__ import annotations

from pathlib import Path

from resnet_mnist import RunState, TrainConfig, run_training
from resnet_mnist.ui.figures import accuracy_figure, loss_figure, metrics_from_events


def test_empty_charts_have_sensible_axes() -> None:
    accuracy = accuracy_figure([], epochs_planned=None)
    assert tuple(accuracy.layout.yaxis.range) == (0, 100)  # not −1…4, which showed a "−1%" tick
    assert tuple(accuracy.layout.xaxis.range) == (0, 1)
    loss = loss_figure([], [], epochs_planned=None)
    assert tuple(loss.layout.yaxis.range) == (0, 2.5)  # a fresh network starts near ln(10)
    planned = loss_figure([], [], epochs_planned=5)
    assert planned.layout.xaxis.range[0] == 0 and planned.layout.xaxis.range[1] > 5
    assert tuple(accuracy_figure([], epochs_planned=5).layout.yaxis.range) == (0, 100)
    assert loss_figure([], [], log_y=True).layout.yaxis.range is None  # a log axis cannot start at 0


def test_a_run_that_failed_after_one_logged_batch_still_shows_that_batch(data_root: Path) -> None:
    events = []
    config = TrainConfig(epochs=1, lr=1000.0, momentum=0.9, train_limit=3000, test_limit=200, device="cpu")
    outcome = run_training(config, events.append, data_root=str(data_root))
    assert outcome.state is RunState.FAILED
    batches = [e for e in events if type(e).__name__ == "BatchLogged"]
    metrics = metrics_from_events(batches, [], [])
    assert 1 <= len(metrics["batches"]) <= 2
    figure = loss_figure(metrics["batches"], metrics["epochs"], epochs_planned=1)
    (trace,) = [t for t in figure.data if t.name.startswith("training loss")]
    assert "markers" in trace.mode and len(trace.x) == len(metrics["batches"])
    assert figure.layout.yaxis.range is None  # autoscaled to the point, not the empty chart's 0–2.5
