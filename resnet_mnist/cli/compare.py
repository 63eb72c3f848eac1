"""`python -m resnet_mnist compare A B`: is B's final accuracy different from A's beyond seed noise?

A and B are run ids or seed-group ids (`train --seeds`); the verdict is runs/significance.py's.
"""

from __future__ import annotations

import argparse
import sys

from resnet_mnist.cli.common import add_runs_dir
from resnet_mnist.runs.groups import Side, resolve_side
from resnet_mnist.runs.schema import dumps_json
from resnet_mnist.runs.significance import judge
from resnet_mnist.runs.store import RunNotFoundError, RunStore, resolve_runs_dir

__all__ = ["add_compare_parser"]


def add_compare_parser(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare",
        help="is the difference between two runs or seed groups beyond seed noise?",
        description="Compares the final test accuracies of A and B (run ids or seed-group ids) with "
        "Welch's t-test over their seeds; a side needs 2 seeds or more for a verdict.",
    )
    compare.add_argument("a", metavar="A", help="a run id or a seed-group id (g-…)")
    compare.add_argument("b", metavar="B", help="a run id or a seed-group id (g-…)")
    add_runs_dir(compare)
    compare.add_argument("--json", action="store_true", help="print one JSON object")
    compare.set_defaults(handler=run_compare_command)


def _describe(name: str, side: Side) -> str:
    finals = ", ".join(f"{100 * v:.2f}%" for v in side.final_accuracies) or "no test yet"
    label = side.label if side.label.startswith(side.key) else f"{side.label} [{side.key}]"
    return f"{name}: {label}: final accuracy {finals}"


def run_compare_command(args: argparse.Namespace) -> int:
    """The verdict on B against A: a line each for A and B and the verdict, or one JSON object."""
    runs = RunStore(resolve_runs_dir(args.runs_dir)).runs()
    try:
        a, b = resolve_side(args.a, runs), resolve_side(args.b, runs)
    except RunNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verdict = judge(a.final_accuracies, b.final_accuracies)
    if args.json:
        print(dumps_json({"a": a.key, "b": b.key, **verdict.as_dict()}))
    else:
        print(_describe("A", a))
        print(_describe("B", b))
        sentence = verdict.sentence()
        print(sentence[:1].upper() + sentence[1:])
        print(f"Method: {verdict.method}")
    return 0
