"""Several runs side by side: the runs table, their curves read back, labels from what differs.

Everything here works on plain data read from the runs folder; figures.comparison draws it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from resnet_mnist.core.config import SETTINGS, TrainConfig
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE
from resnet_mnist.core.settings import significant
from resnet_mnist.runs.store import RunInfo, RunStore, UnreadableRun

__all__ = [
    "INTERRUPTED",
    "Band",
    "RunCurves",
    "differing_hparams",
    "display_state",
    "ema",
    "epoch_band",
    "load_curves",
    "node_names",
    "nodes_by_start",
    "recipe_label",
    "run_labels",
    "run_table_rows",
    "table_columns",
    "unreadable_rows",
]

INTERRUPTED = "interrupted"
_SPLIT_SIZES = {"train_limit": MNIST_TRAIN_SIZE, "test_limit": MNIST_TEST_SIZE}

# The TrainConfig fields worth naming in a label when they differ: those that change what a run learns.
_LABEL_FIELDS = [name for name, setting in SETTINGS.items() if setting.shapes_result]


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


def display_state(run: RunInfo, active_run_id: str | Collection[str] | None) -> str:
    """The state to show: a run that says running but that no process is writing is 'interrupted'.

    `active_run_id`: the worker's run, or every run training now (the worker's and a sweep's trials).
    """
    active = {active_run_id} if isinstance(active_run_id, str) else set(active_run_id or ())
    if not run.state.is_final and not run.live and run.id not in active:
        return INTERRUPTED  # the server stopped (or crashed) while it ran
    return run.state.value


def _format_value(value: Any) -> str:
    if value is None:
        return "all"
    if isinstance(value, float):
        return significant(value)  # a sampled lr reads 0.0564, not 0.0563696 (equal ones get a name below)
    return str(value)


def differing_hparams(configs: Sequence[TrainConfig]) -> list[str]:
    """The label-worthy config fields whose values are not all the same."""
    return [name for name in _LABEL_FIELDS if len({getattr(c, name) for c in configs}) > 1]


def recipe_label(config: TrainConfig, names: Sequence[str]) -> str:
    """The named settings of `config` as a legend reads them: 'lr=0.1 · momentum=0.9'."""
    return " · ".join(f"{SETTINGS[n].short}={_format_value(getattr(config, n))}" for n in names)


def run_labels(runs: Sequence[RunInfo]) -> dict[str, str]:
    """A legend label per run id from the hyperparameters that differ; names or ids when none do."""
    names = differing_hparams([r.config for r in runs])
    labels: dict[str, str] = {}
    for run in runs:
        labels[run.id] = recipe_label(run.config, names) or run.label
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
                test_loss=tuple(math.nan if e["test_loss"] is None else float(e["test_loss"]) for e in epochs),
                train_x=tuple(b["epoch"] - 1 + b["batch"] / b["batches_per_epoch"] for b in batches),
                train_loss=tuple(float(b["loss"]) for b in batches),
            )
        )
    return curves


@dataclass(frozen=True)
class Band:
    """A seed group's curve: per epoch, the mean of its runs and the lowest and highest of them."""

    label: str
    epochs: tuple[int, ...]
    mean: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    runs: int


def epoch_band(label: str, curves: Sequence[RunCurves], metric: str) -> Band:
    """`metric` (test_accuracy or test_loss) over the group's runs, at each epoch some run reached.

    An epoch only some runs reached (one was stopped early) is summed over those: the band narrows there.
    """
    by_epoch: dict[int, list[float]] = {}
    for run in curves:
        for epoch, value in zip(run.epochs, getattr(run, metric), strict=True):
            if math.isfinite(value):
                by_epoch.setdefault(epoch, []).append(value)
    epochs = tuple(sorted(by_epoch))
    return Band(
        label=label,
        epochs=epochs,
        mean=tuple(math.fsum(by_epoch[e]) / len(by_epoch[e]) for e in epochs),
        low=tuple(min(by_epoch[e]) for e in epochs),
        high=tuple(max(by_epoch[e]) for e in epochs),
        runs=len(curves),
    )


def _local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def node_names(nodes: Iterable[str]) -> dict[str, str]:
    """Each node ('<ip> <Ray node id>', as a sweep trial records it) → 'node 1 · 10.0.0.7', numbered in the order
    given (callers give them in the order their trials started: `nodes_by_start`).

    Ray's 56-hex id told a person nothing, even cut short; the address says which machine, and the number tells
    apart nodes of one machine (a `ray.cluster_utils.Cluster`), which share an address. A blank node is none.
    """
    names: dict[str, str] = {}
    for node in nodes:
        parts = node.split()
        if parts and node not in names:
            names[node] = f"node {len(names) + 1} · {parts[0]}"
    return names


def nodes_by_start(runs: Iterable[RunInfo]) -> list[str]:
    """The runs' nodes in the order the runs started (ties by id): the same numbers however a table is sorted,
    and in the Runs table and the Sweep tab alike (a trial's run deleted can renumber the rest)."""
    return [run.node for run in sorted(runs, key=lambda r: (r.created, r.id))]


def _run_nodes(runs: Sequence[RunInfo]) -> dict[str, str | None]:
    """Run id → its node's name, numbered within its sweep: a local Ray started afresh for each sweep is a
    new Ray node on the same machine, and numbering across sweeps would count those as more nodes."""
    by_sweep: dict[str, list[RunInfo]] = {}
    for run in runs:
        by_sweep.setdefault(run.sweep or "", []).append(run)
    named: dict[str, str | None] = {}
    for group in by_sweep.values():
        names = node_names(nodes_by_start(group))
        named.update({run.id: names.get(run.node) for run in group})
    return named


def run_table_rows(
    runs: Iterable[RunInfo],
    active_run_id: str | Collection[str] | None,
    handwriting: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """One plain row per readable run, for a sortable table; accuracies in percent, a column per setting.

    `handwriting` (run id → accuracy on the user's digits) fills the handwriting column when given.
    """
    handwriting = handwriting or {}
    runs = list(runs)
    nodes = _run_nodes(runs)
    rows = []
    for run in runs:
        rows.append(
            {
                "run": run.label,
                "state": display_state(run, active_run_id),
                "reason": run.reason or "",
                "best acc %": None if run.best_accuracy is None else round(100 * run.best_accuracy, 2),
                "final acc %": None if run.final_accuracy is None else round(100 * run.final_accuracy, 2),
                "handwriting acc %": round(100 * handwriting[run.id], 2) if run.id in handwriting else None,
                "parent": (run.parent or {}).get("run") or "",
                **{setting.table_column: _table_value(run, name) for name, setting in SETTINGS.items()},
                "duration s": round(run.duration_seconds, 1),
                "created": _local_time(run.created),
                "tags": ", ".join(run.tags),
                "sweep": run.sweep or "",
                "group": run.group or "",
                "node": nodes[run.id],
                "id": run.id,
            }
        )
    return rows


def table_columns(rows: Sequence[Mapping[str, Any]] | None = None) -> list[str]:
    """The Runs table's columns in the order shown: the run, its result, every setting, then bookkeeping.

    Given the rows, the node column only when they ran on more than one node: on one machine it says nothing.
    """
    settings = [setting.table_column for setting in SETTINGS.values()]
    several_nodes = rows is None or len({row["node"] for row in rows if row.get("node")}) > 1
    return [
        "run",
        "state",
        "best acc %",
        "final acc %",
        "handwriting acc %",
        *settings,
        "duration s",
        "created",
        "tags",
        "reason",
        "sweep",
        "group",
        *(["node"] if several_nodes else []),
        "parent",
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
