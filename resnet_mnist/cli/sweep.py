"""`python -m resnet_mnist sweep …`: a Ray Tune sweep from a terminal, with the dashboard's options."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from resnet_mnist.cli.common import add_runs_dir
from resnet_mnist.core.config import SETTINGS
from resnet_mnist.runs.schema import dumps_json
from resnet_mnist.runs.store import RunInfo, RunStore, resolve_runs_dir
from resnet_mnist.sweeps.importance import Importance, importance_of, sweep_trials
from resnet_mnist.sweeps.outcome import TrialView
from resnet_mnist.sweeps.process import connect_for
from resnet_mnist.sweeps.ray_runtime import RAY_ADDRESS_ENV_VAR, check_address, resolve_ray_address
from resnet_mnist.sweeps.spec import (
    SCHEDULERS,
    SEARCHES,
    SWEEP_DEFAULTS,
    SWEPT_FIELDS,
    SweepError,
    SweepSpec,
    new_sweep_id,
    parse_axis,
)

__all__ = ["add_sweep_parser", "run_sweep_command"]

_AXES = tuple((name, SETTINGS[name].kind) for name in SWEPT_FIELDS)  # from the settings' descriptions


def add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    """The `sweep` subcommand's options."""
    sweep = commands.add_parser(
        "sweep",
        help="run a hyperparameter sweep on Ray Tune (locally or on a cluster)",
        description="Each swept setting is a list (0.01,0.05) or a range (low:high, low:high:log); "
        "precision is a list of choices (fp32,bf16).",
    )
    for name, _ in _AXES:
        setting = SETTINGS[name]
        what = "values (a,b) or a range (lo:hi[:log])"
        if setting.choices:
            what = f"choices to try ({','.join(setting.choices)})"
        sweep.add_argument(setting.flag, default="", metavar="VALUES", help=f"{setting.label}: {what}")
    _add_search_options(sweep)
    sweep.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    sweep.add_argument(
        "--address", help=f"an existing Ray: auto, host:port or ray://host:10001 (default: ${RAY_ADDRESS_ENV_VAR})"
    )
    sweep.add_argument(
        "--name", default=SWEEP_DEFAULTS.name, help="a name for the sweep's runs (default: the sweep's id)"
    )
    sweep.add_argument("--data-root", help="folder holding MNIST/raw/ (default: $RESNET_MNIST_DATA or ./data)")
    add_runs_dir(sweep)
    sweep.add_argument("--json", action="store_true", help="print one JSON object at the end")


def _add_search_options(sweep: argparse.ArgumentParser) -> None:
    """How to search, schedule and share the machine; every default is SWEEP_DEFAULTS's (spec.py)."""
    default = SWEEP_DEFAULTS
    sweep.add_argument(
        "--test-limit",
        type=int,
        default=default.base.test_limit,
        metavar="N",
        help="test on the first N test images only",
    )
    sweep.add_argument("--search", choices=SEARCHES, default=default.search, help="default: %(default)s")
    sweep.add_argument(
        "--samples", type=int, default=default.samples, help="trials for random/optuna (default: %(default)s)"
    )
    sweep.add_argument("--seed", type=int, default=default.seed, help="the search's seed (default: %(default)s)")
    sweep.add_argument("--scheduler", choices=SCHEDULERS, default=default.scheduler, help="default: %(default)s")
    sweep.add_argument(
        "--grace-period",
        type=int,
        default=default.grace_period,
        help="ASHA: epochs before a stop (default: %(default)s)",
    )
    sweep.add_argument(
        "--reduction-factor",
        type=int,
        default=default.reduction_factor,
        help="ASHA: keep 1/N at each rung (default: %(default)s)",
    )
    sweep.add_argument(
        "--cpus-per-trial", type=float, default=default.cpus_per_trial, help="fractions allowed (default: %(default)g)"
    )
    sweep.add_argument(
        "--gpus-per-trial", type=float, default=default.gpus_per_trial, help="fractions allowed (default: %(default)g)"
    )
    sweep.add_argument(
        "--max-concurrent", type=int, default=default.max_concurrent, help="0: as many as fit (default: %(default)s)"
    )


def _spec(args: argparse.Namespace) -> SweepSpec:
    space = {}
    for name, kind in _AXES:
        try:
            axis = parse_axis(getattr(args, name), kind, SETTINGS[name].choices)
        except ValueError as exc:
            raise SweepError([f"{name}: {exc}"]) from None
        if axis is not None:
            space[name] = axis
    return SweepSpec(
        base=SWEEP_DEFAULTS.base.with_changes(test_limit=args.test_limit),
        space=space,
        search=args.search,
        samples=args.samples,
        seed=args.seed,
        scheduler=args.scheduler,
        grace_period=args.grace_period,
        reduction_factor=args.reduction_factor,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        name=args.name,
    )


