"""`python -m resnet_mnist importance SWEEP_ID`: which swept setting mattered, with an interval each.

The trials are the sweep's runs in the runs folder; the computation is sweeps/importance.py's (no Ray).
"""

from __future__ import annotations

import argparse
import sys

from resnet_mnist.cli.common import add_runs_dir
from resnet_mnist.runs.schema import dumps_json
from resnet_mnist.runs.store import RunStore, resolve_runs_dir
from resnet_mnist.sweeps.importance import importance_of, sweep_trials

__all__ = ["add_importance_parser"]


def add_importance_parser(commands: argparse._SubParsersAction) -> None:
    importance = commands.add_parser(
        "importance",
        help="which swept setting mattered most in a finished sweep",
        description="Each swept setting's importance (PED-ANOVA) over the sweep's trials, with a bootstrap "
        "95%% interval; too few trials say so instead of ranking.",
    )
    importance.add_argument("sweep", metavar="SWEEP_ID", help="the sweep's id (sweep --json prints it as `sweep`)")
    add_runs_dir(importance)
    importance.add_argument("--json", action="store_true", help="print one JSON object")
    importance.set_defaults(handler=run_importance_command)


def run_importance_command(args: argparse.Namespace) -> int:
    runs = RunStore(resolve_runs_dir(args.runs_dir)).runs()
    if not any(r.sweep == args.sweep for r in runs):
        print(f"error: no run of a sweep {args.sweep!r} among the readable runs", file=sys.stderr)
        return 1
    result = importance_of(sweep_trials(runs, args.sweep))
    if args.json:
        print(dumps_json({"sweep": args.sweep, **result.as_dict()}))
        return 0
    print(f"Sweep {args.sweep}: {result.trials} trials with a test accuracy; swept: {', '.join(result.swept) or '-'}")
    if result.reason:
        print(result.reason[:1].upper() + result.reason[1:] + ".")
        return 0
    for s in result.settings:
        interval = f"95% interval [{s.low:.2f}, {s.high:.2f}]"
        print(f"  {s.name:<12} {s.value:.2f}  {interval}  first in {s.first:.0%} of resamples")
    print(f"Method: {result.method}")
    return 0
