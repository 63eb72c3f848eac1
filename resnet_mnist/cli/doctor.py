"""`python -m resnet_mnist doctor RUN [--json]`: the run doctor's diagnosis of an ended run (runs/doctor.py)."""

from __future__ import annotations

import argparse

from resnet_mnist.cli.common import add_runs_dir
from resnet_mnist.core.config import SETTINGS
from resnet_mnist.runs.branch import BranchError
from resnet_mnist.runs.doctor import Diagnosis, diagnose
from resnet_mnist.runs.schema import dumps_json
from resnet_mnist.runs.store import RunNotFoundError, RunStore, resolve_runs_dir

__all__ = ["add_doctor_parser", "remedy_command", "run_doctor_command"]


def add_doctor_parser(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="diagnose an ended run: healthy, diverged, stalled or overfitting, and the branch to try",
        description="Diagnose an ended run from its recorded losses and accuracy, and name a branch that remedies it.",
    )
    doctor.add_argument("run", metavar="RUN", help="a run id")
    doctor.add_argument(
        "--json", action="store_true", help="print one JSON object: diagnosis, evidence, remedy (or null)"
    )
    add_runs_dir(doctor)


def remedy_command(run_id: str, diagnosis: Diagnosis) -> str | None:
    """The train command that makes the remedy's branch, or None for a healthy run."""
    remedy = diagnosis.remedy
    if remedy is None:
        return None
    changes = " ".join(f"{SETTINGS[name].flag} {value:g}" for name, value in remedy.changes.items())
    return f"python -m resnet_mnist train --branch-from {run_id} --from-epoch {remedy.from_epoch} {changes}"


def run_doctor_command(args: argparse.Namespace) -> int:
    store = RunStore(resolve_runs_dir(args.runs_dir))
    try:
        run = store.get(args.run)
    except RunNotFoundError as exc:
        raise BranchError(f"unknown run: {exc}") from None
    except ValueError as exc:
        raise BranchError(str(exc)) from None
    diagnosis = diagnose(run, store.run_metrics(run.id))
    if diagnosis is None:
        why = "it is still being trained" if not run.state.is_final else "it ended before any epoch did"
        raise BranchError(f"run {run.id} cannot be diagnosed yet: {why}")
    if args.json:
        print(dumps_json({"run_id": run.id, **diagnosis.to_dict(), "command": remedy_command(run.id, diagnosis)}))
        return 0
    print(f"{run.id}: {diagnosis.diagnosis}. {diagnosis.evidence}")
    if diagnosis.remedy is not None:
        print(f"Remedy: {diagnosis.remedy.text}:\n  {remedy_command(run.id, diagnosis)}")
    return 0