def run_sweep_command(args: argparse.Namespace) -> int:
    """Validate, connect, run; progress on stderr as trials end, then a table (or JSON) on stdout."""
    from resnet_mnist.core.data import load_split

    spec = _spec(args)
    problems = spec.problems()
    if problems:
        raise SweepError(problems)
    check_address(resolve_ray_address(args.address))  # a bad address: one line, in seconds
    load_split(args.data_root, train=False, limit=1)  # missing data: one line, before Ray starts
    connection = connect_for(spec, args.address, args.num_cpus)  # the tab's check too: a trial must fit
    print(f"Sweep of {spec.trial_count} trials on {connection.describe()}", file=sys.stderr, flush=True)
    from resnet_mnist.sweeps.trainable import run_sweep

    store = RunStore(resolve_runs_dir(args.runs_dir))
    with contextlib.redirect_stdout(sys.stderr):  # stdout is for the table or the JSON only
        outcome = run_sweep(
            spec,
            sweep_id=new_sweep_id(spec.name),
            runs_dir=store.root,
            data_root=args.data_root,
            on_update=_ProgressLines(),
        )
    sweep_runs = [run for run in store.runs() if run.sweep == outcome.sweep_id]
    rows = [_trial_row(store, t, sweep_runs) for t in outcome.trials]
    best = _trial_row(store, outcome.best, sweep_runs) if outcome.best else None
    importance = importance_of(sweep_trials(sweep_runs, outcome.sweep_id))  # which setting mattered
    if args.json:
        print(dumps_json({"sweep": outcome.sweep_id, "trials": rows, "best": best, "importance": importance.as_dict()}))
    else:
        _print_table(rows, best)
        print(_importance_line(importance))
    if best is None:
        print("error: no trial of the sweep trained (see each trial's reason)", file=sys.stderr)
        return 1
    return 0


class _ProgressLines:
    """One line on stderr each time a trial ends."""

    def __init__(self) -> None:
        self._told: set[str] = set()

    def __call__(self, trials: tuple[TrialView, ...]) -> None:
        for trial in trials:
            if trial.ended and trial.trial_id not in self._told:
                self._told.add(trial.trial_id)
                accuracy = f"{100 * trial.best_accuracy:.2f}%" if trial.best_accuracy is not None else "n/a"
                what = trial.error or f"best test accuracy {accuracy} after {trial.epoch} epoch(s)"
                print(f"trial {trial.trial_id} {_values(trial.values)}: {what}", file=sys.stderr, flush=True)


def _trial_row(store: RunStore, trial: TrialView, sweep_runs: list[RunInfo]) -> dict[str, Any]:
    """A trial as the JSON and table show it; the run's own state from its folder.

    A trial that failed before reporting never told Tune its run; its folder is found by its name.
    """
    state, reason = trial.status.lower(), trial.error
    run_id = trial.run_id or next((r.id for r in sweep_runs if r.name.endswith(f"· {trial.trial_id}")), None)
    if run_id:
        try:
            run = store.get(run_id)
            state, reason = run.state.value, run.reason or reason
        except (KeyError, ValueError):
            pass
    return {
        "trial_id": trial.trial_id,
        "run_id": run_id,
        "config": trial.values,
        "state": state,
        "reason": reason,
        "epochs_done": trial.epoch,
        "best_accuracy": trial.best_accuracy,
        "node": trial.node,
    }


def _values(values: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def _print_table(rows: list[dict[str, Any]], best: dict[str, Any] | None) -> None:
    print(f"{'run':<24} {'state':<9} {'epochs':>6} {'best acc':>9}  hyperparameters")
    for row in rows:
        accuracy = f"{100 * row['best_accuracy']:.2f}%" if row["best_accuracy"] is not None else "-"
        print(
            f"{row['run_id'] or '-':<24} {row['state']:<9} {row['epochs_done']:>6} {accuracy:>9}  "
            f"{_values(row['config'])}" + (f"  ({row['reason']})" if row["reason"] else "")
        )
    if best:
        print(f"Best: run {best['run_id']} ({100 * best['best_accuracy']:.2f}%), {_values(best['config'])}")


def _importance_line(importance: Importance) -> str:
    if importance.reason:
        return f"Importance: {importance.reason}."
    ranked = ", ".join(f"{s.name} {s.value:.2f} [{s.low:.2f}, {s.high:.2f}]" for s in importance.settings)
    return f"Importance (95% interval): {ranked}"
