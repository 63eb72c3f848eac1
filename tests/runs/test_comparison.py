"""Comparing runs: the runs table, labels from differing hyperparameters, smoothing, curves, figures;
and the runs folder read back as after a restart, with broken folders listed and deletes kept tight."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import pytest

from resnet_mnist import RunState, RunStore, TrainConfig, run_training
from resnet_mnist.runs.comparison import (
    INTERRUPTED,
    differing_hparams,
    display_state,
    ema,
    load_curves,
    run_labels,
    run_table_rows,
    unreadable_rows,
)
from resnet_mnist.runs.store import RunInfo, UnreadableRun
from resnet_mnist.ui.figures import curves_figure, hparams_figure

_SMALL = TrainConfig(train_limit=500, test_limit=200, device="cpu", precision="fp32")
CONFIGS = [
    _SMALL.with_changes(epochs=2, lr=0.01, momentum=0.5, batch_size=64),
    _SMALL.with_changes(epochs=2, lr=0.05, momentum=0.9, batch_size=64),
    _SMALL.with_changes(epochs=1, lr=0.05, momentum=0.9, batch_size=32, precision="bf16"),
]


@pytest.fixture(scope="module")
def made_runs(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """A runs folder with three small real runs of different hyperparameters."""
    root = tmp_path_factory.mktemp("comparison") / "runs"
    store = RunStore(root)
    for index, config in enumerate(CONFIGS):
        recorder = store.create(config, device="cpu", name=f"run {index}")
        assert run_training(config, recorder, data_root=str(data_root)).state is RunState.FINISHED
    return root


@pytest.fixture
def runs_root(made_runs: Path, tmp_path: Path) -> Path:
    """A private copy of the runs folder, free to change."""
    return Path(shutil.copytree(made_runs, tmp_path / "copy" / "runs"))


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# -- the runs folder, as the page reads it -----------------------------------------------------


def test_a_fresh_store_reads_every_run_back_as_after_a_restart(made_runs: Path) -> None:
    runs = RunStore(made_runs).runs()  # a new object: nothing carried over in memory
    assert len(runs) == 3
    by_name = {r.name: r for r in runs}
    for index, config in enumerate(CONFIGS):
        run = by_name[f"run {index}"]
        assert run.config == config
        assert run.state is RunState.FINISHED and run.epochs_done == config.epochs
        assert run.has_checkpoint and run.duration_seconds > 0 and run.created and run.device == "cpu"
        epochs = RunStore(made_runs).metrics(run.id)["epochs"]
        assert run.final_accuracy == epochs[-1]["test_accuracy"]
        assert run.best_accuracy == max(e["test_accuracy"] for e in epochs)


def test_folders_that_are_not_runs_are_listed_as_unreadable(runs_root: Path) -> None:
    (runs_root / "holiday-photos").mkdir()  # not a run at all
    half = runs_root / "20200101-000000-aaaaaa"
    half.mkdir()
    (half / "metrics.json").write_text("{}")  # a run whose start was cut short: no run.json
    corrupt = runs_root / "20200101-000000-bbbbbb"
    corrupt.mkdir()
    (corrupt / "run.json").write_text('{"state": "finished", "config": {')  # cut off mid-write
    wrong = runs_root / "20200101-000000-cccccc"
    wrong.mkdir()
    (wrong / "run.json").write_text(json.dumps({"state": "exploded", "config": {}}))
    (runs_root / "notes.txt").write_text("a file, not a folder: ignored")
    for folder in ("holiday-photos", half.name):  # made a minute ago: not runs still starting
        os.utime(runs_root / folder, (time.time() - 60, time.time() - 60))

    entries = RunStore(runs_root).list_runs()
    unreadable = {e.id: e.problem for e in entries if isinstance(e, UnreadableRun)}
    assert set(unreadable) == {"holiday-photos", half.name, corrupt.name, wrong.name}
    assert "no run.json" in unreadable[half.name] and "no run.json" in unreadable["holiday-photos"]
    assert unreadable[corrupt.name].startswith("unreadable: run.json: invalid JSON")
    assert unreadable[wrong.name].startswith("unreadable: run.json: state: input should be")
    assert len([e for e in entries if isinstance(e, RunInfo)]) == 3
    assert {row["folder"] for row in unreadable_rows(entries)} == set(unreadable)
    assert len(run_table_rows([e for e in entries if isinstance(e, RunInfo)], None)) == 3


def test_delete_removes_the_run_folder_and_nothing_else(runs_root: Path) -> None:
    store = RunStore(runs_root)
    (runs_root.parent / "beside.txt").write_text("keep me")
    victim, *others = store.runs()
    before = _tree(runs_root.parent)
    store.delete(victim.id)
    after = _tree(runs_root.parent)
    removed = before - after
    assert not victim.path.exists()
    assert removed == {p for p in before if p.startswith(f"runs/{victim.id}")}
    assert {r.id for r in store.runs()} == {r.id for r in others}
    assert (runs_root.parent / "beside.txt").read_text() == "keep me"
    with pytest.raises(KeyError):
        store.delete("../beside.txt")


# -- the table and the labels ------------------------------------------------------------------


def test_a_run_recorded_as_running_that_the_worker_is_not_running_shows_as_interrupted(runs_root: Path) -> None:
    store = RunStore(runs_root)
    recorder = store.create(CONFIGS[0], device="cpu")  # run.json written, then the server "died":
    recorder.close()  # its writer lock went with it (tests/runs/test_run_ownership.py kills a real process)
    run = store.get(recorder.run_id)
    assert display_state(run, active_run_id=None) == INTERRUPTED
    assert display_state(run, active_run_id=run.id) == run.state.value
    finished = next(r for r in store.runs() if r.state is RunState.FINISHED)
    assert display_state(finished, None) == "finished"
    rows = {row["id"]: row for row in run_table_rows(store.runs(), None)}
    assert rows[run.id]["state"] == INTERRUPTED
    row = rows[finished.id]
    assert row["final acc %"] == round(100 * finished.final_accuracy, 2)
    assert (row["lr"], row["momentum"], row["batch"]) == (
        finished.config.lr,
        finished.config.momentum,
        finished.config.batch_size,
    )
    assert row["epochs"] == f"{finished.epochs_done}/{finished.config.epochs}"


def test_labels_name_the_hyperparameters_that_differ(made_runs: Path) -> None:
    runs = sorted(RunStore(made_runs).runs(), key=lambda r: r.name)
    assert differing_hparams([r.config for r in runs]) == ["lr", "momentum", "batch_size", "epochs", "precision"]
    labels = run_labels(runs)
    assert labels[runs[0].id] == "lr=0.01 · momentum=0.5 · batch=64 · epochs=2 · precision=fp32"
    assert labels[runs[2].id] == "lr=0.05 · momentum=0.9 · batch=32 · epochs=1 · precision=bf16"
    only_two = run_labels(runs[1:])
    assert only_two[runs[1].id] == "batch=64 · epochs=2 · precision=fp32"  # lr and momentum are the same here
    same = run_labels([runs[0], runs[0]])
    assert same[runs[0].id] == "run 0"  # nothing differs: the name


def test_sampled_settings_are_labelled_to_three_digits_and_equal_labels_get_names(tmp_path: Path) -> None:
    """A sweep's legend read 'lr=0.0563696 · momentum=0.9' (issue 25.5): three significant digits, and two runs
    whose lrs round alike are told apart by name."""
    from helpers import record_run

    store = RunStore(tmp_path)
    lrs = (0.0563696, 0.00362301, 0.05641, 0.2)
    runs = [
        record_run(store, [0.9], checkpoint=False, name=f"t{i}", config=_SMALL.with_changes(lr=lr, momentum=0.9))
        for i, lr in enumerate(lrs)
    ]
    labels = run_labels(runs)
    assert [labels[r.id] for r in runs] == ["lr=0.0564 (t0)", "lr=0.00362", "lr=0.0564 (t2)", "lr=0.2"]


def test_ema_is_tensorboards_debiased_smoothing() -> None:
    values = [4.0, 2.0, 3.0, 1.0, 0.5]
    assert ema(values, 0.0) == values
    assert ema([2.5] * 6, 0.9) == pytest.approx([2.5] * 6)  # debiased: a flat curve stays flat
    smoothed = ema(values, 0.6)
    assert smoothed[0] == pytest.approx(values[0])
    # The definition, step by step: EMA from 0, divided by (1 - w^t).
    last = 0.0
    for t, (value, got) in enumerate(zip(values, smoothed, strict=True), start=1):
        last = 0.6 * last + 0.4 * value
        assert got == pytest.approx(last / (1 - 0.6**t))
    noisy = [1.0 + (-1) ** i * 0.5 for i in range(50)]
    spread = lambda xs: max(xs[10:]) - min(xs[10:])  # noqa: E731
    assert spread(ema(noisy, 0.9)) < spread(ema(noisy, 0.5)) < spread(noisy)
    assert math.isnan(ema([1.0, float("nan"), 1.0], 0.5)[1])
    with pytest.raises(ValueError):
        ema(values, 1.0)


def test_curves_come_from_the_runs_metrics(made_runs: Path) -> None:
    store = RunStore(made_runs)
    runs = sorted(store.runs(), key=lambda r: r.name)
    curves = load_curves(store, runs)
    for run, curve in zip(runs, curves, strict=True):
        epochs = store.metrics(run.id)["epochs"]
        assert curve.epochs == tuple(range(1, run.config.epochs + 1))
        assert curve.test_accuracy == tuple(e["test_accuracy"] for e in epochs)
        assert curve.test_loss == tuple(e["test_loss"] for e in epochs)
        assert len(curve.train_x) == len(curve.train_loss) == len(store.metrics(run.id)["batches"])
        assert min(curve.train_x) > 0 and max(curve.train_x) == pytest.approx(run.config.epochs)
        assert list(curve.train_x) == sorted(curve.train_x)


def test_curve_figures_overlay_one_line_per_run(made_runs: Path) -> None:
    store = RunStore(made_runs)
    curves = load_curves(store, store.runs())
    accuracy = curves_figure(curves, "test_accuracy")
    assert [t.name for t in accuracy.data] == [c.label for c in curves]
    assert [tuple(t.y) for t in accuracy.data] == [c.test_accuracy for c in curves]
    smoothed = curves_figure(curves, "train_loss", smoothing=0.8)
    named = [t for t in smoothed.data if t.showlegend is not False]
    assert len(named) == len(curves) and len(smoothed.data) == 2 * len(curves)  # raw lines faintly behind
    assert list(named[0].y) == pytest.approx(ema(curves[0].train_loss, 0.8))
    assert len(curves_figure(curves, "train_loss", smoothing=0.0).data) == len(curves)


def test_hparams_figures_plot_every_scored_run(made_runs: Path) -> None:
    runs = RunStore(made_runs).runs()
    parallel = hparams_figure(runs)
    dimensions = {d.label: list(d.values) for d in parallel.data[0].dimensions}
    assert dimensions["final accuracy"] == [r.final_accuracy for r in runs]
    assert dimensions["lr (log)"] == pytest.approx([math.log10(r.config.lr) for r in runs])
    assert dimensions["batch size"] == [r.config.batch_size for r in runs]
    scatter = hparams_figure(runs, kind="scatter", x_field="momentum")
    assert list(scatter.data[0].x) == [r.config.momentum for r in runs]
    assert list(scatter.data[0].y) == [r.final_accuracy for r in runs]
    assert hparams_figure([]).data == ()  # nothing to plot yet, but no crash


def test_precision_is_a_category_in_the_hparams_figures(made_runs: Path) -> None:
    runs = RunStore(made_runs).runs()
    [precision] = [d for d in hparams_figure(runs).data[0].dimensions if d.label == "precision"]
    assert [precision.ticktext[v] for v in precision.values] == [r.config.precision for r in runs]
    assert sorted(r.config.precision for r in runs) == ["bf16", "fp32", "fp32"]
    scatter = hparams_figure(runs, kind="scatter", x_field="precision")
    assert list(scatter.data[0].x) == [r.config.precision for r in runs]
    assert scatter.layout.xaxis.type == "category"
