"""`python -m resnet_mnist train --branch-from RUN --from-epoch N [changed settings] [--json]`: a branch.

The branch takes the parent's settings and only the flags typed on the command line change them, so the
setting flags record which were given (GivenValue, GivenSwitch). `--json` (with or without a branch)
prints one object: run_id, run_dir, final_accuracy, best_accuracy, parent, parent_epoch.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from resnet_mnist.cli.common import ProgressPrinter, whole_number
from resnet_mnist.core.config import SETTINGS, TrainConfig
from resnet_mnist.core.data import MNIST_TEST_SIZE, MNIST_TRAIN_SIZE, load_split
from resnet_mnist.core.devices import resolve_device
from resnet_mnist.core.engine import run_training
from resnet_mnist.core.events import RunState, fan_out
from resnet_mnist.runs.branch import BranchError, BranchPlan, plan_branch
from resnet_mnist.runs.schema import dumps_json
from resnet_mnist.runs.store import CHECKPOINT_FILE, RunStore, resolve_runs_dir

__all__ = ["GivenSwitch", "GivenValue", "add_branch_flags", "run_branch_command", "wants_branch_command"]

GIVEN = "given_settings"  # the namespace attribute: the settings typed on the command line


def _mark_given(namespace: argparse.Namespace, dest: str) -> None:
    setattr(namespace, GIVEN, {*getattr(namespace, GIVEN, ()), dest})


class GivenValue(argparse.Action):
    """Stores a setting's value and notes it was typed (a branch changes only those)."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option: Any = None) -> None:
        setattr(namespace, self.dest, values)
        _mark_given(namespace, self.dest)


class GivenSwitch(argparse.BooleanOptionalAction):
    """--channels-last / --no-channels-last, noting it was typed."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option: Any = None) -> None:
        super().__call__(parser, namespace, values, option)
        _mark_given(namespace, self.dest)


def add_branch_flags(train: argparse.ArgumentParser) -> None:
    train.add_argument("--branch-from", metavar="RUN", help="continue this run (its settings, weights and momentum)")
    train.add_argument(
        "--from-epoch", type=whole_number, metavar="N", help="the epoch to branch from (with --branch-from)"
    )


def wants_branch_command(args: argparse.Namespace) -> bool:
    """Whether `train` goes through here: a branch (`--json` alone, or `--seeds`, is main's own path)."""
    return args.branch_from is not None or args.from_epoch is not None


def run_branch_command(args: argparse.Namespace) -> int:
    """Train a branch (or, with --json alone, a plain run) and report it; checks everything before the run exists."""
    if getattr(args, "seeds", None):
        raise BranchError("--seeds and --branch-from do not go together: branch one run, then repeat it over seeds")
    plan = _plan(args)
    config = (plan.config if plan else _typed_config(args)).validate(MNIST_TRAIN_SIZE, MNIST_TEST_SIZE)
    train_split = load_split(args.data_root, train=True, limit=config.train_limit)
    test_split = load_split(args.data_root, train=False, limit=config.test_limit)
    store = RunStore(resolve_runs_dir(args.runs_dir))
    device = resolve_device(config.device)
    name = args.name or (plan.name if plan else "")
    recorder = store.create(config, device=str(device), name=name, extra=plan.run_fields() if plan else None)
    log = sys.stderr if args.json else sys.stdout
    origin = f" ({plan.describe()[:-1].lower()})" if plan else ""
    print(f"Run {recorder.run_id}{origin}: epochs={config.epochs} lr={config.lr} momentum={config.momentum}", file=log)
    listeners = [recorder] if args.json else [recorder, ProgressPrinter(args.quiet)]  # --json: stdout is one object
    outcome = run_training(
        config,
        fan_out(*listeners),
        device=device,
        train_split=train_split,
        test_split=test_split,
        start=plan.start if plan else None,
    )
    if args.json:
        print(dumps_json(_summary(recorder.run_id, str(recorder.path), outcome, plan)))
    else:
        print(f"Run {outcome.state.value}{': ' + outcome.reason if outcome.reason else ''}.")
        print(f"Run folder: {recorder.path}")
        if (recorder.path / CHECKPOINT_FILE).is_file():
            print(f"Checkpoint: {recorder.path / CHECKPOINT_FILE}")
    return 1 if outcome.state is RunState.FAILED else 0


def _plan(args: argparse.Namespace) -> BranchPlan | None:
    if args.branch_from is None and args.from_epoch is None:
        return None
    if args.branch_from is None or args.from_epoch is None:
        raise BranchError("--branch-from RUN and --from-epoch N go together")
    changes = {name: getattr(args, name) for name in getattr(args, GIVEN, ()) if name in SETTINGS}
    store = RunStore(resolve_runs_dir(args.runs_dir))
    return plan_branch(store, args.branch_from, args.from_epoch, changes)


def _typed_config(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(**{name: getattr(args, name) for name in SETTINGS})


def _summary(run_id: str, run_dir: str, outcome: Any, plan: BranchPlan | None) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "run_dir": run_dir,
        "state": outcome.state.value,
        "final_accuracy": outcome.final_accuracy,
        "best_accuracy": outcome.best_accuracy,
        "parent": plan.parent.id if plan else None,
        "parent_epoch": plan.from_epoch if plan else None,
    }
